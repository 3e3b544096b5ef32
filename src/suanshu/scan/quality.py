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

import pyarrow as pa
import pyarrow.compute as pc

DISTINCT_CAP = 20_000
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

    def add(self, column: pa.Array) -> None:
        self.rows += len(column)
        self.nulls += column.null_count
        self.arrow_type = str(column.type)
        if self.exact:
            # distinct values stay in Arrow (hashing in C++, no Python object per value)
            fresh = pc.unique(column.drop_null())
            self.values = fresh if self.values is None else pc.unique(pa.concat_arrays(
                [self.values, fresh.cast(self.values.type)]))
            if len(self.values) > DISTINCT_CAP:
                self.exact = False
                self.seen = len(self.values)
                self.values = None
        if pa.types.is_integer(column.type) or pa.types.is_floating(column.type) \
                or pa.types.is_decimal(column.type):
            mm = pc.min_max(column)
            lo, hi = mm["min"].as_py(), mm["max"].as_py()
            if lo is not None:
                self.min = lo if self.min is None else min(self.min, lo)
                self.max = hi if self.max is None else max(self.max, hi)
        elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            numeric = column.filter(pc.match_substring_regex(column, _NUMERIC_START))
            if len(numeric):
                for kind, pattern in _KIND_RES.items():
                    self.kinds[kind] += pc.sum(pc.match_substring_regex(numeric, pattern)).as_py() or 0

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


def _plain(value):
    return value if isinstance(value, int | float) else str(value)


def exact_distinct(parquet_path, columns: list[str]) -> dict[str, int]:
    """Exact distinct counts of some columns of a Parquet file, in DuckDB (bounded memory: it
    spills to a temporary directory)."""
    import duckdb

    if not columns:
        return {}
    path = str(parquet_path).replace("'", "''")
    exprs = ", ".join('count(DISTINCT "' + c.replace('"', '""') + '")' for c in columns)
    with duckdb.connect() as con:
        con.execute("SET memory_limit = '1GB'")
        row = con.execute(f"SELECT {exprs} FROM read_parquet('{path}')").fetchone()
    return dict(zip(columns, map(int, row), strict=True))
