"""The demo datasets are deterministic, realistic and pass the real format checks."""

from __future__ import annotations

import csv
import re
from datetime import date

import pyarrow as pa
import pytest
from hypothesis import given, settings, strategies as st
from openpyxl import load_workbook
from stdnum import luhn
from stdnum.cn import ric

from suanshu.demo import datasets as ds

GENERATORS = list(ds.DATASETS.values())
MOBILE = re.compile(r"1(3\d|4[5-9]|5[0-35-9]|6[2567]|7[0-8]|8\d|9[0-35-9])\d{8}")


@pytest.fixture(scope="module")
def tables() -> dict[str, pa.Table]:
    return {name: fn() for name, fn in ds.DATASETS.items()}


def as_strings(table: pa.Table) -> list[list[str]]:
    return [["" if v is None else str(v) for v in row] for row in zip(*(c.to_pylist() for c in table.columns))]


@pytest.mark.parametrize("fn", GENERATORS, ids=lambda f: f.__name__)
def test_same_seed_same_table_other_seed_differs(fn):
    assert fn(rows=300).equals(fn(rows=300))
    assert fn(rows=300, seed=7).equals(fn(rows=300, seed=7))
    assert not fn(rows=300).equals(fn(rows=300, seed=7))


@pytest.mark.parametrize("fn", GENERATORS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("rows", [0, 1, 57, 1000])
def test_row_counts(fn, rows):
    table = fn(rows=rows)
    assert table.num_rows == rows
    assert fn.__doc__ and "\n" not in fn.__doc__.strip()


def test_defaults_are_a_few_thousand_rows(tables):
    assert all(1000 <= t.num_rows <= 5000 for t in tables.values())


def test_telecom_identifiers_are_valid(tables):
    t = tables["telecom_subscribers"].to_pydict()
    assert all(ric.is_valid(i) and len(i) == 18 for i in t["resident_id"])
    assert all(luhn.is_valid(c) and c.startswith("62") and len(c) in (16, 19) for c in t["bank_card"])
    assert {len(c) for c in t["bank_card"]} == {16, 19}
    assert all(MOBILE.fullmatch(m) for m in t["mobile"])
    assert len(set(t["resident_id"])) == len(t["resident_id"])
    for rid, age, gender in zip(t["resident_id"], t["age"], t["gender"]):
        born = ric.get_birth_date(rid)
        assert 1950 <= born.year <= 2005
        assert age == ds.SNAPSHOT_YEAR - born.year
        assert gender == ("男" if int(rid[16]) % 2 else "女")
        assert ric.get_birth_place(rid)["province"] == "湖南省"
    emails = [e for e in t["email"] if e is not None]
    assert 0 < len(emails) < len(t["email"])
    assert all(re.fullmatch(r"[a-z0-9_]+@example\.(com|net|org)", e) for e in emails)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32), rows=st.integers(0, 40))
def test_any_seed_gives_valid_sensitive_values(seed, rows):
    t = ds.telecom_subscribers(rows=rows, seed=seed)
    assert all(map(ric.is_valid, t["resident_id"].to_pylist()))
    assert all(map(luhn.is_valid, t["bank_card"].to_pylist()))
    phones = ds.crop_yield(rows=rows, seed=seed)["farmer_phone"].to_pylist() + t["mobile"].to_pylist()
    assert all(MOBILE.fullmatch(p) for p in phones)


def test_check_char_matches_stdnum():
    assert ds.resident_id_check("36042619910101007") == "1"
    assert ds.resident_id_check("11010519491231002") == "X"


def test_meteorology_ranges(tables):
    t = tables["meteorology_hourly"].to_pydict()
    assert set(t["station_name"]) == {s[1] for s in ds.STATIONS}
    assert all(re.fullmatch(r"2023-\d\d-\d\d \d\d:00", o) for o in t["observed_at"])
    assert len({o[11:13] for o in t["observed_at"]}) == 24
    assert min(t["observed_at"]) < "2023-01-15" and max(t["observed_at"]) > "2023-12-15"
    assert all(-12 <= x <= 42 for x in t["temperature_c"])
    assert all(0 <= x <= 150 for x in t["precipitation_mm"])
    assert all(0 <= x <= 100 for x in t["humidity_pct"])
    assert all(0 <= x <= 30 for x in t["wind_speed_ms"])
    month = {m: [x for o, x in zip(t["observed_at"], t["temperature_c"]) if o[5:7] == m] for m in ("01", "07")}
    assert sum(month["07"]) / len(month["07"]) - sum(month["01"]) / len(month["01"]) > 15
    assert 0.05 < sum(p > 0 for p in t["precipitation_mm"]) / len(t["precipitation_mm"]) < 0.4


def test_crop_yield_ranges(tables):
    t = tables["crop_yield"].to_pydict()
    assert set(t["crop"]) == set(ds.CROPS)
    for crop, yld, area, fert in zip(t["crop"], t["yield_kg_per_mu"], t["sown_area_mu"], t["fertilizer_kg"]):
        lo, hi = ds.CROP_RANGES[crop]
        assert lo <= yld <= hi and 1 <= area <= 500 and fert > 0
    assert all(2019 <= y <= 2023 for y in t["year"])
    assert all(c[-1] in "县市" for c in t["county"]) and all(x[-1] in "镇乡" for x in t["township"])
    assert all(c.endswith("农民专业合作社") for c in t["cooperative"])
    assert all(2 <= len(n) <= 3 and n[0] in ds.SURNAMES for n in t["farmer_name"])


def test_land_parcels_ranges(tables):
    t = tables["land_parcels"].to_pydict()
    assert len(set(t["parcel_id"])) == len(t["parcel_id"])
    assert all(re.fullmatch(r"43\d{10}(GB|JC)\d{5}", p) for p in t["parcel_id"])
    assert set(t["land_use"]) == set(ds.LAND_USES)
    assert all(24.6 <= x <= 30.1 and round(x, 2) == x for x in t["centroid_lat"])
    assert all(108.8 <= x <= 114.3 and round(x, 2) == x for x in t["centroid_lon"])
    assert all(0 <= s <= 45 for s in t["slope_deg"]) and all(a > 0 for a in t["area_m2"])


def test_telecom_ranges(tables):
    t = tables["telecom_subscribers"].to_pydict()
    plans = {p: (fee, cap) for p, fee, cap in ds.PLANS}
    for plan, fee, usage, tenure, age in zip(t["plan"], t["monthly_fee_fen"], t["data_usage_gb"],
                                             t["tenure_months"], t["age"]):
        assert fee >= plans[plan][0] and 0 <= usage <= 2 * plans[plan][1]
        assert 1 <= tenure <= min(240, (age - 16) * 12)
    assert 0.03 < sum(t["churned"]) / len(t["churned"]) < 0.3 and set(t["churned"]) == {0, 1}
    assert set(t["gender"]) == {"男", "女"}
    assert all(c.endswith(("市", "州")) for c in t["city"])


def test_meteorology_cities_join_other_datasets(tables):
    met = set(tables["meteorology_hourly"]["city"].to_pylist())
    assert set(tables["crop_yield"]["city"].to_pylist()) <= met
    assert set(tables["land_parcels"]["city"].to_pylist()) <= met


def test_orgs():
    names = [o["name"] for o in ds.ORGS]
    assert len(names) == len(set(names))
    for org in ds.ORGS:
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]{1,62}", org["name"])
        assert org["display_name"] and org["region"].startswith("湖南-")
        assert set(org["roles"]) <= {"provider", "buyer", "compute", "operator"}
        for name in org.get("datasets", []):
            assert "provider" in org["roles"] and name in ds.DATASETS
        for pool in org.get("pools", []):
            assert "compute" in org["roles"] and pool["kind"] in ("hpc", "ai") and pool["nodes"] > 0
    owned = [d for o in ds.ORGS for d in o.get("datasets", [])]
    assert sorted(owned) == sorted(ds.DATASETS)
    roles = [r for o in ds.ORGS for r in o["roles"]]
    assert roles.count("compute") == 2 and roles.count("buyer") == 2
    assert any(p["accelerator"] and "Ascend" in p["accelerator"] for o in ds.ORGS for p in o.get("pools", []))


@pytest.mark.parametrize("encoding", ["gbk", "utf-8"])
def test_csv_round_trips(tables, tmp_path, encoding):
    for name, table in tables.items():
        path = ds.write_csv(table, tmp_path / f"{name}.csv", encoding=encoding)
        with open(path, encoding=encoding, newline="") as f:
            header, *rows = list(csv.reader(f))
        assert header == table.column_names
        assert rows == as_strings(table)


def test_gbk_csv_is_really_gbk(tables, tmp_path):
    path = ds.write_csv(tables["crop_yield"], tmp_path / "crop.csv", encoding="gbk")
    raw = path.read_bytes()
    assert raw.decode("gbk").startswith("city,county")
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")


def test_xlsx_round_trips(tables, tmp_path):
    table = tables["telecom_subscribers"].slice(0, 200)
    path = ds.write_xlsx(table, tmp_path / "telecom.xlsx")
    ws = load_workbook(path, read_only=True).active
    header, *rows = [list(r) for r in ws.iter_rows(values_only=True)]
    assert header == table.column_names
    assert rows == [list(r) for r in zip(*(c.to_pylist() for c in table.columns))]
    assert date(2005, 12, 31) >= ric.get_birth_date(rows[0][1])
