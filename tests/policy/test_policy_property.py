"""Property: for random allowed queries over random data, the engine equals the reference with
small groups removed, and no hidden value ever appears in an answer."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from policy_helpers import assert_same_rows, reference, write_parquet

from suanshu.policy import Policy, Sandbox, run_aggregate

CITIES = ["Beijing", "Shanghai", "Xi'an", None]
REGIONS = ["north", "south"]
AGGS = {  # SQL -> reference (kind, column)
    "count(*)": ("count", None),
    "count(income)": ("count", "income"),
    "sum(income)": ("sum", "income"),
    "avg(income)": ("avg", "income"),
    "sum(age)": ("sum", "age"),
    "avg(age)": ("avg", "age"),
    "count(DISTINCT region)": ("count_distinct", "region"),
}

row = st.fixed_dictionaries({
    "city": st.sampled_from(CITIES),
    "region": st.sampled_from(REGIONS),
    "age": st.integers(0, 100),
    "income": st.one_of(st.none(), st.integers(-1_000, 1_000_000)),
})  # fmt: skip


@st.composite
def dataset(draw):
    rows = draw(st.lists(row, max_size=80))
    for i, r in enumerate(rows):  # hidden columns carry values we can search for in answers
        r.update(id_code=f"id-{i}", name=f"HIDDEN-NAME-{i}", ssn=f"HIDDEN-SSN-{i}")
    return rows


@st.composite
def query(draw):
    dims = draw(st.lists(st.sampled_from(["city", "region"]), unique=True, max_size=2))
    aggs = draw(st.lists(st.sampled_from(sorted(AGGS)), unique=True, min_size=1, max_size=4))
    where = draw(st.one_of(st.none(), st.tuples(st.sampled_from(["city", "region"]),
                                                st.sampled_from(["Beijing", "Xi'an", "north", "nowhere"]))))  # fmt: skip
    return dims, aggs, where


def to_sql(dims, aggs, where) -> str:
    sql = f"SELECT {', '.join(dims + aggs)} FROM people"
    if where:
        literal = where[1].replace("'", "''")
        sql += f" WHERE {where[0]} = '{literal}'"
    if dims:
        sql += f" GROUP BY {', '.join(dims)}"
    return sql


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=dataset(), q=query(), k=st.integers(2, 8))
def test_random_allowed_queries_match_reference_and_never_leak(rows, q, k):
    dims, aggs, where = q
    policy = Policy.from_dict({
        "mode": "aggregate", "table": "people",
        "columns": {"city": "dimension", "region": "dimension", "age": "aggregate", "income": "aggregate",
                    "name": "hidden", "id_code": "hidden"},
        "aggregates": ["count", "sum", "avg", "count_distinct"], "min_group_size": k,
    })  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        path = write_parquet(rows, Path(tmp) / "people.parquet")
        with Sandbox({"people": path}, views={"people": 'SELECT * FROM vault."people"'}) as box:
            answer = run_aggregate(box, policy, to_sql(dims, aggs, where))

    expected = reference(rows, dims, [AGGS[a] for a in aggs], where=where, k=k)
    assert_same_rows(answer.rows, expected)

    # every output row stands for at least k input rows
    filtered = [r for r in rows if where is None or r[where[0]] == where[1]]
    for out in answer.rows:
        key = out[: len(dims)]
        assert sum(1 for r in filtered if tuple(r[d] for d in dims) == key) >= k
    # no hidden value, anywhere
    text = repr(answer)
    assert "HIDDEN-" not in text and "id-" not in text
