"""Generalization rules (SQL == Python reference), fail-closed on malformed values, a rescan of
generalized data finds no personal information in clear, and k-anonymity."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest
from fixtures.scan_corpus import Gen
from hypothesis import given, settings
from hypothesis import strategies as st

from suanshu.core.errors import UsageError
from suanshu.scan import desensitize as d
from suanshu.scan.anonymity import k_anonymity
from suanshu.scan.report import scan_table

KEY = b"k" * 32
RID = {"method": "generalize", "kind": "resident_id"}
ADDR = {"method": "generalize", "kind": "address"}
AGE = {"method": "generalize", "kind": "age", "width": 10}
GEO = {"method": "generalize", "kind": "coordinate"}
DATE = {"method": "generalize", "kind": "date"}


@pytest.fixture
def con():
    with duckdb.connect() as c:
        yield c


def sql(con, values, rule, typ="VARCHAR"):
    expr = d.column_sql("v", rule)
    return [r[0] for r in con.execute(f"SELECT {expr} FROM (SELECT unnest(?::{typ}[]) AS v)", [values]).fetchall()]


@pytest.mark.parametrize(("rule", "values", "expected"), [
    (RID, ["11010519491231002X", "110105491231002", "44030519900307123x", "bad", None],
     ["110100-1949", "110100-1949", "440300-1990", None, None]),
    ({**RID, "area_digits": 6}, ["11010519491231002X"], ["110105-1949"]),
    (ADDR, ["北京市朝阳区建国路88号", "广东省深圳市南山区科技园南路1号", "河南省信阳市光山县槐店乡王庄村3组", "无"],
     ["北京市朝阳区", "广东省深圳市南山区", "河南省信阳市光山县", None]),
    # a street and its number never pass for a district (市民中心, 区政府 after them): no district
    (ADDR, ["中山路123号市民中心", "人民路8号区政府对面", "新疆维吾尔自治区乌鲁木齐市天山区光明路1号"],
     [None, None, "新疆维吾尔自治区乌鲁木齐市天山区"]),
    (AGE, ["37", "0", "199", "x", "-3", "12.5"], ["30-39", "0-9", "190-199", None, None, "10-19"]),
    (GEO, ["39.904211,116.407395", "116.407395, 39.904211", "39.904211", "nope"],
     ["39.90,116.41", "116.41,39.90", "39.90", None]),
    (DATE, ["1990-05-12", "1990年5月12日", "x"], ["1990", "1990", None]),
    ({**DATE, "to": "month"}, ["1990-05-12"], ["1990-05"]),
])
def test_generalize_sql_matches_the_reference(con, rule, values, expected):
    assert sql(con, values, rule) == expected
    assert [d.apply(v, rule, KEY) for v in values] == expected


def test_numeric_columns_generalize(con):
    assert sql(con, [37, 64], AGE, "BIGINT") == ["30-39", "60-69"]
    assert sql(con, [39.904211], GEO, "DOUBLE") == ["39.90"]


@pytest.mark.parametrize("rule", [
    {"method": "generalize"}, {"method": "generalize", "kind": "zodiac"},
    {"method": "generalize", "kind": "age", "decimals": 2}, {"method": "generalize", "kind": "age", "width": 1},
    {"method": "generalize", "kind": "resident_id", "area_digits": 7},
    {"method": "generalize", "kind": "coordinate", "decimals": 4},
    {"method": "generalize", "kind": "date", "to": "day"},
])
def test_bad_generalize_rules_are_refused(rule):
    with pytest.raises(UsageError) as err:
        d.validate_rule(rule)
    assert err.value.code == "component.bad_desensitize_rule"


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 10_000))
def test_generalized_output_rescans_clean(seed):
    g = Gen(seed)
    rows = 20
    raw = pa.table({"rid": [g.rid() for _ in range(rows)], "addr": [g.address() for _ in range(rows)],
                    "geo": [g.coord() for _ in range(rows)], "age": [str(g.r.randrange(90)) for _ in range(rows)]})
    before = scan_table(raw, source="raw", encoding=None)
    assert {c["name"] for c in before["columns"] if c["pi"] != "none"} >= {"rid", "addr", "geo"}
    rules = {"rid": RID, "addr": ADDR, "geo": GEO, "age": AGE}
    with duckdb.connect() as con:
        con.register("raw", raw)
        exprs = ", ".join(f"{d.column_sql(c, r)} AS {c}" for c, r in rules.items())
        out = con.sql(f"SELECT {exprs} FROM raw").to_arrow_table()
    after = scan_table(out, source="out", encoding=None)
    assert after["findings_total"] == 0, after["findings"][:3]


def test_k_anonymity_before_and_after_generalizing():
    g = Gen(3)
    ids = [g.rid() for _ in range(300)]
    ages = [str(g.r.randrange(18, 80)) for _ in range(300)]
    raw = pa.table({"rid": ids, "age": ages})
    assert k_anonymity(raw, ["rid", "age"])["k"] == 1
    gen = pa.table({"rid": [d.apply(x, {**RID, "area_digits": 2}, KEY) for x in ids],
                    "age": [d.apply(x, {**AGE, "width": 20}, KEY) for x in ages]})
    report = k_anonymity(gen, ["rid", "age"])
    assert report["rows"] == 300 and report["classes"] < 300
    assert report["rows_below"]["2"] <= report["rows_below"]["5"] <= report["rows_below"]["10"]
    assert report["smallest_classes"][0]["rows"] == report["k"]


def test_k_anonymity_refuses_unknown_columns():
    with pytest.raises(UsageError):
        k_anonymity(pa.table({"a": [1]}), ["b"])
    with pytest.raises(UsageError):
        k_anonymity(pa.table({"a": [1]}), [])
