"""Desensitization rules: validation, SQL == Python reference, and nothing left to find."""

from __future__ import annotations

import datetime as dt
import random

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suanshu.core.errors import UsageError
from suanshu.scan import desensitize as d
from suanshu.scan import validators as v
from suanshu.scan.report import scan_table

KEY = b"test-secret-key"


@pytest.fixture
def con():
    c = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False,
                                           "autoload_known_extensions": False})
    d.register_udfs(c, KEY)
    yield c
    c.close()


def run(con, values: list, rule: dict) -> list:
    """The rule's SQL over one VARCHAR column holding ``values``, in order."""
    con.execute("CREATE OR REPLACE TEMP TABLE t (i INTEGER, x VARCHAR)")
    if values:
        con.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(values)))
    expr = d.column_sql('"x"', rule)
    return [r[0] for r in con.execute(f"SELECT {expr} FROM t ORDER BY i").fetchall()]


# --- validation --------------------------------------------------------------------------------


def test_defaults_are_filled_in():
    assert d.validate_rules({"phone": {"method": "mask"}, "rid": {"method": "hash"},
                             "name": {"method": "drop"}}) == {
        "phone": {"method": "mask", "keep_first": 3, "keep_last": 4, "char": "*"},
        "rid": {"method": "hash"},
        "name": {"method": "drop"},
    }


@pytest.mark.parametrize("rules", [
    {"c": {"method": "encrypt"}},
    {"c": {}},
    {"c": "mask"},
    {"c": {"method": "hash", "salt": "x"}},
    {"c": {"method": "mask", "keep": 2}},
    {"c": {"method": "mask", "keep_first": -1}},
    {"c": {"method": "mask", "keep_last": 1.5}},
    {"c": {"method": "mask", "keep_last": True}},
    {"c": {"method": "mask", "char": "**"}},
    {"c": {"method": "mask", "char": "0"}},
    {"c": {"method": "mask", "char": ""}},
    ["not", "a", "dict"],
])
def test_bad_rules_are_refused(rules):
    with pytest.raises(UsageError) as err:
        d.validate_rules(rules)
    assert err.value.code == "component.bad_desensitize_rule"


# --- SQL matches the Python reference ----------------------------------------------------------


VALUES = ["13912345678", "张三", "欧阳娜娜", "1234567", "12345678", "a", "", None, "11010519491231002X",
          "zhang.san@example.com", "北京市海淀区中关村大街1号"]


@pytest.mark.parametrize("rule", [
    {"method": "mask"},
    {"method": "mask", "keep_first": 1, "keep_last": 0},
    {"method": "mask", "keep_first": 0, "keep_last": 0, "char": "#"},
    {"method": "mask", "keep_first": 6, "keep_last": 4, "char": "'"},  # a quote is escaped
    {"method": "hash"},
])
def test_sql_equals_python(con, rule):
    assert run(con, VALUES, rule) == [d.apply(x, rule, KEY) for x in VALUES]


@settings(deadline=None)  # each example opens a DuckDB connection
@given(st.lists(st.text(max_size=30), max_size=20), st.integers(0, 8), st.integers(0, 8))
def test_sql_equals_python_property(values, first, last):
    rule = {"method": "mask", "keep_first": first, "keep_last": last}
    with duckdb.connect() as c:
        assert run(c, values, rule) == [d.apply(x, rule, KEY) for x in values]


def test_mask_examples():
    assert d.apply("13912345678", {"method": "mask"}, KEY) == "139****5678"
    assert d.apply("1234567", {"method": "mask"}, KEY) == "*******"  # not longer than 3 + 4
    assert d.apply("张三", {"method": "mask", "keep_first": 1, "keep_last": 0}, KEY) == "张*"
    assert d.apply(None, {"method": "mask"}, KEY) is None
    assert d.apply("x", {"method": "drop"}, KEY) is None


def test_drop_has_no_sql():
    assert d.column_sql('"x"', {"method": "drop"}) is None


def test_non_text_columns_are_cast(con):
    got = con.execute(f"SELECT {d.column_sql('x', {'method': 'mask'})}, "
                      f"{d.column_sql('x', {'method': 'hash'})} FROM (VALUES (13912345678)) t(x)"
                      ).fetchone()
    assert got == ("139****5678", d.hmac_hex(KEY, "13912345678"))


# --- HMAC --------------------------------------------------------------------------------------


def test_hmac_is_keyed_deterministic_and_null_safe(con):
    first = run(con, ["13912345678", None, "13912345678"], {"method": "hash"})
    assert first[0] == first[2] and first[1] is None
    assert len(first[0]) == 32 and int(first[0], 16) >= 0
    with duckdb.connect() as other:
        d.register_udfs(other, KEY)
        assert run(other, ["13912345678"], {"method": "hash"}) == [first[0]]
        d.register_udfs(other, b"another key")  # re-registering replaces the key
        assert run(other, ["13912345678"], {"method": "hash"}) != [first[0]]


def test_hmac_key_must_be_bytes(con):
    with pytest.raises(ValueError):
        d.register_udfs(con, "")


def test_hmac_runs_vectorised_over_many_rows(con):
    n = 200_000
    got = con.execute(f"SELECT count(DISTINCT ss_hmac(CAST(i AS VARCHAR))) FROM range({n}) r(i)").fetchone()
    assert got == (n,)


# --- desensitized output rescans clean ---------------------------------------------------------


def sensitive_rows(n: int) -> list[tuple]:
    rng = random.Random(5)
    rows = []
    for _ in range(n):
        born = dt.date(1960, 1, 1) + dt.timedelta(days=rng.randrange(15000))
        first17 = f"440305{born:%Y%m%d}{rng.randrange(1000):03d}"
        card15 = "622202" + f"{rng.randrange(10**12):012d}"
        rows.append((
            first17 + v.resident_id_check_char(first17),
            rng.choice(["139", "186", "150"]) + f"{rng.randrange(10**8):08d}",
            card15 + v.luhn_check_digit(card15),
            f"user{rng.randrange(10**6)}@example.com",
        ))
    return rows


@pytest.mark.parametrize("rule", [{"method": "mask"}, {"method": "hash"},
                                  {"method": "mask", "keep_first": 6, "keep_last": 4}])
def test_desensitized_values_rescan_clean(con, rule):
    con.execute("CREATE TABLE p (c1 VARCHAR, c2 VARCHAR, c3 VARCHAR, c4 VARCHAR)")
    con.executemany("INSERT INTO p VALUES (?, ?, ?, ?)", sensitive_rows(200))
    raw = scan_table(con.sql("SELECT * FROM p").to_arrow_table(), source="p", encoding=None)
    assert raw["findings_total"] == 800  # the fixture really is sensitive
    cols = ", ".join(f"{d.column_sql(c, rule)} AS {c}" for c in ("c1", "c2", "c3", "c4"))
    clean = scan_table(con.sql(f"SELECT {cols} FROM p").to_arrow_table(), source="p",
                       encoding=None)
    assert clean["findings"] == [] and clean["findings_total"] == 0
    assert {c["pi"] for c in clean["columns"]} == {"none"}
