"""Output checks for compute-to-data jobs (pure): nothing leaves until these pass.

Ocean's compute-to-data returns a job's outputs unchecked (REFERENCE §4); here every file the
program wrote and everything it printed are checked against the source table first:

1. **size**: outputs plus logs fit ``max_output_bytes``;
2. **hidden values**: no value of a hidden column (role ``hidden``, or a column the policy does not
   list) appears in any output or in the logs — as a whole cell of a table, or as a token of text;
3. **raw rows**: no table (CSV, TSV, Parquet, JSON lines, or printed CSV) repeats source rows: an
   output column is *matched* to a source column when most of its distinct values are values of that
   column; when two or more columns match (one of them not a dimension: dimension combinations are
   what aggregate mode releases anyway), the share of output rows found verbatim among the source rows
   (projected on the matched columns) must not exceed ``max_row_overlap``.

Known limits (documented, not hidden): values shorter than ``MIN_HIDDEN_LEN`` bytes are not
searched, nor values that are also values of a releasable column (a 2-digit number appears everywhere by chance); an encoded or transformed value (base64,
reversed, arithmetic on it) is not recognised; binary files other than Parquet count towards the size
only. These checks stop the plain leaks the issue names; they are not a proof of non-leakage.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

MIN_HIDDEN_LEN = 4  # bytes (UTF-8): shorter values (small numbers, short codes) appear by chance
MIN_DUMP_ROWS = 5  # fewer matching rows than this is not a dump
COLUMN_MATCH = 0.8  # share of an output column's distinct values found in a source column
_TOKEN = re.compile(r"[^\s,;:|\t\"'()\[\]{}<>=]+")
_TABLE_SUFFIXES = {".csv", ".tsv", ".txt", ".parquet", ".jsonl", ".ndjson"}


@dataclass
class Verdict:
    passed: bool = True
    problems: list[dict] = field(default_factory=list)
    files: list[dict] = field(default_factory=list)  # name, bytes
    total_bytes: int = 0

    def refuse(self, code: str, where: str, message: str) -> None:
        self.passed = False
        self.problems.append({"code": code, "where": where, "message": message})

    def as_dict(self) -> dict:
        return {"passed": self.passed, "problems": self.problems, "files": self.files,
                "total_bytes": self.total_bytes}


def _cells(column: pa.ChunkedArray | pa.Array) -> set[str]:
    """Distinct non-null values as text (the form they take in a CSV or a print)."""
    values = pc.unique(column.drop_null() if hasattr(column, "drop_null") else column)
    return {_text(v) for v in values.to_pylist()}


def _text(v) -> str:
    """One text form per value, so 23, 23.0 and "23.0" (a CSV cell) compare equal."""
    if isinstance(v, str):
        v = v.strip()
        try:
            number = float(v)
        except ValueError:
            return v
        if not number == number or number in (float("inf"), float("-inf")):
            return v
        v = number
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    return str(v)


class Source:
    """The source table as the checks need it: hidden values, and column values for row matching."""

    def __init__(self, table: pa.Table, hidden: list[str], dimensions: list[str]):
        self.table = table
        self.columns = {name: _cells(table[name]) for name in table.column_names}
        self.hidden_values: set[str] = set()
        for name in hidden:
            self.hidden_values |= {v for v in self.columns[name] if len(v.encode()) >= MIN_HIDDEN_LEN}
        # a value that is also a value of a column the buyer may release (a station named like its
        # city) is not a leak of the hidden column
        for name in set(table.column_names) - set(hidden):
            self.hidden_values -= self.columns[name]
        self.dimensions = set(dimensions)
        self._rows: dict[tuple[str, ...], set[tuple[str, ...]]] = {}

    def rows_on(self, names: tuple[str, ...]) -> set[tuple[str, ...]]:
        if names not in self._rows:
            cols = [[_text(v) if v is not None else "" for v in self.table[n].to_pylist()] for n in names]
            self._rows[names] = set(zip(*cols, strict=True))
        return self._rows[names]


def check(out_dir: Path, logs: str, source: Source, *, max_bytes: int, max_row_overlap: float,
          withheld: list[dict] = ()) -> Verdict:
    """Check every file under ``out_dir`` and the logs; the verdict lists each problem found.

    ``withheld``: files (name, bytes) a remote pool kept because they were over the cap: counted, not read."""
    verdict = Verdict()
    for f in withheld:
        verdict.files.append({"name": f["name"], "bytes": f["bytes"]})
        verdict.total_bytes += f["bytes"]
    files = sorted(p for p in out_dir.rglob("*") if p.is_file() or p.is_symlink()) if out_dir.exists() else []
    for path in files:
        name = str(path.relative_to(out_dir))
        if path.is_symlink():  # a link could point at the vault: release plain files only
            verdict.refuse("job.output_not_a_file", name, "outputs must be plain files, not links")
            continue
        size = path.stat().st_size
        verdict.files.append({"name": name, "bytes": size})
        verdict.total_bytes += size
    verdict.total_bytes += len(logs.encode())
    if verdict.total_bytes > max_bytes:
        verdict.refuse("job.output_too_large", "outputs",
                       f"outputs and logs are {verdict.total_bytes} bytes; the contract allows {max_bytes}")
        return verdict  # do not parse what is too large to release
    _check_text(verdict, "logs", logs, source)
    _check_table(verdict, "logs", _csv_table(logs), source, max_row_overlap)
    for path in files:
        if path.is_symlink():
            continue
        name = str(path.relative_to(out_dir))
        table = _read_table(path)
        if table is not None:
            _check_table(verdict, name, table, source, max_row_overlap)
            _check_text(verdict, name, "\n".join(" ".join(_cells(table[c])) for c in table.column_names), source)
        if path.suffix.lower() != ".parquet":
            _check_text(verdict, name, path.read_bytes().decode("utf-8", errors="replace"), source)
    return verdict


def _check_text(verdict: Verdict, where: str, text: str, source: Source) -> None:
    if not source.hidden_values or not text:
        return
    found = {t for t in map(_text, _TOKEN.findall(text)) if t in source.hidden_values}
    # values with spaces inside (an address) are not single tokens: look for them whole
    found |= {v for v in source.hidden_values if " " in v and v in text}
    if found:
        verdict.refuse("job.output_hidden_value", where,
                       f"{len(found)} value(s) of hidden columns appear in {where}")


def _check_table(verdict: Verdict, where: str, table: pa.Table | None, source: Source, limit: float) -> None:
    if table is None or table.num_rows < MIN_DUMP_ROWS:
        return
    matched: dict[str, str] = {}  # output column -> source column
    for name in table.column_names:
        values = _cells(table[name])
        if not values:
            continue
        best = max(source.columns, key=lambda s: len(values & source.columns[s]))
        if len(values & source.columns[best]) >= COLUMN_MATCH * len(values):
            matched[name] = best
    if len(set(matched.values())) < 2 or set(matched.values()) <= source.dimensions:
        return
    out_names = tuple(matched)
    src_names = tuple(matched[n] for n in out_names)
    rows = source.rows_on(src_names)
    out_cols = [[_text(v) if v is not None else "" for v in table[n].to_pylist()] for n in out_names]
    hits = sum(1 for row in zip(*out_cols, strict=True) if row in rows)
    if hits >= MIN_DUMP_ROWS and hits > limit * table.num_rows:
        verdict.refuse("job.output_raw_rows", where,
                       f"{hits} of {table.num_rows} rows repeat source rows on columns {list(src_names)} "
                       f"(the contract allows {limit:.0%})")


def _read_table(path: Path) -> pa.Table | None:
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pq.read_table(path)
        if suffix in (".jsonl", ".ndjson"):
            import pyarrow.json as pj

            return pj.read_json(path)
        if suffix in _TABLE_SUFFIXES:
            return _csv_table(path.read_bytes().decode("utf-8", errors="replace"))
    except (pa.ArrowException, OSError, ValueError):
        return None  # unreadable as a table: still size- and text-checked
    return None


def _csv_table(text: str) -> pa.Table | None:
    """Text that looks like delimited rows (a printed CSV) as a table of strings; else None."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if len(lines) < MIN_DUMP_ROWS:
        return None
    sample = "\n".join(lines[:50])
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",\t;| ")
    except csv.Error:
        return None
    # the first line is taken as a header and skipped: a header is not data, and a dump loses one row
    rows = list(csv.reader(io.StringIO("\n".join(lines[1:])), dialect))
    width = max(len(r) for r in rows)
    if width < 2:
        return None
    rows = [r + [""] * (width - len(r)) for r in rows if len(r) <= width]
    return pa.table({f"c{i}": [r[i].strip() for r in rows] for i in range(width)})
