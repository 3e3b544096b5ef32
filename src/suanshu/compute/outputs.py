"""Output checks for compute-to-data jobs (pure): nothing leaves until these pass.

Ocean's compute-to-data returns a job's outputs unchecked (REFERENCE §4); here every file the
program wrote and everything it printed are checked against the source table first:

1. **size**: outputs plus logs fit ``max_output_bytes``;
2. **hidden values**: no value of a hidden column (role ``hidden``, or a column the policy does not
   list) appears in any output or in the logs — as a whole cell of a table, or as a token of text;
3. **raw rows**: no table (CSV, TSV, Parquet, JSON lines, or printed CSV) repeats source rows: an
   output column is *matched* to a source column when most of its distinct values are values of that
   column (or more than ``MAX_RAW_ROWS`` of them are); when two or more columns match (one of them not a dimension: dimension combinations are
   what aggregate mode releases anyway), the share of output rows found verbatim among the source rows
   (projected on the matched columns) must not exceed ``max_row_overlap``, and never more than
   ``MAX_RAW_ROWS`` of them (padding an output with made-up rows lowers the share, not the count);
4. **file names**: the names of the files are text like the logs (split at ``/`` and ``_``): checked
   for hidden values and, read as rows, for raw rows; their bytes count towards the size.

Known limits (documented, not hidden): values shorter than ``MIN_HIDDEN_LEN`` bytes are not
searched, nor values that are also values of a releasable column (a 2-digit number appears everywhere by chance); an encoded or transformed value (base64,
reversed, arithmetic on it) is not recognised; binary files other than Parquet count towards the size
only; each table is checked on its own, so rows split over many files of fewer than
``MIN_DUMP_ROWS`` rows each, or columns split over files the buyer joins again, are not
recognised as a dump. These checks stop the plain leaks; they are not a proof of
non-leakage: a component whose rows must never leave is not one to offer for jobs.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

MIN_HIDDEN_LEN = 4  # bytes (UTF-8): shorter values (small numbers, short codes) appear by chance
MIN_DUMP_ROWS = 5  # fewer matching rows than this is not a dump
MAX_RAW_ROWS = 100  # source rows an output may repeat, whatever its share
BATCH_ROWS = 131_072  # rows of the source read at a time
COLUMN_MATCH = 0.8  # share of an output column's distinct values found in a source column
_TOKEN = re.compile(r"[^\s,;:|\t\"'()\[\]{}<>=]+")
_TABLE_SUFFIXES = {".csv", ".tsv", ".txt", ".parquet", ".jsonl", ".ndjson"}


@dataclass
class Verdict:
    passed: bool = True
    problems: list[dict] = field(default_factory=list)
    files: list[dict] = field(default_factory=list)  # name, bytes
    total_bytes: int = 0

    _names: list[str] = field(default_factory=list)  # every output file's name, in order

    def refuse(self, code: str, where: str, message: str) -> None:
        self.passed = False
        self.problems.append({"code": code, "where": where, "message": message})

    def as_dict(self) -> dict:
        """What the parties see. Refused outputs are not released, and neither are their names (a
        name can carry values): files are counted, and problems say "output file N" for a name."""
        if self.passed:
            return {"passed": True, "problems": self.problems, "files": self.files, "total_bytes": self.total_bytes}
        labels = {name: f"output file {i}" for i, name in enumerate(self._names, 1)}
        problems = [{**p, "where": labels.get(p["where"], p["where"]),
                     "message": _relabel(p["message"], p["where"], labels)} for p in self.problems]
        return {"passed": False, "problems": problems, "files": [{"bytes": f["bytes"]} for f in self.files],
                "total_bytes": self.total_bytes}


def _relabel(message: str, where: str, labels: dict[str, str]) -> str:
    return message.replace(where, labels[where]) if where in labels else message


def _cells(column: pa.ChunkedArray | pa.Array) -> set[str]:
    """Distinct non-null values as text (the form they take in a CSV or a print)."""
    column = column.drop_null() if hasattr(column, "drop_null") else column
    if pa.types.is_nested(column.type):  # no hash kernel for lists and structs: their text forms
        return {_text(str(v)) for v in column.to_pylist()}
    return {_text(v) for v in pc.unique(column).to_pylist()}


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
    """The source table as the checks need it: which of a few values (the cells and tokens of the
    outputs) are cells of which column, and which of a few rows are source rows.

    It reads the table (the exchange's Parquet copy of what the program read, or an Arrow table) a
    batch of rows at a time and answers with vectorized passes that keep only candidate cells;
    ``_text`` then decides on those alone. So the checks' time and memory follow the outputs, which are capped, not the
    table: a job over millions of rows is checked without a Python object per source cell."""

    def __init__(self, data: pa.Table | Path, hidden: list[str], dimensions: list[str]):
        self._table = data if isinstance(data, pa.Table) else None
        self._file = None if isinstance(data, pa.Table) else pq.ParquetFile(data)
        self.names = list(data.column_names if self._table is not None else self._file.schema_arrow.names)
        self.hidden = list(hidden)
        self.dimensions = set(dimensions)
        self._spaced: set[str] | None = None

    def _batches(self, names: list[str]) -> Iterator[pa.RecordBatch]:
        """The columns ``names``, a batch of rows at a time: memory holds a batch, not the table."""
        if self._table is not None:
            return iter(self._table.select(names).to_batches(max_chunksize=BATCH_ROWS))
        return self._file.iter_batches(batch_size=BATCH_ROWS, columns=names)

    def where(self, values: set[str]) -> dict[str, set[str]]:
        """For each column, those of ``values`` (text forms, see ``_text``) that are among its cells."""
        candidates: dict[str, set] = {name: set() for name in self.names}
        if values:
            asked = _Asked.of(values)
            for batch in self._batches(self.names):
                for name, column in zip(self.names, batch.columns, strict=True):
                    candidates[name] |= set(pc.unique(column.filter(_maybe(column, asked))).to_pylist())
        return {name: values & {_text(v) for v in cells if v is not None} for name, cells in candidates.items()}

    def rows_found(self, names: tuple[str, ...], rows: set[tuple[str, ...]]) -> set[tuple[str, ...]]:
        """Those of ``rows`` (text forms, ``""`` for null) that are source rows projected on ``names``."""
        if not rows:
            return set()
        wanted = [_Asked.of({r[i] for r in rows}) for i in range(len(names))]
        found = set()
        for batch in self._batches(list(names)):
            mask = None
            for column, asked in zip(batch.columns, wanted, strict=True):
                maybe = _maybe(column, asked, null=asked.empty)
                mask = maybe if mask is None else pc.and_(mask, maybe)
            candidates = pa.Table.from_batches([batch.filter(mask)])
            if candidates.num_rows:
                distinct = candidates.group_by(candidates.column_names).aggregate([])
                found |= {tuple(_text(v) if v is not None else "" for v in row)
                          for row in zip(*distinct.to_pydict().values(), strict=True)}
        return rows & found

    def spaced_hidden(self) -> set[str]:
        """Hidden values with a space inside (an address): not one token, so texts are searched for them whole."""
        if self._spaced is None:
            self._spaced = set()
            for name in self.hidden:
                for batch in self._batches([name]):
                    column = batch.column(0)
                    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
                        break  # a number's text has no space
                    if _is_string(column.type):
                        column = column.filter(pc.fill_null(pc.match_substring(pc.utf8_trim_whitespace(column), " "),
                                                            False))
                    texts = map(_text, pc.unique(column).drop_null().to_pylist())
                    self._spaced |= {v for v in texts if " " in v and len(v.encode()) >= MIN_HIDDEN_LEN}
        return self._spaced


# A cell Arrow reads as the same float Python does; any other cell float() might read (digits of
# other scripts, underscores) is a candidate outright and left to ``_text``.
_ASCII_NUMBER = r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
_OTHER_NUMBER = r"^[\p{Nd}\s+\-._eE]*\p{Nd}[\p{Nd}\s+\-._eE]*$"


@dataclass(frozen=True)
class _Asked:
    """Values asked for, in the forms the vectorized passes compare (made once per question)."""
    texts: pa.Array  # the values as text
    numbers: pa.Array  # those that read as finite numbers, as floats
    empty: bool  # "" is among them (the text form of a null)

    @classmethod
    def of(cls, values: set[str]) -> _Asked:
        return cls(pa.array(sorted(values), type=pa.string()), _numbers(values), "" in values)


def _maybe(column: pa.Array, asked: _Asked, *, null: bool = False) -> pa.Array:
    """True for every cell whose text form may be one of the ``asked`` values (and for nulls when
    ``null``): a superset, cheap to compute over a batch; ``_text`` decides on what it keeps."""
    numbers = asked.numbers
    kind = column.type
    if _is_string(kind):
        trimmed = pc.utf8_trim_whitespace(column)
        mask = pc.is_in(trimmed, value_set=asked.texts.cast(kind))
        if numbers:
            ascii_number = pc.fill_null(pc.match_substring_regex(trimmed, _ASCII_NUMBER), False)
            as_float = pc.cast(pc.if_else(ascii_number, trimmed, pa.scalar(None, kind)), pa.float64())
            other = pc.and_not(pc.fill_null(pc.match_substring_regex(trimmed, _OTHER_NUMBER), False), ascii_number)
            mask = pc.or_(pc.or_(mask, pc.fill_null(pc.is_in(as_float, value_set=numbers), False)), other)
    elif pa.types.is_integer(kind) or pa.types.is_floating(kind):
        as_float = pc.cast(column, pa.float64())
        mask = pc.or_(pc.is_in(as_float, value_set=numbers), pc.invert(pc.is_finite(as_float)))
    else:  # dates, decimals, booleans …: every cell is a candidate, as every cell was before
        mask = pc.is_valid(column)
    mask = pc.fill_null(mask, False)
    return pc.or_(mask, pc.is_null(column)) if null else mask


def _numbers(values: set[str]) -> pa.Array:
    """The values that read as finite numbers, as floats (0 as both zeros: a hash tells them apart)."""
    numbers = set()
    for v in values:
        try:
            number = float(v)
        except ValueError:
            continue
        if math.isfinite(number):
            numbers.add(number)
    zeros = [-0.0] if 0.0 in numbers else []  # a Python set holds one zero, Arrow's hash tells two
    return pa.array(sorted(numbers) + zeros, type=pa.float64())


def _is_string(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


Tabled = tuple[pa.Table, dict[str, set[str]]]  # a table, and each column's distinct cells as text


def check(out_dir: Path, logs: str, source: Source, *, max_bytes: int, max_row_overlap: float,
          withheld: list[dict] = ()) -> Verdict:
    """Check every file under ``out_dir`` and the logs; the verdict lists each problem found.

    ``withheld``: files (name, bytes) a remote pool kept because they were over the cap: counted, not read."""
    verdict = Verdict()
    for f in withheld:
        verdict.files.append({"name": f["name"], "bytes": f["bytes"]})
        verdict.total_bytes += f["bytes"]
    files = sorted(p for p in out_dir.rglob("*") if p.is_file() or p.is_symlink()) if out_dir.exists() else []
    verdict._names = [str(p.relative_to(out_dir)) for p in files]
    for path in files:
        name = str(path.relative_to(out_dir))
        if path.is_symlink():  # a link could point at the vault: release plain files only
            verdict.refuse("job.output_not_a_file", name, "outputs must be plain files, not links")
            continue
        size = path.stat().st_size
        verdict.files.append({"name": name, "bytes": size})
        verdict.total_bytes += size
    names = "\n".join(re.sub(r"[/_]", " ", str(p.relative_to(out_dir))) for p in files)
    verdict.total_bytes += len(logs.encode()) + len(names.encode())
    if verdict.total_bytes > max_bytes:
        verdict.refuse("job.output_too_large", "outputs",
                       f"outputs and logs are {verdict.total_bytes} bytes; the contract allows {max_bytes}")
        return verdict  # do not parse what is too large to release
    # what to check, in the order problems are reported: (where, text) or (where, table)
    items: list[tuple[str, str | Tabled]] = [("logs", logs), *_dumps("logs", _with_cells(_csv_table(logs))),
                                             ("file names", names), *_dumps("file names", _with_cells(_csv_table(names)))]
    for path in files:
        if path.is_symlink():
            continue
        name = str(path.relative_to(out_dir))
        tabled = _with_cells(_read_table(path))
        if tabled is not None:
            items += [*_dumps(name, tabled), (name, "\n".join(" ".join(v) for v in tabled[1].values()))]
        if path.suffix.lower() != ".parquet":
            items.append((name, path.read_bytes().decode("utf-8", errors="replace")))
    asked: set[str] = set()  # every value of every output, looked up in one pass over the source
    texts: dict[int, set[str]] = {}  # item -> the tokens of its text
    for i, (_, item) in enumerate(items):
        if isinstance(item, str):
            texts[i] = _tokens(item)
            asked |= texts[i]
        else:
            asked |= set().union(*item[1].values())
    found = source.where(asked)
    leaked = set().union(*(found[h] for h in source.hidden)) - \
        set().union(*(v for name, v in found.items() if name not in source.hidden))
    for i, (where, item) in enumerate(items):
        if i in texts:
            _check_text(verdict, where, item, texts[i] & leaked, source)
        else:
            _check_table(verdict, where, *item, found, source, max_row_overlap)
    return verdict


def _with_cells(table: pa.Table | None) -> Tabled | None:
    """The cells are made once: the text check and the rows check both use them."""
    return None if table is None else (table, {c: _cells(table[c]) for c in table.column_names})


def _dumps(where: str, tabled: Tabled | None) -> list[tuple[str, Tabled]]:
    """The table as an item for the rows check, if it has rows enough to be a dump."""
    return [(where, tabled)] if tabled is not None and tabled[0].num_rows >= MIN_DUMP_ROWS else []


def _tokens(text: str) -> set[str]:
    """The text forms of a text's tokens that are long enough to be searched."""
    return {t for t in map(_text, _TOKEN.findall(text)) if len(t.encode()) >= MIN_HIDDEN_LEN}


def _check_text(verdict: Verdict, where: str, text: str, leaked: set[str], source: Source) -> None:
    if not text or not source.hidden:
        return
    # values with spaces inside (an address) are not single tokens: look for them whole
    spaced = {v for v in source.spaced_hidden() if v in text}
    if spaced:  # not a leak when a column the buyer may release has it too
        spaced -= set().union(*(v for name, v in source.where(spaced).items() if name not in source.hidden))
    if leaked or spaced:
        verdict.refuse("job.output_hidden_value", where,
                       f"{len(leaked | spaced)} value(s) of hidden columns appear in {where}")


def _check_table(verdict: Verdict, where: str, table: pa.Table, cells: dict[str, set[str]],
                 found: dict[str, set[str]], source: Source, limit: float) -> None:
    matched: dict[str, str] = {}  # output column -> source column
    for name, values in cells.items():
        if not values:
            continue
        best = max(source.names, key=lambda s: len(values & found[s]))
        shared = len(values & found[best])  # (made-up values can lower the share, not the count)
        if (shared >= COLUMN_MATCH * len(values) or shared > MAX_RAW_ROWS) and best not in matched.values():
            matched[name] = best  # (one output column per source column: rows are projected on them)
    if len(set(matched.values())) < 2 or set(matched.values()) <= source.dimensions:
        return
    out_names = tuple(matched)
    src_names = tuple(matched[n] for n in out_names)
    out_rows = list(zip(*([_text(v) if v is not None else "" for v in table[n].to_pylist()] for n in out_names),
                        strict=True))
    rows = source.rows_found(src_names, set(out_rows))
    hits = sum(1 for row in out_rows if row in rows)
    if hits >= MIN_DUMP_ROWS and (hits > limit * table.num_rows or hits > MAX_RAW_ROWS):
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
    try:
        rows = list(csv.reader(io.StringIO("\n".join(lines[1:])), dialect))
    except csv.Error:  # a field past the csv module's limit: checked as text only
        return None
    width = max(len(r) for r in rows)
    if width < 2:
        return None
    rows = [r + [""] * (width - len(r)) for r in rows if len(r) <= width]
    return pa.table({f"c{i}": [r[i].strip() for r in rows] for i in range(width)})
