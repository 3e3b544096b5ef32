"""The output checks on their own (pure): what is refused, and what must not be (no false alarms)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

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


# -- the vectorized source answers as a Python set per column did --------------------------------

CELLS = [" 12 ", "12", "12.0", "０１２", "1_000", "1000", "abc", "a b c d", "", "   ", "nan", "inf", "1e3",
         "-0", "0.0", "13800000007", "1.5", "+1.50", "\u3000x y z\u3000", None]


def _old_cells(column) -> set[str]:
    return {outputs._text(v) for v in column.to_pylist() if v is not None}


@st.composite
def tables(draw):
    n = draw(st.integers(1, 12))
    columns = {
        "s": pa.array(draw(st.lists(st.sampled_from(CELLS), min_size=n, max_size=n)), pa.string()),
        "ls": pa.array(draw(st.lists(st.sampled_from(CELLS), min_size=n, max_size=n)), pa.large_string()),
        "i": pa.array(draw(st.lists(st.one_of(st.none(), st.integers(-3, 1100)), min_size=n, max_size=n)), pa.int64()),
        "f": pa.array(draw(st.lists(st.one_of(st.none(), st.sampled_from(
            [0.0, -0.0, 12.0, 1.5, 1000.0, float("nan"), float("inf"), 13800000007.0])), min_size=n, max_size=n)),
            pa.float64()),
        "b": pa.array(draw(st.lists(st.one_of(st.none(), st.booleans()), min_size=n, max_size=n)), pa.bool_()),
    }
    return pa.table(columns)


ASKED = sorted({outputs._text(c) for c in CELLS if c is not None} |
               {"12", "1000", "0", "1.5", "13800000007", "True", "False", "nan", "inf", "x", "a b c d"})


@settings(max_examples=200, deadline=None)
@given(tables(), st.sets(st.sampled_from(ASKED)), st.booleans(), st.integers(1, 5))
def test_where_and_rows_found_equal_sets_of_every_cell(tmp_path_factory, table, asked, from_file, batch_rows):
    """Whatever the cells, the values asked, the source's form (Arrow or Parquet) and its batches."""
    data = table
    if from_file:
        data = tmp_path_factory.mktemp("src") / "t.parquet"
        pq.write_table(table, data, row_group_size=batch_rows)
    source = outputs.Source(data, hidden=["s", "f"], dimensions=[])
    default, outputs.BATCH_ROWS = outputs.BATCH_ROWS, batch_rows
    try:
        _same_as_sets(table, source, asked)
    finally:
        outputs.BATCH_ROWS = default


def _same_as_sets(table: pa.Table, source: outputs.Source, asked: set[str]) -> None:
    assert source.where(asked) == {name: asked & _old_cells(table[name]) for name in table.column_names}
    for names in (("s", "i"), ("ls", "f", "b"), ("s",)):
        all_rows = set(zip(*([outputs._text(v) if v is not None else "" for v in table[n].to_pylist()]
                             for n in names), strict=True))
        asked_rows = {row for k, row in enumerate(sorted(all_rows)) if k % 2 == 0} | {("12",) * len(names)}
        assert source.rows_found(names, asked_rows) == asked_rows & all_rows
    spaced = {v for v in _old_cells(table["s"]) | _old_cells(table["f"]) if " " in v and len(v.encode()) >= 4}
    assert source.spaced_hidden() == spaced


def test_checks_read_the_source_from_its_parquet_file_like_the_table(tmp_path):
    path = tmp_path / "source.parquet"
    pq.write_table(SOURCE, path)
    rows = SOURCE.select(["fee", "city"]).slice(0, 30)
    for source in (SOURCE, path):
        out = Path(tempfile.mkdtemp(dir=tmp_path))
        pq.write_table(rows, out / "rows.parquet")
        verdict = outputs.check(out, "mobile 13800000009\n", outputs.Source(source, ["mobile"], ["city"]),
                                max_bytes=1 << 20, max_row_overlap=0.05)
        assert codes(verdict) == ["job.output_hidden_value", "job.output_raw_rows"]


def test_a_hidden_value_also_in_a_releasable_column_is_not_a_leak(tmp_path):
    source = pa.table({"station": ["Changsha South", "Xiangtan"] * 5, "city": ["Changsha South", "Zhuzhou"] * 5})
    out = tmp_path / "out"
    out.mkdir()
    verdict = outputs.check(out, "busiest: Changsha South\n", outputs.Source(source, ["station"], []),
                            max_bytes=1 << 20, max_row_overlap=0.05)
    assert verdict.passed, verdict.problems
    verdict = outputs.check(out, "quietest: Xiangtan\n", outputs.Source(source, ["station"], []),
                            max_bytes=1 << 20, max_row_overlap=0.05)
    assert codes(verdict) == ["job.output_hidden_value"]


def test_file_names_are_checked_and_not_shown_when_refused(tmp_path):
    out = tmp_path / "names"
    (out / "n").mkdir(parents=True)
    for i in range(3):
        (out / "n" / f"{i}_1380000000{i}_x").write_text("")
    source = outputs.Source(SOURCE, hidden=["mobile"], dimensions=["city"])
    verdict = outputs.check(out, "", source, max_bytes=1 << 20, max_row_overlap=0.05)
    assert codes(verdict) == ["job.output_hidden_value"] and verdict.problems[0]["where"] == "file names"
    assert all("name" not in f for f in verdict.as_dict()["files"])  # a refused output's names stay in
    many = tmp_path / "many"
    many.mkdir()
    for i in range(2000):
        (many / f"{i:08d}").write_text("")
    verdict = outputs.check(many, "", source, max_bytes=10_000, max_row_overlap=0.05)
    assert codes(verdict) == ["job.output_too_large"]  # names count towards the size


def test_padding_lowers_the_share_not_the_count(tmp_path):
    cities = ["Changsha", "Xiangtan", "Zhuzhou", "Hengyang", "Yueyang"]
    source_table = pa.table({"city": cities * 400, "fee": [float(i) for i in range(2000)]})
    raw = source_table.slice(0, 150)
    source = outputs.Source(source_table, hidden=[], dimensions=["city"])
    for n, made_up in enumerate((pa.table({"city": ["x"] * 5000, "fee": [-1.0] * 5000}),  # one junk row, repeated
                                 pa.table({"city": ["Changsha"] * 5000, "fee": [float(-i - 1) for i in range(5000)]}))):
        out = tmp_path / f"pad{n}"
        out.mkdir()
        pcsv.write_csv(pa.concat_tables([raw, made_up]), out / "o.csv")
        verdict = outputs.check(out, "", source, max_bytes=1 << 20, max_row_overlap=0.05)
        assert codes(verdict) == ["job.output_raw_rows"], n  # 150 of 5150 rows: 3 %, but over MAX_RAW_ROWS


def test_outputs_that_once_crashed_the_check(tmp_path):
    """Two output columns matching one source column; nested JSON lines; a CSV field past the csv
    module's limit: each is checked, none raises."""
    twice = SOURCE.select(["city", "fee"]).append_column("fee2", SOURCE["fee"]).slice(0, 30)
    assert codes(check(tmp_path, rows_parquet=twice)) == ["job.output_raw_rows"]
    out = tmp_path / "odd"
    out.mkdir()
    (out / "n.jsonl").write_text('{"a": {"b": 1}, "c": [1, 2]}\n' * 10)
    (out / "big.csv").write_text("a,b\n" + ("x," + "y" * 200_000 + "\n") * 6)
    source = outputs.Source(SOURCE, hidden=["mobile"], dimensions=["city"])
    verdict = outputs.check(out, "", source, max_bytes=10 << 20, max_row_overlap=0.05)
    assert verdict.passed, verdict.problems


def test_a_refused_outputs_names_appear_nowhere_in_what_the_parties_see(tmp_path):
    import json

    out = tmp_path / "named"
    out.mkdir()
    (out / "13800000007").symlink_to("x")  # a link named after a hidden value: refused as a link
    (out / "13800000008.csv").write_text("who\n13800000008\n")  # refused for its content
    source = outputs.Source(SOURCE, hidden=["mobile"], dimensions=["city"])
    verdict = outputs.check(out, "", source, max_bytes=1 << 20, max_row_overlap=0.05)
    assert not verdict.passed and {"job.output_not_a_file", "job.output_hidden_value"} <= set(codes(verdict))
    seen = json.dumps(verdict.as_dict())
    assert "1380000000" not in seen and "output file 1" in seen
