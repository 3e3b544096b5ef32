"""Seeded test data and a pure-Python reference for governed aggregate queries."""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pytest
import pyarrow.parquet as pq

from suanshu.policy import Policy

SCHEMA = pa.schema([
    ("city", pa.string()), ("region", pa.string()), ("id_code", pa.string()),
    ("age", pa.int64()), ("income", pa.int64()), ("name", pa.string()), ("ssn", pa.string()),
])  # fmt: skip
CITY_SIZES = {"Beijing": 180, "Shanghai": 140, "Shenzhen": 90, "Hangzhou": 40, "Lhasa": 6}  # Lhasa < k
REGION = {"Beijing": "north", "Shanghai": "east", "Shenzhen": "south", "Hangzhou": "east", "Lhasa": "west"}
K = 10

POLICY_DICT = {
    "mode": "aggregate",
    "table": "customers",
    # ssn is deliberately unlisted: unlisted columns are hidden
    "columns": {"city": "dimension", "region": "dimension", "id_code": "dimension",
                "age": "aggregate", "income": "aggregate", "name": "hidden"},  # fmt: skip
    "aggregates": ["count", "sum", "avg", "count_distinct"],
    "min_group_size": K,
}


def policy(**overrides) -> Policy:
    return Policy.from_dict({**POLICY_DICT, **overrides})


def make_customers(seed: int = 20240501) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for city, size in CITY_SIZES.items():
        for _ in range(size):
            i = len(rows)
            rows.append({
                "city": city, "region": REGION[city], "id_code": f"ID-{i:04d}",
                "age": rng.randint(18, 80),
                "income": None if rng.random() < 0.05 else rng.randint(2_000, 90_000),
                "name": f"secret-name-{i:04d}", "ssn": f"secret-ssn-{i:04d}",
            })  # fmt: skip
    rng.shuffle(rows)
    return rows


def write_parquet(rows: list[dict], path: Path) -> Path:
    columns = {field.name: [row[field.name] for row in rows] for field in SCHEMA}
    pq.write_table(pa.table(columns, schema=SCHEMA), path)
    return path


def _aggregate(kind: str, column: str | None, group: list[dict]):
    values = [r[column] for r in group] if column else None
    if kind == "count":
        return len(group) if column is None else sum(v is not None for v in values)
    present = [v for v in values if v is not None]
    if kind == "count_distinct":
        return len(set(present))
    if not present:
        return None
    if kind == "sum":
        return sum(present)
    if kind == "avg":
        return sum(present) / len(present)
    raise ValueError(kind)


def reference(rows, dims, aggs, *, where=None, k=K) -> list[tuple]:
    """Rows of SELECT dims..., aggs... FROM rows [WHERE col = value] GROUP BY dims, minus groups < k.

    aggs: (kind, column or None) with kind in count/sum/avg/count_distinct."""
    if where is not None:
        col, value = where
        rows = [r for r in rows if r[col] is not None and r[col] == value]
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[tuple(r[d] for d in dims)].append(r)
    if not dims:  # a global aggregate always has exactly one group, possibly empty
        groups = {(): rows}
    out = []
    for key, group in groups.items():
        if len(group) >= k:
            out.append(key + tuple(_aggregate(kind, col, group) for kind, col in aggs))
    return out


def assert_same_rows(actual, expected) -> None:
    """Order-independent equality of results; floats compared with a relative tolerance."""
    def key(row):  # floats are left out of the sort key so rounding cannot reorder rows
        return repr(tuple(None if isinstance(v, float) else v for v in row))

    actual, expected = sorted(actual, key=key), sorted(expected, key=key)
    assert len(actual) == len(expected), (actual, expected)
    for a_row, e_row in zip(actual, expected, strict=True):
        assert len(a_row) == len(e_row)
        for a, e in zip(a_row, e_row, strict=True):
            if isinstance(e, float):
                assert a == pytest.approx(e, rel=1e-9, abs=1e-9), (a_row, e_row)
            else:
                assert a == e and type(a) is type(e), (a_row, e_row)
