"""k-anonymity of a set of quasi-identifier columns (Sweeney 2002; GB/T 37964-2019 §6).

A table is k-anonymous over quasi-identifiers Q when every combination of Q's values that occurs
is shared by at least k rows: then a record cannot be singled out by Q alone (an attacker who
knows a person's birth year, district and sex). ``k`` is the size of the smallest equivalence
class. NULL is a value like any other here (it groups with the other NULLs).

DuckDB groups the data, so a 2 GB Parquet file is counted in bounded memory (it spills).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from suanshu.core.errors import UsageError

THRESHOLDS = (2, 5, 10)  # common targets; the report says how many rows sit below each


def _quote(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


def k_anonymity(data: pa.Table | Path | str, columns: list[str], *, smallest: int = 5) -> dict:
    """``{"columns", "rows", "classes", "k", "rows_below": {"2": n, "5": n, "10": n},
    "smallest_classes": [{"values": {...}, "rows": n}, ...]}``."""
    if not columns:
        raise UsageError("scan.bad_quasi_identifiers", "name at least one quasi-identifier column")
    con = duckdb.connect()
    try:
        if isinstance(data, pa.Table):
            con.register("t", data)
            names = data.schema.names
        else:
            con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{str(data).replace(chr(39), chr(39) * 2)}')")
            names = [d[0] for d in con.execute("SELECT * FROM t LIMIT 0").description]
        missing = [c for c in columns if c not in names]
        if missing:
            raise UsageError("scan.bad_quasi_identifiers",
                             f"no column(s) {', '.join(missing)}; the table has {', '.join(names)}")
        cols = ", ".join(_quote(c) for c in columns)
        con.execute(f"CREATE TEMP TABLE classes AS SELECT {cols}, count(*) AS n FROM t GROUP BY ALL")
        rows, classes, k = con.execute("SELECT coalesce(sum(n), 0), count(*), min(n) FROM classes").fetchone()
        below = {str(th): int(con.execute("SELECT coalesce(sum(n), 0) FROM classes WHERE n < ?",
                                          [th]).fetchone()[0]) for th in THRESHOLDS}
        small = con.execute(f"SELECT {cols}, n FROM classes ORDER BY n, {cols} LIMIT {int(smallest)}").fetchall()
    finally:
        con.close()
    return {
        "columns": columns,
        "rows": int(rows),
        "classes": int(classes),
        "k": int(k) if k is not None else 0,
        "rows_below": below,
        "smallest_classes": [{"values": {c: _plain(v) for c, v in zip(columns, row[:-1], strict=True)},
                              "rows": int(row[-1])} for row in small],
    }


def _plain(value):
    return value if value is None or isinstance(value, int | float | str | bool) else str(value)
