"""The quality profile each column gets in the scan report."""

from __future__ import annotations

import pyarrow as pa

from suanshu.scan import quality
from suanshu.scan.report import scan_table


def test_profile_of_typed_and_text_columns():
    t = pa.table({
        "n": pa.array([3, 1, None, 3], pa.int64()),
        "s": ["2024-01-01", "2024-01-02", "x", None],
        "m": ["13912345678", "13812345678", "13912345678", "hello"],
    })
    cols = {c["name"]: c["quality"] for c in scan_table(t, source="t", encoding=None)["columns"]}
    assert cols["n"] == {"nulls": 1, "null_ratio": 0.25, "distinct": 2, "distinct_exact": True, "duplicates": 1,
                         "kind": "int64", "conformity": 1.0, "min": 1, "max": 3}
    assert (cols["s"]["kind"], cols["s"]["conformity"], cols["s"]["distinct"]) == ("date", round(2 / 3, 4), 3)
    assert (cols["m"]["kind"], cols["m"]["conformity"], cols["m"]["duplicates"]) == ("CN_MOBILE", 0.75, 1)


def test_profile_streams_across_batches_and_caps_distinct(monkeypatch):
    monkeypatch.setattr(quality, "DISTINCT_CAP", 5)
    schema = pa.schema([("v", pa.string())])
    batches = [pa.record_batch([pa.array([str(i) for i in range(b * 4, b * 4 + 4)])], schema=schema)
               for b in range(3)]
    q = scan_table(batches, source="b", encoding=None)["columns"][0]["quality"]
    assert q["distinct_exact"] is False and q["duplicates"] is None and q["distinct"] >= 5


def test_parquet_scans_count_overflowing_columns_exactly(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    from suanshu.scan.report import scan_parquet

    monkeypatch.setattr(quality, "DISTINCT_CAP", 5)
    pq.write_table(pa.table({"v": [str(i % 40) for i in range(100)]}), tmp_path / "t.parquet")
    q = scan_parquet(tmp_path / "t.parquet", source="t", encoding=None)["columns"][0]["quality"]
    assert (q["distinct"], q["distinct_exact"], q["duplicates"]) == (40, True, 60)


def test_text_kinds_match_the_kind_patterns_cell_by_cell():
    """The kinds counted from byte classes (plain integers and decimals) and by regex (the rest)
    add up to what the anchored kind patterns say of every cell."""
    import pyarrow.compute as pc

    cells = ["12", " 12", "12 ", "+12", "-1", "1.5", ".5", "5.", "1.2.3", "-1.5", "１２", "", None, "0",
             "2024-01-02", "2024.1.2", "2024年1月2日", "2024-01-02 10:00:00", "12a", "a12", "1,5", "..",
             "3.14159", "007", "1e5", "\t7\n", "13912345678", "1.", "1..2", "12.34.56"]
    column = pa.array(cells * 3, pa.string())
    for arr in (column, column.slice(5, 40)):
        profile = quality.Profile()
        profile.add(arr)
        integer = pc.match_substring_regex(arr, quality._KIND_RES["integer"]).fill_null(False)
        expected = {"integer": pc.sum(integer).as_py()}
        for kind in ("decimal", "date"):
            hit = pc.and_(pc.match_substring_regex(arr, quality._KIND_RES[kind]).fill_null(False), pc.invert(integer))
            expected[kind] = pc.sum(hit).as_py()
        assert {k: profile.kinds[k] for k in expected} == expected


def test_profile_from_the_dictionary_of_a_repeated_column_equals_the_cells():
    """A column the scan dictionary-encodes is profiled from its distinct values, each counted
    as often as it occurs: the same distinct count and kinds as from every cell, over batches."""
    import pyarrow.compute as pc

    cells = ["12", " 12", "1.5", "2024-01-02", "x", None, "", "007", "2024年1月2日", "12a", "-3", "1.2.3"]
    batches = [pa.array((cells * 40)[k:k + 300], pa.string()) for k in (0, 7, 100)]
    batches.append(pa.array(["9", "９", None] * 100, pa.string()))
    plain, shared = quality.Profile(), quality.Profile()
    for arr in batches:
        plain.add(arr)
        shared.add(arr, pc.dictionary_encode(arr))
    assert shared.kinds == plain.kinds and sum(plain.kinds.values()) > 0
    assert shared.result([]) == plain.result([])


def test_a_date_conforms_only_when_it_names_a_day_of_the_calendar():
    profile = quality.Profile.of(pa.array(["2020-01-31", "2020-02-29", "2021-02-29", "2020-13-01", "2020-04-31",
                                           "1990年5月12日", "2020/1/1 08:00", "2020-00-10"]))
    assert profile.kinds["date"] == 4  # 2020-01-31, 2020-02-29 (a leap year), 1990年5月12日, 2020/1/1 08:00
    assert profile.result([])["conformity"] == 0.5


def test_nested_columns_are_profiled_by_their_text_form(tmp_path):
    """Lists, structs and maps have no hash kernel: their distinct values are their text forms."""
    t = pa.table({"phones": pa.array([["13812345678", "x"], [], None, ["13812345678", "x"]], pa.list_(pa.string())),
                  "who": pa.array([{"phone": "13912345678"}, None, {"phone": "13912345678"}, {"phone": "x"}]),
                  "tags": pa.array([[("a", 1)], None, [("a", 1)], []], pa.map_(pa.string(), pa.int64()))})
    cols = {c["name"]: c for c in scan_table(t, source="t", encoding=None)["columns"]}
    assert [(cols[n]["quality"]["distinct"], cols[n]["quality"]["duplicates"]) for n in t.column_names] == [(2, 1)] * 3
    assert cols["phones"]["types"][0]["type"] == "CN_MOBILE" and cols["who"]["types"][0]["type"] == "CN_MOBILE"
