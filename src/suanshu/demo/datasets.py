"""Synthetic, deterministic datasets for the demo exchange's providers (all generated, nothing downloaded).

Every generator takes ``rows`` and ``seed`` and returns a ``pyarrow.Table``; the same seed always gives
the same table. Names, phones, ID numbers and card numbers are made up but pass the real format checks
(GB 11643 resident IDs, Luhn UnionPay cards, mobile number ranges), so masking/hiding components have
something realistic to act on.
"""

from __future__ import annotations

import calendar
import csv
import functools
import math
import random
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
from stdnum import luhn, numdb

SEED = 20261121
MOBILE_RE = re.compile(r"1(3\d|4[5-9]|5[0-35-9]|6[2567]|7[0-8]|8\d|9[0-35-9])\d{8}")
MOBILE_PREFIXES = [str(p) for p in range(130, 200) if MOBILE_RE.fullmatch(f"{p}00000000")]
OPERATOR_PREFIXES = ["134", "135", "136", "137", "138", "139", "147", "150", "151", "152", "157", "158",
                     "159", "172", "178", "182", "183", "184", "187", "188", "195", "197", "198"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩邓彭曾肖田袁蒋谭廖"
GIVEN = {"男": "伟强磊军勇杰涛明超刚平辉鹏华飞俊浩宇志建国文斌波林峰湘",
         "女": "芳娟敏静丽艳娜秀英玲霞燕红梅琳慧婷雪丹兰萍莉洁颖佳倩湘"}
# Hunan prefecture-level divisions (area-code prefix -> approximate centre lat, lon).
CITY_CENTRES = {"4301": (28.23, 112.94), "4302": (27.83, 113.13), "4303": (27.83, 112.94),
                "4304": (26.89, 112.57), "4305": (27.24, 111.47), "4306": (29.36, 113.13),
                "4307": (29.03, 111.70), "4308": (29.12, 110.48), "4309": (28.55, 112.36),
                "4310": (25.77, 113.01), "4311": (26.42, 111.61), "4312": (27.55, 110.00),
                "4313": (27.70, 112.00), "4331": (28.31, 109.74)}
# (station id, name, city prefix, temperature offset from the provincial mean in degC)
STATIONS = [("57687", "长沙", "4301", 0.4), ("57780", "株洲", "4302", 0.5), ("57773", "湘潭", "4303", 0.4),
            ("57872", "衡阳", "4304", 0.9), ("57584", "岳阳", "4306", 0.1), ("57662", "常德", "4307", -0.2),
            ("57674", "益阳", "4309", 0.0), ("57972", "郴州", "4310", 0.8), ("57866", "永州", "4311", 0.7),
            ("57749", "怀化", "4312", -0.9), ("57763", "娄底", "4313", 0.0), ("57766", "邵阳", "4305", -0.1),
            ("57558", "张家界", "4308", -0.6), ("57649", "吉首", "4331", -0.4)]
# crop -> (relative weight, typical yield kg/mu, spread, fertilizer kg/mu, sown area range mu)
CROPS = {"水稻": (5, 460, 45, 28, (5, 400)), "油菜": (3, 140, 18, 15, (5, 300)),
         "玉米": (2, 400, 40, 30, (3, 200)), "柑橘": (2, 1900, 350, 60, (2, 150)),
         "茶叶": (1, 85, 20, 35, (2, 120)), "烟叶": (1, 150, 15, 40, (5, 200))}
CROP_RANGES = {c: (mid - 3 * sd, mid + 3 * sd) for c, (_, mid, sd, _, _) in CROPS.items()}
LAND_USES = {"耕地": (35, 2200, (0, 15), "水稻土 水稻土 潮土 红壤 紫色土"),
             "林地": (38, 9000, (5, 40), "红壤 黄壤 黄棕壤 石灰土"),
             "园地": (8, 3500, (2, 25), "红壤 黄壤 紫色土"),
             "建设用地": (11, 1500, (0, 8), "红壤 潮土"),
             "水域": (5, 6000, (0, 2), "潮土 水稻土"),
             "草地": (3, 3000, (3, 30), "石灰土 黄棕壤")}
# (plan, monthly fee in fen, data allowance GB)
PLANS = [("4G飞享套餐38元", 3800, 10), ("5G畅享套餐59元", 5900, 30), ("5G畅享套餐99元", 9900, 60),
         ("5G畅享套餐129元", 12900, 80), ("5G智享套餐199元", 19900, 150), ("全家享融合套餐169元", 16900, 100),
         ("长辈关爱套餐18元", 1800, 5)]
UNIONPAY_BINS = ["622848", "622202", "621700", "623668", "622588", "621483", "622908", "621799"]
EMAIL_STEMS = ["xiaoming", "hunan", "xiangjiang", "furong", "yuelu", "sky", "happy", "lucky", "tiger", "panda"]
SNAPSHOT_YEAR = 2024  # telecom ages are as of 2024-12-31

ORGS = [
    {"name": "hunan-meteo", "display_name": "湖南省气象数据中心", "roles": ["provider"],
     "region": "湖南-长沙", "datasets": ["meteorology_hourly"]},
    {"name": "hunan-agri-data", "display_name": "湖南省农业大数据分平台", "roles": ["provider"],
     "region": "湖南-长沙", "datasets": ["crop_yield"]},
    {"name": "hunan-geo-institute", "display_name": "湖南省测绘地理信息研究院", "roles": ["provider"],
     "region": "湖南-长沙", "datasets": ["land_parcels"]},
    {"name": "xiangxin-telecom", "display_name": "湘信通信湖南分公司", "roles": ["provider"],
     "region": "湖南-长沙", "datasets": ["telecom_subscribers"]},
    {"name": "changsha-hpc", "display_name": "长沙超算中心", "roles": ["compute"], "region": "湖南-长沙",
     "pools": [{"name": "cpu-general", "kind": "hpc", "accelerator": None, "nodes": 128, "unit": "cpu_core",
                "units_per_node": 64, "memory_gb_per_node": 256, "price_fen_per_unit_hour": 8},
               {"name": "cpu-fat", "kind": "hpc", "accelerator": None, "nodes": 8, "unit": "cpu_core",
                "units_per_node": 96, "memory_gb_per_node": 2048, "price_fen_per_unit_hour": 15}]},
    {"name": "xiangjiang-ai", "display_name": "湘江智算中心", "roles": ["compute"], "region": "湖南-湘潭",
     "pools": [{"name": "ascend-910b", "kind": "ai", "accelerator": "Ascend 910B", "nodes": 32, "unit": "npu_card",
                "units_per_node": 8, "memory_gb_per_node": 1024, "price_fen_per_unit_hour": 1200}]},
    {"name": "xiangnong-insurance", "display_name": "湘农农业保险股份有限公司", "roles": ["buyer"],
     "region": "湖南-长沙"},
    {"name": "furong-retail-analytics", "display_name": "芙蓉物流零售数据分析有限公司", "roles": ["buyer"],
     "region": "湖南-株洲"},
]


_S, _I, _F = pa.string(), pa.int64(), pa.float64()
METEO_SCHEMA = pa.schema([("station_id", _S), ("station_name", _S), ("city", _S), ("observed_at", _S),
                          ("temperature_c", _F), ("precipitation_mm", _F), ("humidity_pct", _I),
                          ("wind_speed_ms", _F)])
CROP_SCHEMA = pa.schema([("city", _S), ("county", _S), ("township", _S), ("crop", _S), ("year", _I),
                         ("sown_area_mu", _F), ("yield_kg_per_mu", _F), ("fertilizer_kg", _F), ("cooperative", _S),
                         ("farmer_name", _S), ("farmer_phone", _S)])
PARCEL_SCHEMA = pa.schema([("parcel_id", _S), ("city", _S), ("county", _S), ("land_use", _S), ("area_m2", _F),
                           ("slope_deg", _F), ("centroid_lat", _F), ("centroid_lon", _F), ("soil_type", _S)])
TELECOM_SCHEMA = pa.schema([("subscriber_name", _S), ("resident_id", _S), ("mobile", _S), ("email", _S),
                            ("bank_card", _S), ("city", _S), ("district", _S), ("age", _I), ("gender", _S),
                            ("plan", _S), ("monthly_fee_fen", _I), ("data_usage_gb", _F), ("tenure_months", _I),
                            ("churned", _I)])


def _table(data: list[tuple], schema: pa.Schema) -> pa.Table:
    columns = list(zip(*data)) or [()] * len(schema)
    return pa.table([pa.array(col, f.type) for col, f in zip(columns, schema)], schema=schema)


@functools.lru_cache(maxsize=None)
def _hunan_areas() -> tuple[dict[str, str], list[tuple[str, list[tuple[int, int, str]]]]]:
    """Hunan cities and county-level codes with their dated names, from python-stdnum's cn/loc data."""
    db = numdb.get("cn/loc")

    def spans(code: str) -> list[tuple[int, int, str]]:
        field = {k: v for _, props in db.info(code) for k, v in props.items()}.get("county", "")
        out = []
        for part in filter(None, field.split(",")):
            start, end, name = 0, 9999, part
            if part.startswith("["):
                years, name = part[1:].split("]")
                start, end = (int(y) if y else d for y, d in zip(years.split("-"), (0, 9999)))
            out.append((start, end, name))
        return out

    cities = {p: _current(spans(p + "00")) for p in CITY_CENTRES}
    candidates = (f"{p}{i:02d}" for p in CITY_CENTRES for i in range(2, 100))  # xx01 is 市辖区
    return cities, [(c, s) for c in candidates if (s := spans(c))]


def _current(spans: list[tuple[int, int, str]]) -> str | None:
    return next((name for _, end, name in spans if end == 9999), None)


def _counties(suffixes: str = "县市区") -> list[tuple[str, str, str]]:
    """(code, city, county) for county-level divisions existing today."""
    cities, codes = _hunan_areas()
    return [(c, cities[c[:4]], name) for c, s in codes if (name := _current(s)) and name[-1] in suffixes]


@functools.lru_cache(maxsize=None)
def _birth_codes(year: int) -> list[str]:
    return [c for c, s in _hunan_areas()[1] if any(a <= year <= b for a, b, _ in s)]


def _name(rng: random.Random, gender: str) -> str:
    given = GIVEN[gender]
    return rng.choice(SURNAMES) + "".join(rng.choice(given) for _ in range(1 + (rng.random() < 0.7)))


def _mobile(rng: random.Random, prefixes: list[str] = MOBILE_PREFIXES) -> str:
    return rng.choice(prefixes) + f"{rng.randrange(10 ** 8):08d}"


def resident_id_check(first17: str) -> str:
    """GB 11643 / ISO 7064 MOD 11-2 check character."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights)) % 11]


def meteorology_hourly(rows: int = 3000, seed: int = SEED) -> pa.Table:
    """湖南省气象数据中心: hourly 2023 observations from 14 national stations (no personal data)."""
    rng = np.random.default_rng(seed)
    cities = _hunan_areas()[0]
    n = len(STATIONS)
    stride = max(1, 8760 // max(1, -(-rows // n)))
    i = np.arange(rows)
    st = i % n
    hour = ((i // n) * stride + rng.integers(0, stride, rows)) % 8760  # wraps past ~120k rows
    doy, hod = hour / 24.0, hour % 24
    rain_p = 0.10 + 0.18 * np.exp(-(((doy - 160) / 45) ** 2))  # wettest in the May-June plum rains
    raining = rng.random(rows) < rain_p
    diurnal = np.cos(2 * np.pi * (hod - 15) / 24)
    temp = (17.3 - 11.5 * np.cos(2 * np.pi * (doy - 20) / 365) + 3.5 * diurnal
            + np.array([s[3] for s in STATIONS])[st] - 1.5 * raining + rng.normal(0, 1.5, rows))
    times = np.datetime64("2023-01-01T00") + hour.astype("timedelta64[h]")
    return pa.table(schema=METEO_SCHEMA, data={
        "station_id": [STATIONS[k][0] for k in st],
        "station_name": [STATIONS[k][1] for k in st],
        "city": [cities[STATIONS[k][2]] for k in st],
        "observed_at": [t.replace("T", " ") + ":00" for t in np.datetime_as_string(times, unit="h")],
        "temperature_c": np.round(temp, 1),
        "precipitation_mm": np.round(np.where(raining, rng.gamma(0.8, 2.5, rows) + 0.1, 0.0), 1),
        "humidity_pct": np.clip(np.round(74 + 16 * raining - 12 * diurnal + rng.normal(0, 7, rows)), 20, 100
                                ).astype(np.int64),
        "wind_speed_ms": np.round(np.clip(rng.gamma(2.0, 1.1, rows), 0, 20), 1),
    })


def crop_yield(rows: int = 2000, seed: int = SEED) -> pa.Table:
    """农业大数据分平台: farm-level crop records 2019-2023, with farmer name/phone that must be masked."""
    rng = random.Random(seed)
    counties = _counties("县市")
    first, second = "金石花白青龙黄新长双大东西南北樟枫桃竹", "塘桥坪江口山湾田铺溪洲冲岭"
    towns = {c: sorted({rng.choice(first) + rng.choice(second) + rng.choice("镇镇乡") for _ in range(4)})
             for c, _, _ in counties}
    brands = ["兴农", "丰收", "绿源", "金穗", "湘农", "禾盛", "稻香", "富民", "惠农", "山水"]
    crops, weights = list(CROPS), [v[0] for v in CROPS.values()]
    data = []
    for _ in range(rows):
        code, city, county = rng.choice(counties)
        crop = rng.choices(crops, weights)[0]
        _, mid, sd, fert, (lo, hi) = CROPS[crop]
        area = round(math.exp(rng.uniform(math.log(lo), math.log(hi))), 1)
        lo_y, hi_y = CROP_RANGES[crop]
        row = (city, county, rng.choice(towns[code]), crop, rng.randint(2019, 2023), area,
               round(min(hi_y, max(lo_y, rng.gauss(mid, sd))), 1),
               round(area * fert * rng.uniform(0.8, 1.2), 1),
               f"{county}{rng.choice(brands)}{crop}种植农民专业合作社", _name(rng, rng.choice("男男女")),
               _mobile(rng))
        data.append(row)
    return _table(data, CROP_SCHEMA)


def land_parcels(rows: int = 2000, seed: int = SEED) -> pa.Table:
    """测绘地理信息研究院: land parcels with use, area, slope, coarse centroid and soil type."""
    rng = random.Random(seed)
    counties = _counties()
    uses, weights = list(LAND_USES), [v[0] for v in LAND_USES.values()]
    data = []
    for i in range(rows):
        code, city, county = rng.choice(counties)
        use = rng.choices(uses, weights)[0]
        _, median, (s_lo, s_hi), soils = LAND_USES[use]
        lat, lon = CITY_CENTRES[code[:4]]
        # 宗地代码: area code + cadastral district/sub-district + feature code + sequence
        feature = "GB" if use == "建设用地" else "JC"  # 国有建设用地使用权 / 集体土地所有权
        pid = f"{code}{rng.randint(1, 30):03d}{rng.randint(1, 40):03d}{feature}{i + 1:05d}"
        row = (pid, city, county, use, round(rng.lognormvariate(math.log(median), 0.6), 2),
               round(rng.uniform(s_lo, s_hi), 1),
               round(min(30.1, max(24.6, lat + rng.uniform(-0.35, 0.35))), 2),
               round(min(114.3, max(108.8, lon + rng.uniform(-0.35, 0.35))), 2), rng.choice(soils.split()))
        data.append(row)
    return _table(data, PARCEL_SCHEMA)


def telecom_subscribers(rows: int = 2000, seed: int = SEED) -> pa.Table:
    """运营商: SENSITIVE subscriber records (names, resident IDs, mobiles, bank cards) with usage and churn."""
    rng = random.Random(seed)
    residences = _counties()
    data = []
    for _ in range(rows):
        code, city, district = rng.choice(residences)
        year = min(2005, int(rng.triangular(1950, 2006, 1984)))
        month = rng.randint(1, 12)
        day = rng.randint(1, calendar.monthrange(year, month)[1])
        births = _birth_codes(year)
        local = [c for c in births if c[:4] == code[:4]]
        place = rng.choice(local if local and rng.random() < 0.7 else births)
        gender = rng.choice("男女")
        first17 = f"{place}{year}{month:02d}{day:02d}{rng.randrange(500) * 2 + (gender == '男'):03d}"
        age = SNAPSHOT_YEAR - year
        plan_w = [3, 1, 1, 1, 0, 1, 6] if age >= 60 else [1, 4, 4, 3, 1, 2, 0]
        plan, fee, cap = rng.choices(PLANS, plan_w)[0]
        usage = round(cap * rng.betavariate(2, 2) * 1.3, 2)
        fee += int(max(0.0, usage - cap) * 300) + rng.choice([0, 0, 0, 500, 1000])  # 3 元/GB overage, add-ons
        tenure = rng.randint(1, min(240, (age - 16) * 12))
        churned = int(rng.random() < 0.08 + 0.25 * (tenure < 12) + 0.10 * (usage > cap))
        email = None
        if rng.random() < 0.35:
            local_part = rng.choice([str(rng.randint(10 ** 7, 4 * 10 ** 9)), f"{rng.choice(EMAIL_STEMS)}{year}",
                                     f"{rng.choice(EMAIL_STEMS)}_{rng.randint(1, 999)}"])
            email = f"{local_part}@{rng.choice(['example.com', 'example.net', 'example.org'])}"
        body = rng.choice(UNIONPAY_BINS) + "".join(str(rng.randrange(10)) for _ in range(rng.choice([9, 12])))
        row = (_name(rng, gender), first17 + resident_id_check(first17), _mobile(rng, OPERATOR_PREFIXES), email,
               body + luhn.calc_check_digit(body), city, district, age, gender, plan, fee, usage, tenure, churned)
        data.append(row)
    return _table(data, TELECOM_SCHEMA)


DATASETS = {f.__name__: f for f in (meteorology_hourly, crop_yield, land_parcels, telecom_subscribers)}


def _rows(table: pa.Table):
    return zip(*(col.to_pylist() for col in table.columns))


def write_csv(table: pa.Table, path: str | Path, encoding: str = "utf-8") -> Path:
    """Write ``table`` as CSV with a header row; ``encoding="gbk"`` mimics Chinese government exports."""
    path = Path(path)
    with path.open("w", encoding=encoding, newline="") as f:
        writer = csv.writer(f)
        writer.writerow(table.column_names)
        writer.writerows(["" if v is None else v for v in row] for row in _rows(table))
    return path


def write_xlsx(table: pa.Table, path: str | Path, sheet: str = "data") -> Path:
    """Write ``table`` as a single-sheet .xlsx workbook with a header row."""
    from openpyxl import Workbook

    path = Path(path)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet)
    ws.append(table.column_names)
    for row in _rows(table):
        ws.append(list(row))
    wb.save(path)
    return path
