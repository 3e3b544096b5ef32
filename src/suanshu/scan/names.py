"""Chinese person names and street-level addresses in free text, offline.

Method (everything ships inside installed packages; nothing is downloaded at run time):

1. **Clean, keeping offsets.** Web-scrape pinyin annotations such as ``數(shù)`` are cut out;
   Traditional characters are mapped to Simplified one character for one (zhconv's
   single-character table), so every character of the cleaned text maps back to exactly one
   character of the cell.
2. **Names.** jieba's segmenter (its shipped dictionary, plus its HMM that joins unseen names
   into one word; run through rjieba, the compiled port with the same dictionary) cuts the text
   into words; a word is a name only if it starts with a known surname (the common single and
   compound surnames), is 2-4 characters, is not a dictionary word with a part of speech other
   than ``nr`` (person name) in jieba's dictionary, and is not followed by an organisation or
   place suffix (李宁公司, 张家港 are not people). A whole cell that is just a name (a 姓名
   column) is checked the same way without segmenting. Names with a middle dot between their
   parts (买买提·艾力) are found apart from the segmenter when the part before the first dot ends
   in a common given-name element of such names (``NAME_ELEMENTS``): the dot alone would take in
   transliterated brands and foreign places too (蒙牛·特仑苏, 圣·彼得堡).
3. **Addresses.** A regex over the cleaned text requires a street-level core: road/street +
   number (路/街/大道/巷/弄/胡同 … 号), a village group (村 … 组), or a compound + building
   (小区/花园 … 栋/号楼 … 室); administrative prefixes (省/市/区/县/镇) before it are included.
   A bare city or district name is never an address. Characters that never occur inside place
   names (在, 住, 于, 的 …) stop the match, so a sentence's words are not swallowed.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SURNAMES_COMPOUND = ("欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "慕容", "令狐", "司徒", "尉迟",
                     "公孙", "夏侯", "长孙", "宇文", "轩辕", "端木", "独孤", "南宫", "西门", "澹台")
# The ~300 most common single-character surnames (Ministry of Public Security name statistics).
SURNAMES = set(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
    "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武"
    "戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮"
    "柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古"
    "吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫"
    "寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝官封谈匡鞠惠荆乐冀郁胥南班储原栗燕楚鄢劳谌奚皮粟冼蔺楼盘满闻"
    "位厉伊仝区郜海阚花权强帅屠豆朴盖练廉禹井祖漆巴丰支卿国狄平计索宣晋相初门云容敬来扈晁芮都普阙浦"
    "戈伏鹿薄邸雍辜羊阿乌母裘亓修邰赫杭况那宿鲜印逯隆茹诸战慕危玉银亢嵇公哈湛宾戎勾茅利於呼居揭干但"
    "尉冶斯元束檀衣信展阴昝智幸奉植衡富尧闭由")
# A name is not followed by these: they make the word part of an organisation or a place.
_NOT_AFTER_NAME = ("公司", "集团", "银行", "大学", "学院", "医院", "中学", "小学", "酒店", "超市", "商场",
                   "广场", "大厦", "科技", "有限", "控股", "股份", "工作室", "路", "街", "镇", "村",
                   "县", "市", "区", "省", "港", "湾", "山", "河", "湖", "江", "桥", "站", "店", "厂",
                   "牌", "杯", "奖", "体", "式", "家族", "王朝", "时代", "号", "套餐", "系列", "会员",
                   "服务", "计划", "产品", "品牌", "卡", "版", "款", "型", "券")
# Common words the tagger sometimes calls names.
_NOT_NAMES = {"高兴", "周末", "黄金", "王国", "金融", "常见", "石油", "马上", "方便", "江河", "于是", "万一",
              "白色", "高速", "高中", "高新", "白天", "黄河", "长江", "文化", "安全", "龙头", "向上", "东方",
              "金牌", "司机", "毛泽东", "邓小平", "孙中山", "鲁迅", "高达", "程序", "明天", "明年", "平安",
              "华为", "史上", "温度", "康复", "严重", "乔丹", "包括", "关于", "和平", "海外", "曲线", "任务",
              "任何", "时间", "时候", "云南", "江苏", "黄山", "雷锋", "谷歌", "成都", "柳州", "常州", "钱塘",
              "万元", "余额", "党委", "马路", "宁波", "武汉", "宋体", "孔子", "高峰", "连续", "管理", "国家",
              # Well-known brands that read as a surname + given name (jieba tags several ``nr``).
              "王老吉", "周大福", "周黑鸭", "周生生", "周六福", "康师傅", "海底捞", "杜蕾斯", "马应龙", "金龙鱼",
              "方太", "史丹利", "柯达", "戴尔", "惠普", "谢瑞麟", "冷酸灵", "陈李济", "张小泉", "王致和", "金六福",
              "钱大妈", "江小白", "雷允上", "东方明珠"}

# Characters that do not occur in given names: units, places, commerce, particles (满减, 华南仓).
_NOT_GIVEN = set("仓减店区路街号省市县镇村们的了吗呢吧啊元块折价件个次斤吨米楼层室门站厂局所院部处科司集团款单票税货账费"
                 "满赠包邮券码期批箱袋盒台辆乡壤土社")

# The bracket first, the Han character before it as a lookbehind: the regex engine then jumps
# from bracket to bracket instead of testing the lookbehind at every character.
_PINYIN = re.compile(r"[(（](?<=[\u3400-\u9fff][(（])[a-zA-ZāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜüÜ\s,']{1,12}[)）]")
_HAN = re.compile(r"[\u3400-\u9fff]")
_HAN_WORD = re.compile(r"[\u3400-\u9fff]{2,4}")

_STOP = "在住于於到是的从往至址和与及为位了我他她们你您将把被向对由自前后去来请向经曾已均有无个"
_P = rf"[^\s\W{_STOP}0-9A-Za-z_]"  # a character that may be part of a place name: Han, not a stop
_NUM = r"[0-9一二三四五六七八九十百零〇两]+"
_ROAD = rf"(?:路|街|大道|大街|巷|弄|胡同|里)(?:{_NUM}(?:段|巷|弄|支弄|里))?[0-9]+(?:[-之][0-9]+)?号院?"
_VILLAGE = rf"村(?:{_NUM}(?:组|队|社))(?:[0-9]+号)?"
_COMPOUND = r"(?:小区|花园|公寓|大厦|家园|新村|苑|园|城|府|庭)[0-9A-Za-z]+(?:号楼|栋|幢|座)"
_DETAIL = rf"(?:(?:[0-9A-Za-z]+|{_NUM})(?:号楼|栋|幢|座|单元|层|楼|室|户|号))*"
# The whole address as one regex (administrative prefixes, a street-level core, the detail).
# It is the reference form — the benchmark hands it to Presidio — and too slow to run over every
# position of a column (its lazy prefixes backtrack), so ``find_addresses`` finds the core first.
_ADDRESS = re.compile(
    rf"(?:{_P}{{1,8}}?(?:省|自治区|特别行政区))?(?:{_P}{{1,8}}?(?:市|自治州|州|盟|地区))?"
    rf"(?:{_P}{{1,8}}?(?:区|县|旗|市))?(?:{_P}{{1,8}}?(?:镇|乡|街道))?"
    rf"(?:{_P}{{1,10}}?{_ROAD}|{_P}{{1,8}}?{_VILLAGE}|{_P}{{2,8}}?{_COMPOUND}){_DETAIL}")
# The first character of every core: ``find_addresses`` tries the core only where one stands.
CORE_FIRST = "路街大巷弄胡里村小花公家新苑园城府庭"
# What every core goes on with as its second or third character (路5号, 大道1号, 村三组, 小区A栋):
# a digit, a Chinese numeral or a Latin letter. ``find_addresses`` skips a first character that
# has none of them one or two characters on (大家, 公司, 城市: most of them in running text).
CORE_NEXT = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz一二三四五六七八九十百零〇两"
_CORE = re.compile(rf"(?:(?P<road>{_ROAD})|(?P<village>{_VILLAGE})|(?P<compound>{_COMPOUND}))")
_LEFT = re.compile(rf"{_P}+")  # matched on the reversed text before a core
_RIGHT = re.compile(_DETAIL)
MAX_PREFIX = 40  # characters of place name before the core: province + city + district + road


@lru_cache(maxsize=1)
def _t2s() -> dict[int, str]:
    """Traditional -> Simplified, single characters only (so lengths never change)."""
    from zhconv import zhconv

    zhconv.loaddict()
    return {ord(k): v for k, v in zhconv.zhcdicts["zh2Hans"].items() if len(k) == 1 and len(v) == 1}


@lru_cache(maxsize=1)
def _word_tags() -> dict[str, str]:
    """jieba's dictionary tags (its shipped dict.txt) for the 2-4 character words that start with a
    surname: the only words whose tag decides anything here (李宁 nr, 高兴 a, 黄山 ns)."""
    from importlib.util import find_spec
    from pathlib import Path

    tags = {}
    # Located, not imported: importing jieba itself would only cost time (rjieba segments).
    with (Path(find_spec("jieba").origin).parent / "dict.txt").open(encoding="utf-8") as f:
        for line in f:
            word, _, tag = line.rstrip("\n").split(" ")
            if 2 <= len(word) <= 4 and (word[0] in SURNAMES or word[:2] in SURNAMES_COMPOUND):
                tags[word] = tag
    return tags


def warm() -> None:
    """Load every dictionary and table now rather than on the first text (scan workers fork
    after this, see ``scan/pool.py``). No Arrow kernel runs: its thread pools stay unstarted."""
    find_names("據新華社報道，張偉(zhāng wěi)說李娜住在北京市朝陽區建國路88號。")
    find_addresses("上海市浦东新区世纪大道100号")
    _t2s_map()
    _char_tables()
    _compound_codes()
    _dictionary_sets()
    _function_table()
    _bmp_table(CORE_FIRST)
    _bmp_table(CORE_NEXT)
    _bmp_table(_GLUED_BEFORE)
    _word_keys(_NOT_AFTER_NAME)


def _known(word: str) -> bool:
    import rjieba

    return rjieba.has_word(word)


def _segment(text: str) -> list[str]:
    """jieba segmentation with its HMM for unknown words (so unseen names come out as one word),
    through rjieba: the same dictionary, compiled, about 30x faster than pure-Python jieba."""
    import rjieba

    return rjieba.cut(text, True)


def clean(text: str) -> tuple[str, list[int] | None]:
    """Simplified text without pinyin annotations, and the original index of each character
    (None when no annotation was removed: then indices are unchanged). The last result is kept:
    addresses and names are looked for in the same joined cells, one after the other."""
    last = _last_clean[0]  # one read of one slot: safe when threads scan at the same time
    if last is not None and last[0] == text:
        return last[1]
    result = _clean(text)
    _last_clean[0] = (text, result)
    return result


_last_clean: list = [None]


def _clean(text: str) -> tuple[str, list[int] | None]:
    simple = simplified(text)
    if "(" not in simple and "（" not in simple:
        return simple, None
    out, origin, last = [], [], 0
    # An annotation starts at a bracket right after a Han character (the pattern's lookbehind):
    # found with numpy, the pattern is tried there alone, as ``finditer`` would find them.
    cps = np.frombuffer(simple.encode("utf-32-le"), dtype=np.uint32)
    at = np.flatnonzero((cps[1:] == ord("(")) | (cps[1:] == ord("（"))) + 1
    at = at[(cps[at - 1] >= 0x3400) & (cps[at - 1] <= 0x9FFF)]
    for start in at.tolist():
        if start < last or not (m := _PINYIN.match(simple, start)):
            continue
        out.append(simple[last:m.start()])
        origin.extend(range(last, m.start()))
        last = m.end()
    if last == 0:
        return simple, None
    out.append(simple[last:])
    origin.extend(range(last, len(simple)))
    return "".join(out), origin


@lru_cache(maxsize=1)
def _surname_table() -> np.ndarray:
    """Booleans over the BMP: may this character start a surname (single or compound)?"""
    table = np.zeros(0x10000, dtype=bool)
    table[[ord(c) for c in SURNAMES] + [ord(c[0]) for c in SURNAMES_COMPOUND]] = True
    return table


def _surname_split(word: str) -> str | None:
    """The given name after a known surname, or None."""
    if word[:2] in SURNAMES_COMPOUND:
        return word[2:]
    return word[1:] if word[0] in SURNAMES else None


# Places python-stdnum's table lacks: it lists provinces and counties, not prefecture-level
# cities (张家界, 张家口, 金华 start with surnames), nor Taiwan, Hong Kong and Macao (高雄).
_EXTRA_PLACES = set("""
高雄 台北 台中 台南 新竹 嘉义 屏东 花莲 宜兰 基隆 桃园 苗栗 彰化 南投 云林 台东 澎湖 金门 马祖 香港 九龙 新界 澳门 氹仔
张家口 张家界 张掖 石家庄 石嘴山 吉林 吉安 金华 金昌 黄山 黄石 黄冈 黄南 白城 白山 白银 马鞍山 常州 常德 江门 温州 湛江
曲靖 宁波 宁德 安庆 安阳 安顺 安康 鞍山 包头 保定 宝鸡 毕节 滨州 沧州 昌都 长沙 长春 长治 郴州 成都 承德 池州 滁州 崇左
达州 大连 大同 丹东 德阳 德州 定西 东莞 东营 鄂州 恩施 防城港 佛山 福州 抚州 阜阳 阜新 赣州 固原 广安 广元 广州 贵港 贵阳
桂林 哈尔滨 海口 海东 邯郸 汉中 杭州 合肥 和田 河池 河源 菏泽 贺州 鹤壁 鹤岗 黑河 衡水 衡阳 呼和浩特 呼伦贝尔 湖州 葫芦岛
怀化 淮安 淮北 淮南 惠州 鸡西 济南 济宁 佳木斯 嘉兴 嘉峪关 焦作 揭阳 锦州 晋城 晋中 荆门 荆州 景德镇 九江 酒泉 开封
克拉玛依 昆明 拉萨 来宾 兰州 廊坊 乐山 丽江 丽水 连云港 凉山 聊城 辽阳 辽源 林芝 临沧 临汾 临沂 柳州 六安 六盘水 龙岩 陇南
娄底 泸州 吕梁 洛阳 漯河 茂名 眉山 梅州 绵阳 牡丹江 南昌 南充 南京 南宁 南平 南通 南阳 内江 攀枝花 盘锦 平顶山 平凉 萍乡
莆田 濮阳 普洱 七台河 齐齐哈尔 钦州 秦皇岛 青岛 清远 庆阳 衢州 泉州 日照 三门峡 三明 三亚 汕头 汕尾 商洛 商丘 上饶 韶关
邵阳 绍兴 深圳 沈阳 十堰 双鸭山 朔州 四平 松原 苏州 宿迁 宿州 随州 绥化 遂宁 台州 太原 泰安 泰州 唐山 天津 天水 铁岭
通化 通辽 铜川 铜陵 铜仁 吐鲁番 威海 潍坊 渭南 乌海 乌兰察布 乌鲁木齐 无锡 吴忠 芜湖 梧州 武汉 武威 西安 西宁 厦门 咸宁
咸阳 湘潭 襄阳 孝感 忻州 新乡 新余 信阳 邢台 徐州 许昌 宣城 雅安 烟台 延安 盐城 扬州 阳江 阳泉 伊春 宜宾 宜昌 宜春 益阳
银川 鹰潭 营口 永州 榆林 玉林 玉溪 岳阳 云浮 运城 枣庄 漳州 昭通 肇庆 镇江 郑州 中山 中卫 重庆 舟山 周口 珠海 株洲
驻马店 资阳 淄博 自贡 遵义 吉首 衡山 华山 泰山 庐山 武当 峨眉
""".split())


@lru_cache(maxsize=1)
def _places() -> frozenset[str]:
    """Place names from the GB/T 2260 table python-stdnum ships (石家庄市 -> 石家庄 too): jieba's
    dictionary tags some of them nr, and a place is not a person."""
    import importlib.resources

    names = set(_EXTRA_PLACES)
    with importlib.resources.files("stdnum").joinpath("cn/loc.dat").open(encoding="utf-8") as f:
        for line in f:
            for name in re.findall(r'="(?:\[[^\]]*\])?([^",\[]+)', line):
                names.add(name)
                stem = re.sub(r"(?:市|县|区|省|自治州|自治县|地区|盟|旗)$", "", name)
                if len(stem) >= 2:
                    names.add(stem)
    return frozenset(names)


@lru_cache(maxsize=1 << 16)  # bounded; a column repeats its names and a text its words
def is_name(word: str) -> bool:
    """2-4 Han characters, a known surname, a 1-2 character given name, and not a dictionary word
    with a part of speech other than a person name (jieba tags person names ``nr``), a place or
    a common word. Cheapest tests first: this runs once per candidate word."""
    given = _surname_split(word) if 2 <= len(word) <= 4 else None
    if not given or len(given) > 2 or not _HAN_WORD.fullmatch(word) or not _NOT_GIVEN.isdisjoint(given):
        return False
    rejected, org_heads, _suffixes = _dictionary_sets()
    # 华南仓: the surname and the next character already make a place or an organisation
    return word not in rejected and not (len(word) == 3 and word[:2] in org_heads)


@lru_cache(maxsize=1)
def _t2s_map() -> np.ndarray:
    from suanshu.scan.detectors.base import code_point_map

    return code_point_map(_t2s())


def simplified(text: str) -> str:
    """Traditional characters mapped to Simplified, one for one."""
    if text.isascii():
        return text
    from suanshu.scan.detectors.base import remap

    return remap(text, _t2s_map())


@lru_cache(maxsize=1)
def _char_tables() -> tuple[np.ndarray, np.ndarray]:
    """Booleans over the BMP: is a single-character surname; never occurs in a given name."""
    single, not_given = np.zeros(0x10000, dtype=bool), np.zeros(0x10000, dtype=bool)
    single[[ord(c) for c in SURNAMES]] = True
    not_given[[ord(c) for c in _NOT_GIVEN]] = True
    return single, not_given


@lru_cache(maxsize=1)
def _compound_codes() -> np.ndarray:
    """The compound surnames as (first code point << 21 | second)."""
    return np.array([ord(c[0]) << 21 | ord(c[1]) for c in SURNAMES_COMPOUND], dtype=np.uint64)


def name_cells(words: list[str]) -> np.ndarray:
    """``is_name_cell`` for many simplified, stripped cells at once: the character tests of
    ``is_name`` in numpy over a (cells, 4) code point matrix, then the dictionary tests only for
    the cells left (the name column of a large table is tens of thousands of cells)."""
    lens = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    out = (lens >= 2) & (lens <= 4)
    idx = np.flatnonzero(out)
    if not len(idx):
        return out
    n = lens[idx]
    # the (cells, 4) code point matrix, NUL after a word's end: gathered from one encoded string
    flat = np.frombuffer("".join([words[i] for i in idx.tolist()]).encode("utf-32-le"), dtype=np.uint32)
    at = (np.cumsum(n) - n)[:, None] + np.arange(4)
    inside = np.arange(4) < n[:, None]
    cps = np.where(inside, flat[np.minimum(at, len(flat) - 1)], 0)
    single, not_given = _char_tables()
    bmp = np.minimum(cps, 0xFFFF)
    compound = np.isin(cps[:, 0].astype(np.uint64) << 21 | cps[:, 1], _compound_codes())
    surname = np.where(compound, 2, 1)
    han = ((cps >= 0x3400) & (cps <= 0x9FFF)) | ~inside
    given = inside & (np.arange(4) >= surname[:, None])
    ok = han.all(1) & (compound | single[bmp[:, 0]]) & (n - surname >= 1) & (n - surname <= 2)
    ok &= ~(not_given[bmp] & given).any(1)
    keep = idx[ok]
    out[:] = False
    out[keep] = _dictionary_ok([words[i] for i in keep.tolist()])
    return out


def _dictionary_ok(words: list[str]) -> np.ndarray:
    """``is_name``'s dictionary tests and the organisation-suffix test for many words: one set
    lookup per word and one RE2 pass for the suffixes (``str.endswith`` with the tuple of
    suffixes tried each one in turn: 3x slower)."""
    rejected, org_heads, suffix = _dictionary_sets()
    bad = np.fromiter(map(rejected.__contains__, words), dtype=bool, count=len(words))
    three = [i for i, w in enumerate(words) if len(w) == 3]
    if three:
        bad[three] |= np.fromiter(map(org_heads.__contains__, [words[i][:2] for i in three]), dtype=bool,
                                  count=len(three))
    if len(words):
        bad |= pc.match_substring_regex(pa.array(words, pa.string()), suffix).to_numpy(zero_copy_only=False)
    return ~bad


@lru_cache(maxsize=1)
def _dictionary_sets() -> tuple[frozenset[str], frozenset[str], str]:
    """Words that are not names (tagged other than ``nr``, common words, places); two-character
    words tagged place or organisation (华南 in 华南仓); the suffixes no name is followed by (RE2)."""
    tags = _word_tags()
    rejected = frozenset({w for w, t in tags.items() if t != "nr"} | _NOT_NAMES | _places())
    # A compound surname is never such a head, whatever its tag: jieba tags 欧阳 ``ns`` (a place),
    # which would refuse every 欧阳 + one character (欧阳修).
    org_heads = frozenset(w for w, t in tags.items()
                          if len(w) == 2 and t in ("ns", "nt", "nz") and w not in SURNAMES_COMPOUND)
    return rejected, org_heads, "(?:" + "|".join(map(re.escape, _NOT_AFTER_NAME)) + ")$"


def is_name_cell(cell: str, simplified: bool = False) -> bool:
    """A cell that is nothing but a person's name (a 姓名 column); Traditional accepted."""
    word = cell.strip() if simplified else globals()["simplified"](cell.strip())
    return is_name(word) and not word.endswith(_NOT_AFTER_NAME)


# The HMM sometimes glues a following function word to an unknown name (林丽因, 张伟在): a 3-character
# word ending in one of these, that the dictionary does not know, is a 2-character name + the word.
# The verbs are those the HMM was seen to glue (张伟住|在, 张伟来|北京, 王建问|说); 明 and 才, which
# it glues too, are left out: they end too many given names (王建明, 王有才).
_GLUED = set("因在说和是的也都已将曾被向对于与等称表认指介向从把住来去到回要会今上下带用问告买写")


# Context that makes a split "surname | given name" a person: a title before it, or speech, a
# verb of reporting or punctuation after it (市民 孙|嫣然 向本报…, ，姜|华洋 已于…).
_TITLES = {"市民", "村民", "居民", "董事长", "总经理", "经理", "代表", "嫌疑人", "记者", "教授", "院士", "主任",
           "局长", "市长", "县长", "书记", "患者", "学生", "老师", "医生", "同学", "网友", "员工", "家属",
           "总裁", "副总裁", "联系人", "经办人", "负责人", "申请人", "收件人", "和", "与", "及", "的", "：", ":", "，", "\x00"}  # NUL: a cell's start
_AFTER = {"说", "表示", "介绍", "指出", "称", "认为", "透露", "强调", "已", "已于", "因", "向", "和", "与", "等",
          "共同", "同志", "先生", "女士", "教授", "博士", "医生", "老师", "在", "于", "曾", "也", "是"}
# Single characters that are far more often words than surnames when they stand alone.
_FUNCTION = set("和于向从将把被对由在与及同为以时都来也就还又但而且上下中前后会能可要是有无不之其此那这每各该本原初")


def _split_name(words: list[str], i: int) -> str | None:
    """``words[i]`` + ``words[i + 1]`` when the segmenter split one name in two (孙|嫣然, 高志|雨)
    and the context on either side says person; else None. The caller (``find_names``, its
    ``can_join``) has checked the words themselves: both Han, 2-3 characters together, ``w`` not a
    function word alone, a single character after a two-character ``w`` (or 1-2 after a compound
    surname)."""
    w, nxt = words[i], words[i + 1]
    if len(nxt) == 1 and nxt in _GLUED:
        return None  # 李明|到: a verb or function word after a name, not its last character
    # A known word (高速) is not half a name, but a compound surname is (欧阳|娜娜), and so is a
    # known name before its repeated last character (李娜|娜). (Asked here, not cached: another
    # part of the program may teach the segmenter words.)
    if len(w) == 2 and w not in SURNAMES_COMPOUND and (len(nxt) != 1 or _known(w) and not _doubled(w, nxt)):
        return None
    before = words[i - 1] if i else "，"
    after = words[i + 2] if i + 2 < len(words) else "。"
    return _joined_in_context(before, w, nxt, after)


@lru_cache(maxsize=1 << 16)  # bounded; table text repeats the same few contexts (物流|单|号)
def _joined_in_context(before: str, w: str, nxt: str, after: str) -> str | None:
    """``_split_name``'s context rules, for the words around the split."""
    if w in SURNAMES_COMPOUND:
        # 东方|卫视, 上官|网 are words too: a compound surname joins only after a title or a label's
        # colon (患者, 联系人：; the run 联系人 itself has no surname character, so ``_han_only``
        # left it out) or before speech (说, 表示), never on a cell's edge alone; 东方 not at all.
        context = w not in _NOT_NAMES and (len(before) > 1 and before in _TITLES or before in "：:"
                                           or after in _AFTER)
    else:
        context = before in _TITLES or after in _AFTER or not _HAN.match(after[0])
    return w + nxt if context and is_name(w + nxt) else None


def _doubled(w: str, nxt: str) -> bool:
    """李娜|娜: the segmenter cuts a known name before a repeated last character (李娜娜, 王婷婷)."""
    return nxt == w[-1] and _word_tags().get(w) == "nr"


@lru_cache(maxsize=1)
def _function_table() -> np.ndarray:
    table = np.zeros(0x10000, dtype=bool)
    table[[ord(c) for c in _FUNCTION]] = True
    return table


def _han_only(cps: np.ndarray) -> tuple[str, np.ndarray]:
    """The text (its code points) with every run of non-Han characters shortened to its last character (kept when
    it is "，", "：" or ":", context for names, or the NUL that ends a cell; any other becomes \\x01),
    and the index in the text of each character kept. The segmenter then reads 3x less:
    identifiers, numbers and Latin text are most of a table's free text, and no name is made
    of them.

    A run of Han characters with no surname character before its last one cannot hold a name
    (a name starts with a surname and has a given name after it, and the segmenter never joins
    characters across a non-Han one), so its characters are left out too: the segmenter cuts
    each Han run on its own, so the runs kept are cut exactly as before, and the context a name
    looks at (the words beside it in its run, the separator at either end) stays the same. In
    table text that is half of the Han characters (据核实, 身份证号, 统一社会信用代码 …)."""
    han = (cps >= 0x3400) & (cps <= 0x9FFF)
    keep = han | np.append(han[1:], True)  # Han, or the last character before Han or the end
    where = np.flatnonzero(keep)
    out, han = cps[where], han[where]
    if han.any():  # (on the shortened text: a Han run is the same run there)
        run = np.cumsum(han & ~np.append(False, han[:-1]), dtype=np.int32) - 1  # each Han character's run
        starter = _surname_table()[np.where(han, out, 0)] & np.append(han[1:], False)
        named = np.zeros(int(run[-1]) + 1, dtype=bool)
        named[run[starter]] = True
        kept = ~han | named[run]
        where, out, han = where[kept], out[kept], han[kept]
    out = out.copy()
    other = ~han & (out != ord("，")) & (out != ord("：")) & (out != ord(":")) & (out != 0)
    out[other] = 1
    return str(memoryview(out), "utf-32-le"), where


@lru_cache(maxsize=1 << 16)
def _word_verdict(word: str) -> int:
    """For a word (or one joined with the next), unless a split compound-surname name: how many
    characters to cut off its end to get the name (0, or 1 for a glued function word: 林丽因,
    熊建佑因), or -1 when it is no name. Cached: table text repeats its words (信用, 车牌, 时间)."""
    if len(word) < 2 or not (word[0] in SURNAMES or word[:2] in SURNAMES_COMPOUND):
        return -1
    cut = 0
    if len(word) in (3, 4) and word[-1] in _GLUED and word not in _word_tags() and word[:2] not in SURNAMES_COMPOUND:
        word, cut = word[:-1], 1
    return cut if is_name(word) else -1


def _compound_grown(words: list[str], i: int, w: str) -> str:
    """欧阳明 + 辉因: the HMM split a compound-surname name before its last character; the name
    with that character back on, or "" when ``w`` is not such a split."""
    if len(w) == 3 and w[:2] in SURNAMES_COMPOUND and i + 1 < len(words):
        nxt = words[i + 1]
        if len(nxt) == 2 and _HAN.match(nxt[0]) and nxt[1] in _GLUED and not _known(nxt):
            return w + nxt[0]
    return ""


def find_names(text: str) -> list[tuple[int, int]]:
    """Person names in free text, as (start, end) in the original text."""
    cleaned, origin = clean(text)
    cps = _code_points(cleaned)
    han, where = _han_only(cps)
    words = _segment(han)
    if not words:
        return []
    starts, ends = _name_spans(words, han)
    starts, ends = where[starts], where[ends - 1] + 1  # a name is Han only: contiguous
    alone = ~_followed_by(cps, ends, _NOT_AFTER_NAME) & ~_bmp_table(_GLUED_BEFORE)[_before(cps, starts)]
    spans = list(zip(starts[alone].tolist(), ends[alone].tolist(), strict=True))
    if any(dot in cleaned for dot in NAME_DOTS):
        spans = _with_dotted(spans, dotted_names(cleaned))
    return spans if origin is None else [_back(s, e, origin) for s, e in spans]


# Names written with a middle dot between their parts (Uyghur, Kazakh, Hui and Mongolian names in
# Chinese characters: 买买提·艾力, 阿依古丽·吐尔逊). Transliterated foreign names and brands use the
# dot too (迈克尔·乔丹, 蒙牛·特仑苏), so the part before the first dot must end in a common given-name
# element of those names; jieba alone saw only a surname-like tail (艾力 of 买买提·艾力).
NAME_DOTS = "·•・‧"
NAME_ELEMENTS = (
    "买买提", "麦麦提", "艾买提", "艾合买提", "艾力", "阿力", "阿里木", "阿布都", "阿不都", "阿卜杜", "阿卜力孜",
    "阿迪力", "热合曼", "热依拉", "热依汗", "热娜", "古丽", "阿依", "努尔", "吐尔逊", "吐逊", "依明", "伊明",
    "玉素甫", "玉苏甫", "尤努斯", "司马义", "斯马伊", "穆罕默德", "穆萨", "木沙", "艾山", "艾尔肯", "艾克拜尔",
    "迪丽", "热巴", "帕提", "帕丽", "帕尔哈提", "排尔哈提", "克里木", "卡德尔", "卡米力", "达吾提", "吾买尔",
    "吾斯曼", "奥斯曼", "亚森", "牙生", "亚生", "哈力克", "哈斯木", "再努尔", "祖丽", "米娜", "米热", "沙吾提",
    "肉孜", "依力哈木", "伊力哈木", "加依娜", "别克", "叶尔兰", "叶尔江", "努尔兰", "阿斯哈尔", "加娜尔", "巴特尔",
    "巴图", "额尔敦", "其其格", "乌兰", "那仁", "格日勒", "宝音", "苏和", "朝鲁", "阿不力克木", "吐尔洪", "阿曼",
    "玛依拉", "阿娜尔", "阿尔曼", "布合力其", "古再丽")
_ELEMENTS = "(?:" + "|".join(sorted(NAME_ELEMENTS, key=len, reverse=True)) + ")"
_HEAD = re.compile(rf"{_ELEMENTS}+$")  # the first part: given-name elements up to the dot
_PART = re.compile(rf"{_ELEMENTS}+|[\u3400-\u9fff]{{2,6}}")  # a later part
_HAN_RUN = re.compile(r"[\u3400-\u9fff]+")
_DOT = re.compile(f"[{NAME_DOTS}]")


def dotted_names(text: str) -> list[tuple[int, int]]:
    """(start, end) of the dotted names in simplified text: a first part of known elements, a dot,
    and one or two more parts (elements, else 2-6 Han characters up to a glued word)."""
    found, end = [], 0
    for dot in _DOT.finditer(text):
        i = dot.start()
        if i < end or i == 0 or not "\u3400" <= text[i - 1] <= "\u9fff":
            continue
        run_start = i
        while run_start > 0 and "\u3400" <= text[run_start - 1] <= "\u9fff":
            run_start -= 1
        head = _HEAD.search(text, run_start, i)
        if head is None:
            continue
        end = i
        for _ in range(2):  # at most three parts
            if end >= len(text) or text[end] not in NAME_DOTS:
                break
            part = _later_part(text, end + 1)
            if not part:
                break
            end = part
        if end > i:
            found.append((head.start(), end))
    return found


def _later_part(text: str, at: int) -> int:
    """The end of a later part starting at ``at`` (0 if none): its elements, or its Han run up to
    a glued word (买买提·艾山江在 -> 艾山江)."""
    run = _HAN_RUN.match(text, at)
    if run is None:
        return 0
    part = _PART.match(text, at, run.end())
    end = part.end() if part else 0
    if part and part.group()[0] not in NAME_ELEMENTS:  # plain Han: stop before a glued word
        cut = next((k for k in range(at + 2, end) if text[k] in _GLUED), end)
        end = cut if cut - at >= 2 else 0
    return end


def _with_dotted(spans: list[tuple[int, int]], dotted: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The segmenter's names with the dotted names in place of the pieces they cover, in order."""
    if not dotted:
        return spans
    kept = [(s, e) for s, e in spans if not any(s < de and ds < e for ds, de in dotted)]
    return sorted(kept + dotted)


def _code_points(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


# A name does not come right after these: 5G智享 (glued to a model or product code, not a person),
# 龙山县金穗…合作社 (right after a place, a word is part of an organisation's name).
_GLUED_BEFORE = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz省市县区乡镇村"


def _before(cps: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The BMP code point before each start (NUL at the text's start; 0xFFFF past the BMP)."""
    prev = np.where(starts > 0, cps[np.maximum(starts - 1, 0)], 0)
    return np.minimum(prev, 0xFFFF)


def _followed_by(cps: np.ndarray, at: np.ndarray, words: tuple[str, ...]) -> np.ndarray:
    """Mask over positions: the text there starts with one of ``words`` (``str.startswith``
    with the tuple, for all positions at once: each word as one integer of its code points)."""
    out = np.zeros(len(at), dtype=bool)
    for n, keys in _word_keys(words).items():
        key, inside = np.zeros(len(at), dtype=np.int64), at + n <= len(cps)
        for k in range(n):
            key = key << 21 | cps[np.minimum(at + k, len(cps) - 1)]
        out |= inside & np.isin(key, keys)
    return out


@lru_cache(maxsize=2)
def _word_keys(words: tuple[str, ...]) -> dict[int, np.ndarray]:
    """The words by length, each as its code points 21 bits apart (three fit in an int64)."""
    by_length: dict[int, list[int]] = {}
    for word in words:
        assert len(word) <= 3, word
        key = 0
        for c in word:
            key = key << 21 | ord(c)
        by_length.setdefault(len(word), []).append(key)
    return {n: np.array(keys, dtype=np.int64) for n, keys in by_length.items()}


def _name_spans(words: list[str], han: str) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) in ``han`` (the segmented text) of the names its words make, in order."""
    # Only words of 2-4 characters that start with a surname character can be names: pick them
    # with numpy (code point at each word start -> surname table) rather than a loop over words.
    lens = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    ends = np.cumsum(lens)
    starts = ends - lens
    cps = _code_points(han)
    points = cps[starts]
    maybe = (lens >= 1) & (lens <= 4) & _surname_table()[np.minimum(points, 0xFFFF)] & (points <= 0xFFFF)
    # What ``_split_name`` needs before it looks at words (every word here is Han only or one other
    # character): a Han next word making 2-3 characters together, no function word alone, and a
    # single character after a two-character word. A one-character word that cannot be joined
    # is no name, so only the others go on.
    is_han = (points >= 0x3400) & (points <= 0x9FFF)
    nxt_len, nxt_han = np.append(lens[1:], 0), np.append(is_han[1:], False)
    function = (lens == 1) & _function_table()[np.minimum(points, 0xFFFF)]
    can_join = nxt_han & (lens + nxt_len >= 2) & (lens + nxt_len <= 3) & ~function & ((lens != 2) | (nxt_len == 1))
    maybe &= (lens >= 2) | can_join
    # A word that may join the next (孙|嫣然) or starts with a compound surname (欧阳明|辉因) goes
    # through ``_joined_name``; any other word alone decides, by its cached verdict.
    pair = cps[np.minimum(starts + 1, len(cps) - 1)].astype(np.uint64)
    compound = (lens >= 2) & np.isin(points.astype(np.uint64) << 21 | pair, _compound_codes())
    joins = maybe & (can_join & (lens <= 2) | compound)
    alone = np.flatnonzero(maybe & ~joins)
    cut = np.fromiter(map(_word_verdict, [words[i] for i in alone.tolist()]), dtype=np.int64, count=len(alone))
    named = cut >= 0
    joined = np.flatnonzero(joins)
    joined_ends = np.array([_joined_name(words, i, start, end, nl, nh, cj) for i, start, end, nl, nh, cj in zip(
        joined.tolist(), starts[joined].tolist(), ends[joined].tolist(), nxt_len[joined].tolist(),
        nxt_han[joined].tolist(), can_join[joined].tolist(), strict=True)], dtype=np.int64)
    which = np.concatenate([alone[named], joined[joined_ends >= 0]])
    name_ends = np.concatenate([ends[alone][named] - cut[named], joined_ends[joined_ends >= 0]])
    order = np.argsort(which, kind="stable")  # back in the words' order
    return starts[which][order], name_ends[order]


def _joined_name(words: list[str], i: int, start: int, end: int, nxt_len: int, nxt_han: bool, can_join: bool) -> int:
    """Where the name that word ``i`` (at ``start``-``end`` in the segmented text) starts ends,
    joined with the next word (``_split_name``) or grown by a character (``_compound_grown``)
    or alone; -1 for no name."""
    w = words[i]
    if can_join and len(w) <= 2 or w in SURNAMES_COMPOUND and 1 <= nxt_len <= 2 and nxt_han:
        merged = _split_name(words, i)
        if merged:
            w, end = merged, start + len(merged)
    if grown := _compound_grown(words, i, w):
        return end + 1 if is_name(grown) else -1
    cut = _word_verdict(w)
    return end - cut if cut >= 0 else -1


@lru_cache(maxsize=4)
def _bmp_table(chars: str) -> np.ndarray:
    """Booleans over the BMP: is this character one of ``chars``?"""
    table = np.zeros(0x10000, dtype=bool)
    table[[ord(c) for c in chars]] = True
    return table


def core_starts(cps: np.ndarray) -> np.ndarray:
    """Positions in the code points ``cps`` where an address core may start: a ``CORE_FIRST``
    character with a ``CORE_NEXT`` one one or two characters on (a necessary condition)."""
    bmp = np.minimum(cps, 0xFFFF)
    after = _bmp_table(CORE_NEXT)[bmp]
    follows = np.zeros(len(cps), dtype=bool)
    follows[:-1] = after[1:]
    follows[:-2] |= after[2:]
    return np.flatnonzero(_bmp_table(CORE_FIRST)[bmp] & follows)


def find_addresses(text: str) -> list[tuple[int, int]]:
    """Street-level addresses in free text, as (start, end) in the original text.

    Core first (路…号, 村…组, 小区…栋: literal suffixes the regex engine finds fast), then the run
    of place-name characters before it (stopping at 在/住/于… and punctuation) and the building /
    unit / room detail after it."""
    cleaned, origin = clean(text)
    spans, pos = [], 0
    # The regex is tried only where a core may start (``core_starts``, found with numpy), as
    # ``_CORE.search`` would find it, without a try at every other character of the text.
    cps = np.frombuffer(cleaned.encode("utf-32-le"), dtype=np.uint32)
    for start in core_starts(cps).tolist():
        if start < pos or not (m := _CORE.match(cleaned, start)):
            continue
        # the run of place-name characters right before the core, read backwards
        left = _LEFT.match(cleaned[max(pos, start - MAX_PREFIX):start][::-1])
        need = 2 if m.lastgroup == "compound" else 1  # a name before the core: 建国|路, 碧桂|园
        if left is None or left.end() < need:
            continue
        end = _RIGHT.match(cleaned, m.end()).end()
        spans.append(_back(start - left.end(), end, origin))
        pos = end
    return spans


def _back(start: int, end: int, origin: list[int] | None) -> tuple[int, int]:
    return (start, end) if origin is None else (origin[start], origin[end - 1] + 1)
