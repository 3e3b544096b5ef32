"""Property: for random allowed queries over random data, the engine equals the reference with
small groups removed, and no hidden value ever appears in an answer."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
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


LOW, HIGH = 0, 50_000  # dp bounds for income; age gets [10, 60]
DP_AGGS = {"count(*)": ("count", None), "count(income)": ("count", "income"), "sum(income)": ("sum", "income"),
           "avg(income)": ("avg", "income"), "sum(age)": ("sum", "age"), "avg(age)": ("avg", "age")}  # fmt: skip
BOUNDS = {"income": (LOW, HIGH), "age": (10, 60)}


@st.composite
def dp_query(draw):
    dims = draw(st.lists(st.sampled_from(["city", "region"]), unique=True, max_size=2))
    aggs = draw(st.lists(st.sampled_from(sorted(DP_AGGS)), unique=True, min_size=1, max_size=4))
    where = draw(st.one_of(st.none(), st.tuples(st.sampled_from(["city", "region"]),
                                                st.sampled_from(["Beijing", "north", "nowhere"]))))  # fmt: skip
    return dims, aggs, where


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=dataset(), q=dp_query(), k=st.integers(2, 8))
def test_dp_measurements_match_the_clamped_reference_before_noise(rows, q, k):
    """dp mode: what the noise is added to equals the reference over clamped values; no small
    group and no hidden value reaches the answer."""
    from suanshu.policy import guard, run_dp

    dims, aggs, where = q
    policy = Policy.from_dict({
        "mode": "dp", "table": "people", "min_group_size": k, "aggregates": ["count", "sum", "avg"],
        "columns": {"city": "dimension", "region": "dimension", "age": "aggregate", "income": "aggregate",
                    "name": "hidden", "id_code": "hidden"},
        "dp": {"epsilon_per_query": 1.0, "epsilon_total": 10.0, "bounds": {c: list(b) for c, b in BOUNDS.items()}},
    })  # fmt: skip
    sql = to_sql(dims, aggs, where)
    guarded = guard(sql, policy)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_parquet(rows, Path(tmp) / "people.parquet")
        with Sandbox({"people": path}, views={"people": 'SELECT * FROM vault."people"'}) as box:
            measured = box.execute(guarded.sql).rows
            answer = run_dp(box, policy, sql)

    clamped = [{**r, **{c: None if r[c] is None else min(max(r[c], lo), hi) for c, (lo, hi) in BOUNDS.items()}}
               for r in rows]  # fmt: skip
    expected = reference(clamped, dims, [DP_AGGS[a] for a in aggs], where=where, k=k)
    before_noise = []
    for row in measured:
        out = []
        for o in guarded.dp_outputs:
            values = [row[i] for i in o.source]
            if o.kind in ("key", "count"):
                out.append(values[0])
            elif o.kind == "sum":
                out.append(None if values[0] is None else float(values[0] * o.grid.gamma))
            else:
                out.append(None if values[1] == 0 else float(values[0] * o.grid.gamma) / values[1])
        before_noise.append(tuple(out))
    # integer data on a grid finer than 1: quantisation is exact, so equality is exact (up to float)
    expected = [tuple(float(v) if kind in ("sum", "avg") and v is not None else v
                      for v, kind in zip(row, ["key"] * len(dims) + [DP_AGGS[a][0] for a in aggs], strict=True))
                for row in expected]  # fmt: skip
    assert_same_rows(before_noise, expected)
    assert len(answer.rows) == len(expected) and "HIDDEN-" not in repr(answer)
    assert all(size >= k for size in (row[-1] for row in measured))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=dataset(), where=st.one_of(st.none(), st.sampled_from(["Beijing", "Xi'an"])), cap=st.integers(1, 50))
def test_extract_rows_match_the_data_and_never_leak(rows, where, cap):
    from suanshu.policy import run_extract

    policy = Policy.from_dict({"mode": "extract", "table": "people", "max_rows": cap,
                               "columns": {"city": "dimension", "age": "aggregate", "name": "hidden"}})  # fmt: skip
    sql = "SELECT city, age FROM people" + ("" if where is None else f" WHERE city = '{where.replace(chr(39), chr(39) * 2)}'")
    with tempfile.TemporaryDirectory() as tmp:
        path = write_parquet(rows, Path(tmp) / "people.parquet")
        with Sandbox({"people": path}, views={"people": 'SELECT * FROM vault."people"'}) as box:
            answer = run_extract(box, policy, sql + " ORDER BY age, city NULLS FIRST")
    matching = [(r["city"], r["age"]) for r in rows if where is None or r["city"] == where]
    expected = sorted(matching, key=lambda t: (t[1], t[0] is not None, t[0] or ""))[:cap]
    assert answer.rows == expected and answer.truncated == (len(matching) > cap)
    assert "HIDDEN-" not in repr(answer) and "id-" not in repr(answer)


# --- random SQL over every column, hidden ones included ---------------------------------------
# Fragments the generator combines freely; many combinations are refused, and that is fine. For
# every combination the guard allows, the answer must equal plain DuckDB running the buyer's own
# SQL on the raw table with the groups below k removed, and no hidden value may appear.
WILD_SELECT = ["city", "region", "lower(city) AS lc", "name", "ssn", "age", "count(*)", "count(name)",
               "sum(income)", "avg(age)", "max(income)", "count(DISTINCT region)", "count(DISTINCT id_code)",
               "sum(CASE WHEN region = 'north' THEN income END)", "CASE WHEN name LIKE 'H%' THEN 1 ELSE 0 END",
               "coalesce(city, 'none') AS c2", "upper(region) AS ur", "people.city"]  # fmt: skip
WILD_WHERE = ["city = 'Beijing'", "region <> 'south'", "name = 'HIDDEN-NAME-1'", "income > 10", "city = region",
              "lower(city) LIKE 'b%'", "id_code IS NOT NULL", "city IN ('Beijing', 'Xi''an') OR region = 'north'",
              "NOT (region = 'north')"]  # fmt: skip
WILD_GROUP = ["city", "region", "lower(city)", "lc", "name", "1", "coalesce(city, 'none')", "upper(region)"]
WILD_HAVING = ["count(*) > 3", "sum(income) > 100", "max(name) > 'a'", "region = 'north'", "lc <> 'x'",
               "avg(age) / count(*) < 50"]  # fmt: skip


# The same fragments, paired so that half the queries are well-formed (keys grouped, only
# allowed columns): without this, most random combinations stop at the first hidden column.
TIDY_KEYS = [("city", "city"), ("region", "region"), ("lower(city) AS lc", "lc"), ("people.city", "1"),
             ("coalesce(city, 'none') AS c2", "coalesce(city, 'none')"), ("upper(region) AS ur", "upper(region)")]
TIDY_AGGS = ["count(*)", "count(income)", "sum(income)", "avg(age)", "count(DISTINCT region)"]
TIDY_WHERE = [w for w in WILD_WHERE if not any(c in w for c in ("name", "income", "id_code", "= region"))]
TIDY_HAVING = ["count(*) > 3", "sum(income) > 100", "avg(age) / count(*) < 50", "count(*) >= 2 OR sum(income) < 0"]


@st.composite
def wild_query(draw) -> str:
    if draw(st.booleans()):  # anything goes
        items = draw(st.lists(st.sampled_from(WILD_SELECT), unique=True, min_size=1, max_size=4))
        group = draw(st.lists(st.sampled_from(WILD_GROUP), unique=True, max_size=2))
        where_pool, having_pool = WILD_WHERE, WILD_HAVING
    else:  # tidy
        keys = draw(st.lists(st.sampled_from(TIDY_KEYS[:3]), unique=True, max_size=2)
                    | st.lists(st.sampled_from(TIDY_KEYS[3:]), unique=True, max_size=1))
        aggs = draw(st.lists(st.sampled_from(TIDY_AGGS), unique=True, min_size=1, max_size=3))
        items = [item for item, _ in keys] + aggs
        group = [key for _, key in keys]
        where_pool, having_pool = TIDY_WHERE, TIDY_HAVING
    sql = f"SELECT {', '.join(items)} FROM people"
    if draw(st.booleans()):
        sql += " WHERE " + " AND ".join(draw(st.lists(st.sampled_from(where_pool), min_size=1, max_size=2)))
    if group:
        sql += " GROUP BY " + ", ".join(group)
    if draw(st.booleans()):
        sql += " HAVING " + draw(st.sampled_from(having_pool))
    return sql


WILD_POLICY = {
    "mode": "aggregate", "table": "people",
    "columns": {"city": "dimension", "region": "dimension", "age": "aggregate", "income": "aggregate",
                "name": "hidden", "id_code": "hidden"},  # ssn is unlisted, so hidden too
    "aggregates": ["count", "sum", "avg", "count_distinct"],
}  # fmt: skip


def _raw_with_group_sizes(path: Path, sql: str, con=None) -> list[tuple]:
    """The buyer's SQL as written, on a plain DuckDB over the raw file, plus each row's group size."""
    import duckdb
    import sqlglot

    tree = sqlglot.parse_one(sql, read="duckdb").select("count(*) AS __n", copy=True)
    con = con or duckdb.connect()
    con.execute(f"CREATE VIEW people AS SELECT * FROM read_parquet('{path}')")
    try:
        return con.execute(tree.sql(dialect="duckdb")).fetchall()
    finally:
        con.close()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=dataset(), sql=wild_query(), k=st.integers(2, 8))
def test_random_sql_is_refused_or_answers_exactly_the_large_groups(rows, sql, k):
    from suanshu.core.errors import Refused

    policy = Policy.from_dict({**WILD_POLICY, "min_group_size": k})
    with tempfile.TemporaryDirectory() as tmp:
        path = write_parquet(rows, Path(tmp) / "people.parquet")
        with Sandbox({"people": path}, views={"people": 'SELECT * FROM vault."people"'}) as box:
            try:
                answer = run_aggregate(box, policy, sql)
            except Refused as e:  # refusals are allowed outcomes, but only for the guard's reasons
                event(e.code)
                assert e.code.startswith("query.") and e.code != "query.output_check_failed", (sql, e)
                return
        raw = _raw_with_group_sizes(path, sql)
    event("answered")
    expected = [row[:-1] for row in raw if row[-1] >= k]
    assert_same_rows(answer.rows, expected)
    assert "HIDDEN-" not in repr(answer.rows) and "id-" not in repr(answer.rows)


def test_the_random_sql_fragments_reach_both_outcomes():
    """The generator is not vacuous: among its fragments, some queries pass and some are refused."""
    from suanshu.core.errors import Refused
    from suanshu.policy import guard

    policy = Policy.from_dict({**WILD_POLICY, "min_group_size": 3})
    outcomes = set()
    for item in WILD_SELECT:
        for group in ("", " GROUP BY city", " GROUP BY 1"):
            try:
                guard(f"SELECT {item}, count(*) FROM people{group}", policy)
                outcomes.add("ok")
            except Refused:
                outcomes.add("refused")
    assert outcomes == {"ok", "refused"}


# --- joins with the analyst's own table ---------------------------------------------------------
JOIN_KEYS = [("m.segment", "m.segment"), ("p.city", "p.city"), ("lower(m.segment) AS ls", "ls"), ("p.region", "p.region")]
JOIN_AGGS = ["count(*)", "sum(p.income)", "avg(p.age)", "count(DISTINCT m.segment)", "count(p.income)"]
JOIN_WHERE = ["m.segment = 'a'", "p.city <> 'Beijing'", "m.segment IN ('a', 'b') OR p.region = 'north'"]


@st.composite
def join_case(draw):
    rows = draw(dataset())
    # the analyst knows some of the hidden keys (and some the provider does not have), one row each
    known = draw(st.lists(st.integers(0, 90), unique=True, max_size=60))
    mine = [(f"HIDDEN-SSN-{i}", draw(st.sampled_from(["a", "b", "c"]))) for i in known]
    keys = draw(st.lists(st.sampled_from(JOIN_KEYS), unique=True, max_size=2))
    aggs = draw(st.lists(st.sampled_from(JOIN_AGGS), unique=True, min_size=1, max_size=3))
    sql = (f"SELECT {', '.join([k for k, _ in keys] + aggs)} FROM people p JOIN mine m ON p.ssn = m.key"
           + (f" WHERE {draw(st.sampled_from(JOIN_WHERE))}" if draw(st.booleans()) else "")
           + (f" GROUP BY {', '.join(g for _, g in keys)}" if keys else ""))
    return rows, mine, sql


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=join_case(), k=st.integers(2, 6))
def test_random_joins_answer_exactly_the_groups_with_enough_source_rows(case, k):
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    from suanshu.policy import own_tables

    rows, mine, sql = case
    policy = Policy.from_dict({**WILD_POLICY, "columns": {**WILD_POLICY["columns"], "ssn": "join"},
                               "min_group_size": k})  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        path = write_parquet(rows, Path(tmp) / "people.parquet")
        own_path = Path(tmp) / "mine.parquet"
        pq.write_table(pa.table({"key": pa.array([m[0] for m in mine], pa.string()),
                                 "segment": pa.array([m[1] for m in mine], pa.string())}), own_path)  # fmt: skip
        views = {"people": 'SELECT * FROM vault."people"', "mine": 'SELECT * FROM vault."mine"'}
        with Sandbox({"people": path, "mine": own_path}, views=views) as box:
            answer = run_aggregate(box, policy, sql, own=own_tables(box, ["mine"]))
        con = duckdb.connect()
        con.execute(f"CREATE VIEW mine AS SELECT * FROM read_parquet('{own_path}')")
        raw = _raw_with_group_sizes(path, sql, con)
    assert_same_rows(answer.rows, [row[:-1] for row in raw if row[-1] >= k])
    assert "HIDDEN-" not in repr(answer.rows)
