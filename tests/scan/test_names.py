"""Person names and addresses in free Chinese text: Simplified, Traditional, web-scrape noise,
and the words and places that must not be names. Quality floors on the seeded news corpus."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures.scan_corpus import news
from hypothesis import given, settings
from hypothesis import strategies as st

from suanshu.scan import names
from suanshu.scan.detectors import TEXT_DETECTORS, detect


def found(text: str) -> list[tuple[str, str]]:
    return [(m.type, text[m.start:m.end]) for m in detect(text, TEXT_DETECTORS)]


@pytest.mark.parametrize(("text", "expected"), [
    ("据新华社报道，张伟昨日会见了李娜。", [("PERSON_NAME", "张伟"), ("PERSON_NAME", "李娜")]),
    ("據新華社報道，張偉昨日會見了李娜。", [("PERSON_NAME", "張偉"), ("PERSON_NAME", "李娜")]),
    ("数(shù)据显示王小明(wáng xiǎo míng)说", [("PERSON_NAME", "王小明")]),
    ("董事长欧阳明辉因个人原因辞职", [("PERSON_NAME", "欧阳明辉")]),
    ("市民孙嫣然向本报反映", [("PERSON_NAME", "孙嫣然")]),  # the segmenter splits 孙|嫣然
    ("记者获悉，姜华洋已于上月调任", [("PERSON_NAME", "姜华洋")]),
    ("董事長熊建佑因個人原因辭職", [("PERSON_NAME", "熊建佑")]),
])
def test_names_in_sentences(text, expected):
    assert found(text) == expected


@pytest.mark.parametrize("text", [
    "今天很高兴见到大家", "黄金价格上涨", "周末去黄山旅游", "阿里巴巴集团发布财报", "石家庄天气晴朗",
    "高雄港货运量增加", "李宁公司发布新品", "万科集团公告", "北京", "常州", "5G智享套餐199元", "订购智享套餐",
    "石田乡", "黄棕壤", "龙山县金穗水稻种植农民专业合作社",
])
def test_words_places_and_companies_are_not_names(text):
    assert [t for t, _ in found(text) if t == "PERSON_NAME"] == []


@pytest.mark.parametrize(("text", "piece"), [
    ("家住北京市朝阳区建国路88号院3号楼2单元501室的张先生", "北京市朝阳区建国路88号院3号楼2单元501室"),
    ("他住在上海市浦东新区碧桂园23栋2410室", "上海市浦东新区碧桂园23栋2410室"),
    ("河南省信阳市光山县槐店乡王庄村3组", "河南省信阳市光山县槐店乡王庄村3组"),
    ("臺北市信義路五段7號", "臺北市信義路五段7號"),
])
def test_street_level_addresses(text, piece):
    assert ("ADDRESS", piece) in found(text)


@pytest.mark.parametrize("text", ["北京市朝阳区", "我在上海", "走在建国路上", "广东省深圳市南山区"])
def test_bare_places_are_not_addresses(text):
    assert [t for t, _ in found(text) if t == "ADDRESS"] == []


# Text made of what address cores are made of, and of what stands beside them.
_ADDRESS_PIECES = st.lists(st.sampled_from([
    *names.CORE_FIRST, "道", "同", "区", "园", "寓", "厦", "村", "号", "组", "栋", "座", "楼", "段", "支", "队",
    "5", "12", "A", "b", "三", "十", "两", "〇", "-", "之", " ", "，", "建", "国", "市", "在",
]), max_size=30).map("".join)


@settings(max_examples=300, deadline=None)
@given(_ADDRESS_PIECES)
def test_every_address_core_starts_where_the_prefilter_looks(text):
    """``core_starts`` is a necessary condition: it keeps every position where a core matches."""
    cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    cores = [i for i in range(len(text)) if names._CORE.match(text, i)]
    assert set(cores) <= set(names.core_starts(cps).tolist())


def test_whole_cell_names():
    assert names.is_name_cell(" 张伟 ") and names.is_name_cell("诸葛明")
    assert names.is_name_cell("陳小紅")  # Traditional
    assert not names.is_name_cell("黄金") and not names.is_name_cell("北京市")


def test_cleaning_keeps_offsets():
    text = "數(shù)據(jù)顯示張偉"
    cleaned, origin = names.clean(text)
    assert cleaned == "数据显示张伟"
    assert [text[i] for i in origin] == list("數據顯示張偉")


def score(corpus):
    tp = fp = fn = 0
    for text, gold in corpus:
        pred = [(m.start, m.end) for m in detect(text, TEXT_DETECTORS) if m.type == "PERSON_NAME"]
        want = [(s, e) for s, e, t in gold if t == "PERSON_NAME"]
        hit = {p for p in pred if any(p[0] < e and s < p[1] for s, e in want)}
        tp += len(hit)
        fp += len(pred) - len(hit)
        fn += sum(1 for s, e in want if not any(p[0] < e and s < p[1] for p in pred))
    return tp / max(1, tp + fp), tp / max(1, tp + fn)


def test_name_quality_on_the_news_corpus():
    precision, recall = score(news(400, seed=5))
    assert precision >= 0.9 and recall >= 0.9, (precision, recall)


@pytest.mark.parametrize(("text", "name"), [
    ("患者欧阳修入院", "欧阳修"), ("患者欧阳锋入院", "欧阳锋"),  # 欧阳 is tagged a place (ns) by jieba
    ("经办人欧阳娜娜", "欧阳娜娜"), ("欧阳娜娜说", "欧阳娜娜"), ("联系人：欧阳娜娜", "欧阳娜娜"),  # split 欧阳|娜娜
    ("张伟住在北京市朝阳区建国路88号", "张伟"), ("张伟来北京", "张伟"), ("李明到北京", "李明"),  # no verb glued on
    ("數(shù)據(jù)張(zhāng)偉住臺北市信義路五段7號", "張(zhāng)偉"),
    ("联系人：李娜娜", "李娜娜"),  # the segmenter cuts 李娜|娜
])
def test_name_spans_are_whole_names(text, name):
    assert [piece for t, piece in found(text) if t == "PERSON_NAME"] == [name]


@pytest.mark.parametrize("text", ["由王老吉负责", "王老吉凉茶", "周大福珠宝"])
def test_brands_are_not_names(text):
    assert [t for t, _ in found(text) if t == "PERSON_NAME"] == []


def test_compound_surname_name_cells():
    assert all(names.is_name_cell(w) for w in ("欧阳修", "欧阳锋", "欧阳震华", "欧阳娜娜"))
    # a compound surname that is also a word joins only with a person's context around it
    for text in ("今晚东方卫视播出", "请登录上官网查询", "东方财富表示"):
        assert [t for t, _ in found(text) if t == "PERSON_NAME"] == [], text


@pytest.mark.parametrize(("text", "expected"), [
    ("联系人：买买提·艾力，电话见后", ["买买提·艾力"]),
    ("阿依古丽·吐尔逊说她已到达", ["阿依古丽·吐尔逊"]),
    ("患者热依拉•买买提在家休养", ["热依拉•买买提"]),
    ("艾克拜尔·吾拉木在乌鲁木齐", ["艾克拜尔·吾拉木"]),  # a later part not in the list: up to the glued word
    ("玛依拉·艾力·买买提和张伟来了", ["玛依拉·艾力·买买提", "张伟"]),
    ("據報道，阿依古麗·吐爾遜表示", ["阿依古麗·吐爾遜"]),  # Traditional characters
])
def test_names_with_a_middle_dot(text, expected):
    assert [text[s:e] for s, e in names.find_names(text)] == expected
    assert [text[m.start:m.end] for m in detect(text) if m.type == "PERSON_NAME"] == expected


@pytest.mark.parametrize("text", ["迈克尔·乔丹的球鞋", "蒙牛·特仑苏纯牛奶", "京A·12345", "圣·彼得堡", "买买提·A"])
def test_dotted_words_that_are_not_such_names(text):
    assert not [s for s, e in names.dotted_names(names.simplified(text))]
