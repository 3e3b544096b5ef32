"""Quality profile of a column, built batch by batch: nulls, distinct values, duplicates, type
conformity, min/max for numbers.

Distinct values are counted exactly up to ``DISTINCT_CAP`` per column (the set of values seen is
the only state that grows); past it the set is dropped, so memory stays bounded on a 2 GB file.
A scan of a Parquet file then counts those columns exactly with DuckDB, which spills to disk
(``exact_distinct``); elsewhere the count is a lower bound and ``distinct_exact`` is false.

Type conformity: the share of non-null cells of the column's dominant kind. For text columns the
kind is read from the text (integer, decimal, date, or — when a detector labels most cells — that
type, e.g. CN_MOBILE); typed Arrow columns conform by construction.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

DISTINCT_CAP = 20_000
DISTINCT_MEMORY = "256MB"  # DuckDB's limit for the exact counts past the cap (it spills beyond)
_KINDS = {  # RE2, whole cell
    "integer": r"[-+]?[0-9]+",
    "decimal": r"[-+]?[0-9]*\.[0-9]+",
    "date": r"[0-9]{4}[-/.年][0-9]{1,2}[-/.月][0-9]{1,2}日?(?:[ T][0-9:.]+)?",
}
# Anchored, each pattern fails at the first character of most cells: three such passes cost less
# than one extract_regex with a group per kind; and only cells that start like a number or a
# date (one pass) get them.
_KIND_RES = {k: r"^\s*" + p + r"\s*$" for k, p in _KINDS.items()}
_NUMERIC_START = r"^\s*[-+.0-9]"


class Profile:
    def __init__(self) -> None:
        self.rows = self.nulls = 0
        self.values: pa.Array | None = None  # the distinct values seen, while exact
        self.exact = True
        self.kinds: Counter = Counter()
        self.arrow_type: str | None = None
        self.min = self.max = None
        self.seen = 0  # distinct values seen before the set was dropped
        self.distinct: int | None = None  # set from outside when counted exactly elsewhere

    def add(self, column: pa.Array, encoded: pa.DictionaryArray | None = None) -> None:
        """Count a batch's column in. ``encoded``: the string column dictionary-encoded (the
        scan has it for a column that repeats its values): the distinct values are its
        dictionary, and the text kinds are read from them, each counted as often as it occurs."""
        self.merge(Profile.of(column, encoded, distinct=self.exact))

    @classmethod
    def of(cls, column: pa.Array, encoded: pa.DictionaryArray | None = None, *,
           distinct: bool = True, text: pa.Array | None = None) -> Profile:
        """One batch's profile, to ``merge`` into the column's (a scan worker makes these). Its
        distinct values are all kept, uncapped (the cap applies to the merged set), or not
        looked for at all when ``distinct`` is false (the column's set was dropped already).
        ``text``: the column's text form, whose distinct values stand for a nested column's
        (lists, structs and maps have no hash kernel)."""
        one = cls()
        one.rows, one.nulls, one.arrow_type = len(column), column.null_count, str(column.type)
        if distinct:
            # distinct values stay in Arrow (hashing in C++, no Python object per value)
            hashable = text if pa.types.is_nested(column.type) and text is not None else column
            one.values = encoded.dictionary if encoded is not None else pc.unique(hashable.drop_null())
        else:
            one.exact = False
        if pa.types.is_integer(column.type) or pa.types.is_floating(column.type) \
                or pa.types.is_decimal(column.type):
            mm = pc.min_max(column)
            one.min, one.max = mm["min"].as_py(), mm["max"].as_py()
        elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            if encoded is None:
                one._count_kinds(column, None)
            else:
                codes = encoded.indices.drop_null().to_numpy(zero_copy_only=False)
                one._count_kinds(encoded.dictionary, np.bincount(codes, minlength=len(encoded.dictionary)))
        return one

    def merge(self, batch: Profile) -> None:
        """Count in a later batch's profile (``of``), as ``add`` would have counted its column."""
        self.rows += batch.rows
        self.nulls += batch.nulls
        self.arrow_type = batch.arrow_type
        self.kinds.update(batch.kinds)
        if batch.min is not None:
            self.min = batch.min if self.min is None else min(self.min, batch.min)
            self.max = batch.max if self.max is None else max(self.max, batch.max)
        if self.exact:
            fresh = batch.values
            self.values = fresh if self.values is None else pc.unique(pa.concat_arrays(
                [self.values, fresh.cast(self.values.type)]))
            if len(self.values) > DISTINCT_CAP:
                self.exact = False
                self.seen = len(self.values)
                self.values = None

    def _count_kinds(self, cells: pa.Array, weights: np.ndarray | None) -> None:
        """Cells of each text kind; ``weights``: how many cells each of ``cells`` stands for."""
        start = _numeric_start(cells)
        numeric = cells.filter(start)
        if not len(numeric):
            return
        if weights is not None:
            weights = weights[start.to_numpy(zero_copy_only=False)]  # (a dictionary has no nulls)
        # the kinds exclude each other (an integer has no separator, a decimal one ".", a date
        # two): decimals and dates are looked for among the cells that are not integers
        integer = pc.match_substring_regex(numeric, _KIND_RES["integer"])
        self.kinds["integer"] += _count(integer, weights)
        rest = numeric.filter(pc.invert(integer))
        if weights is not None:
            weights = weights[~integer.to_numpy(zero_copy_only=False)]
        self.kinds["decimal"] += _count(pc.match_substring_regex(rest, _KIND_RES["decimal"]), weights)
        self.kinds["date"] += _count(_real_dates(rest), weights)

    def result(self, types: list[dict]) -> dict:
        non_null = self.rows - self.nulls
        exact = self.exact or self.distinct is not None
        distinct = (len(self.values) if self.values is not None else 0) if self.exact else self.distinct if self.distinct is not None else self.seen
        kind, conforming = self._dominant(types, non_null)
        out = {
            "nulls": self.nulls,
            "null_ratio": round(self.nulls / self.rows, 4) if self.rows else 0.0,
            "distinct": distinct,
            "distinct_exact": exact,
            "duplicates": non_null - distinct if exact else None,
            "kind": kind,
            "conformity": round(conforming / non_null, 4) if non_null else 1.0,
        }
        if self.min is not None:
            out |= {"min": _plain(self.min), "max": _plain(self.max)}
        return out

    def _dominant(self, types: list[dict], non_null: int) -> tuple[str, int]:
        if self.arrow_type not in ("string", "large_string"):
            return self.arrow_type or "null", non_null
        if types and types[0]["ratio"] >= 0.5:  # a column of identifiers: conform = detected
            return types[0]["type"], types[0]["cells"]
        kind, n = max(self.kinds.items(), key=lambda kv: kv[1], default=("text", 0))
        if n * 2 < non_null:
            return "text", non_null  # free text: every non-null cell is text
        return kind, n


# First bytes of a cell that starts like a number or a date ([-+.0-9]), and of cells that start
# with RE2's \\s ([\\t\\n\\f\\r ]), whose first non-space byte the regex itself looks at.
_START_BYTE = np.zeros(256, dtype=bool)
_START_BYTE[np.frombuffer(b"-+.0123456789", dtype=np.uint8)] = True
_SPACE_BYTE = np.zeros(256, dtype=bool)
_SPACE_BYTE[np.frombuffer(b"\t\n\f\r ", dtype=np.uint8)] = True


def _numeric_start(column: pa.Array) -> pa.Array:
    """``match_substring_regex(column, _NUMERIC_START)`` from each cell's first byte (a table
    lookup instead of a regex pass over the column); the regex only for cells that start with
    whitespace. Null for a null cell, as the kernel gives."""
    _, off_buf, data_buf = column.buffers()
    if data_buf is None or not len(column):
        return pc.match_substring_regex(column, _NUMERIC_START)
    kind = np.int64 if pa.types.is_large_string(column.type) else np.int32
    offsets = np.frombuffer(off_buf, dtype=kind)[column.offset:column.offset + len(column) + 1]
    starts = offsets[:-1]
    nonempty = offsets[1:] > starts
    first = np.zeros(len(column), dtype=np.uint8)
    first[nonempty] = np.frombuffer(data_buf, dtype=np.uint8)[starts[nonempty]]
    ok = _START_BYTE[first]
    spaced = np.flatnonzero(_SPACE_BYTE[first] & nonempty)
    if len(spaced):
        ok[spaced] = pc.match_substring_regex(column.take(pa.array(spaced)), _NUMERIC_START).to_numpy(
            zero_copy_only=False).astype(bool)
    valid = None if not column.null_count else column.is_valid().to_numpy(zero_copy_only=False)
    return pa.array(ok, mask=None if valid is None else ~valid)


_DATE_PARTS = r"^\s*(?P<y>[0-9]{4})[-/.年](?P<m>[0-9]{1,2})[-/.月](?P<d>[0-9]{1,2})日?(?:[ T][0-9:.]+)?\s*$"
_MONTH_DAYS = np.array([0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _real_dates(cells: pa.Array) -> pa.Array:
    """Cells written as a date (``_KINDS["date"]``) that name a day of the calendar: 2020-13-01
    and 2021-02-29 look like dates and are not."""
    # a DFA pass first: the parts are cut out only of the cells that look like dates (5x its cost)
    found = pc.fill_null(pc.match_substring_regex(cells, _KIND_RES["date"]), False).to_numpy(zero_copy_only=False)
    if not found.any():
        return pa.array(found)
    parts = pc.extract_regex(cells.filter(pa.array(found)), _DATE_PARTS)
    found = found.copy()
    y, m, d = (pc.cast(parts.field(k), pa.int32()).to_numpy() for k in "ymd")
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    month_ok = (m >= 1) & (m <= 12)
    last = np.where((m == 2) & ~leap, 28, _MONTH_DAYS[np.where(month_ok, m, 0)])
    found[found] = month_ok & (d >= 1) & (d <= last)
    return pa.array(found)


def _count(mask: pa.Array, weights: np.ndarray | None) -> int:
    """True cells of a mask, or the sum of their weights."""
    if weights is None:
        return pc.sum(mask).as_py() or 0
    return int(weights[mask.to_numpy(zero_copy_only=False)].sum())


def _plain(value):
    return value if isinstance(value, int | float) else str(value)


def exact_distinct(parquet_path, columns: list[str]) -> dict[str, int]:
    """Exact distinct counts of some columns of a Parquet file, in DuckDB, in bounded memory: one
    column at a time as a ``SELECT DISTINCT`` (a grouping, which DuckDB spills to a temporary
    directory past ``DISTINCT_MEMORY``; ``count(DISTINCT …)`` over all the columns at once cannot
    spill and took ~0.7 GB at the end of a 2 GB scan)."""
    import tempfile

    import duckdb

    if not columns:
        return {}
    path = str(parquet_path).replace("'", "''")
    out = {}
    with tempfile.TemporaryDirectory(prefix="suanshu-distinct-") as tmp, \
            duckdb.connect(config={"temp_directory": tmp, "memory_limit": DISTINCT_MEMORY,
                                   "autoinstall_known_extensions": False,
                                   "autoload_known_extensions": False}) as con:
        for c in columns:
            col = '"' + c.replace('"', '""') + '"'
            out[c] = int(con.execute(f"SELECT count(*) FROM (SELECT DISTINCT {col} FROM read_parquet('{path}') "
                                     f"WHERE {col} IS NOT NULL)").fetchone()[0])
    return out
