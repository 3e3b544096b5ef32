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
