"""The output checks on their own (pure): what is refused, and what must not be (no false alarms)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from suanshu.compute import outputs

SOURCE = pa.table({
    "city": ["Changsha", "Xiangtan", "Zhuzhou"] * 20,
    "fee": [float(100 + i) for i in range(60)],
    "mobile": [f"138{i:08d}" for i in range(60)],
})


def check(tmp_path, logs: str = "", **files) -> outputs.Verdict:
    out = Path(tempfile.mkdtemp(dir=tmp_path))  # a fresh output dir per check
    for name, table in files.items():
        name = name.replace("_", ".")
        if name.endswith(".parquet"):
            pq.write_table(table, out / name)
        else:
            pcsv.write_csv(table, out / name)
    source = outputs.Source(SOURCE, hidden=["mobile"], dimensions=["city"])
    return outputs.check(out, logs, source, max_bytes=1 << 20, max_row_overlap=0.05)


def codes(verdict: outputs.Verdict) -> list[str]:
    return [p["code"] for p in verdict.problems]


def test_aggregates_and_dimension_tables_pass(tmp_path):
    by_city = SOURCE.group_by("city").aggregate([("fee", "mean"), ("fee", "count")])
    verdict = check(tmp_path, "done: 3 cities\n", agg_csv=by_city, cities_parquet=SOURCE.select(["city"]))
    assert verdict.passed, verdict.problems


def test_raw_rows_are_refused_in_files_and_in_printed_csv(tmp_path):
    rows = SOURCE.select(["fee", "city"]).slice(0, 30)  # reordered columns, a subset of rows
    assert codes(check(tmp_path, rows_parquet=rows)) == ["job.output_raw_rows"]
    printed = "\n".join(f"{c},{f}" for c, f in zip(rows["city"].to_pylist(), rows["fee"].to_pylist()))
    assert codes(check(tmp_path, "city,fee\n" + printed)) == ["job.output_raw_rows"]


def test_hidden_values_are_refused_anywhere(tmp_path):
    assert codes(check(tmp_path, "first mobile: 13800000007\n")) == ["job.output_hidden_value"]
    leak = pa.table({"n": [1, 2], "who": ["13800000001", "x"]})
    assert "job.output_hidden_value" in codes(check(tmp_path, leak_parquet=leak))


def test_size_and_links(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "link").symlink_to("/etc/hostname")
    source = outputs.Source(SOURCE, hidden=["mobile"], dimensions=["city"])
    verdict = outputs.check(out, "x" * 100, source, max_bytes=50, max_row_overlap=0.05)
    assert codes(verdict) == ["job.output_not_a_file", "job.output_too_large"]
