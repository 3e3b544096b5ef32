"""The guard refuses every unsafe query with an exact code, and rewrites the safe ones."""

from __future__ import annotations

import pytest
from policy_helpers import POLICY_DICT, K, policy

from suanshu.core.errors import Refused, UsageError
from suanshu.policy import GROUP_ROWS, Policy, check_projection, guard
from suanshu.policy.sqlguard import PRECEDENCE

P = policy()

ATTACKS = [
    # hidden (listed) and unlisted columns, anywhere, in any spelling
    ("query.column_not_allowed", "SELECT name, count(*) FROM customers GROUP BY name"),
    ("query.column_not_allowed", "SELECT count(*) FROM customers WHERE name = 'secret-name-0001'"),
    ("query.column_not_allowed", "SELECT city, count(*) FROM customers GROUP BY city ORDER BY max(name)"),
    ("query.column_not_allowed", "SELECT city, count(*) FROM customers GROUP BY city HAVING count(name) > 1"),
    ("query.column_not_allowed", "SELECT CASE WHEN name LIKE 'a%' THEN 1 ELSE 0 END AS x, count(*) FROM customers GROUP BY 1"),
    ("query.column_not_allowed", "SELECT lower(substr(name, 1, 1)) AS initial, count(*) FROM customers GROUP BY 1"),
    ("query.column_not_allowed", "SELECT name AS city, count(*) FROM customers GROUP BY city"),
    ("query.column_not_allowed", "SELECT city, sum(income) AS name FROM customers GROUP BY city HAVING max(name) > 'a'"),
    ("query.column_not_allowed", 'SELECT "NAME", count(*) FROM customers GROUP BY 1'),
    ("query.column_not_allowed", "SELECT count(*) FROM customers WHERE NaMe = 'x'"),
    ("query.column_not_allowed", "SELECT count(DISTINCT ssn) FROM customers"),
    ("query.column_not_allowed", "SELECT ssn, count(*) FROM customers GROUP BY ssn"),
    ("query.column_not_allowed", "SELECT customers.name, count(*) FROM customers GROUP BY 1"),
    ("query.column_not_allowed", "SELECT city.x, count(*) FROM customers GROUP BY 1"),
    ("query.column_not_allowed", "SELECT count(*) FROM customers WHERE coalesce(name, city) = 'x'"),
    ("query.column_not_allowed", "SELECT sum(income) AS s, s + 1 AS t FROM customers"),  # lateral alias
    ("query.column_not_allowed", f"SELECT city, count(*) AS {GROUP_ROWS} FROM customers GROUP BY city"),
    # a bare table name or alias is the whole row in DuckDB
    ("query.column_not_allowed", "SELECT c, count(*) FROM customers AS c GROUP BY c"),
    ("query.column_not_allowed", "SELECT count(DISTINCT customers) FROM customers"),
    ("query.column_not_allowed", "SELECT city, count(*) FROM customers AS city GROUP BY city"),
    # aggregate columns must stay inside aggregates; dimensions only inside COUNT
    ("query.column_not_allowed", "SELECT income, count(*) FROM customers GROUP BY income"),
    ("query.column_not_allowed", "SELECT age FROM customers"),
    ("query.column_not_allowed", "SELECT city, count(*) FROM customers WHERE income > 50000 GROUP BY city"),
    ("query.column_not_allowed", "SELECT city, count(*) FROM customers GROUP BY city ORDER BY age"),
    ("query.column_not_allowed", "SELECT city, sum(city) FROM customers GROUP BY city"),
    # aggregates
    ("query.aggregate_not_allowed", "SELECT max(income) FROM customers"),
    ("query.aggregate_not_allowed", "SELECT city, min(age) FROM customers GROUP BY city"),
    ("query.aggregate_not_allowed", "SELECT sum(income * 2) FROM customers"),
    ("query.aggregate_not_allowed", "SELECT sum(DISTINCT income) FROM customers"),
    ("query.aggregate_not_allowed", "SELECT sum(count(*)) FROM customers"),
    ("query.aggregate_not_allowed", "SELECT sum(CASE WHEN age = 37 THEN income END) FROM customers"),
    ("query.function_not_allowed", "SELECT median(income) FROM customers"),
    ("query.function_not_allowed", "SELECT list(income) FROM customers"),
    ("query.function_not_allowed", "SELECT string_agg(city, ',') FROM customers"),
    # not aggregated
    ("query.not_aggregated", "SELECT city FROM customers"),
    ("query.not_aggregated", "SELECT 1 FROM customers"),
    ("query.not_aggregated", "SELECT city, region, count(*) FROM customers GROUP BY city"),
    ("query.not_aggregated", "SELECT city, count(*) FROM customers GROUP BY city HAVING region = 'x'"),
    # WHERE: one dimension against literals
    ("query.predicate_not_allowed", "SELECT count(*) FROM customers WHERE city = region"),
    ("query.predicate_not_allowed", "SELECT count(*) FROM customers WHERE count(*) > 1"),
    # HAVING runs for every group, small ones included: only comparisons that cannot fail
    ("query.predicate_not_allowed", "SELECT city, count(*) FROM customers GROUP BY city HAVING CASE WHEN city = "
     "'Lhasa' THEN sum(income) * 100000000000000000000000000000000000000 ELSE 0 END > 0"),
    ("query.predicate_not_allowed", "SELECT city, sum(income) * 100000000000000000000000000000000000000 AS s "
     "FROM customers GROUP BY city HAVING s > 0"),
    ("query.predicate_not_allowed", "SELECT city, count(*) FROM customers GROUP BY city HAVING round(avg(age)) = 40"),
    ("query.predicate_not_allowed", "SELECT city, count(*) FROM customers GROUP BY city HAVING sum(income) > city"),
    ("query.predicate_not_allowed", "SELECT city, count(*) FROM customers GROUP BY city HAVING count(*) - 1 > 5"),
    # star
    ("query.star", "SELECT * FROM customers"),
    ("query.star", "SELECT * EXCLUDE (name) FROM customers"),
    ("query.star", "SELECT customers.*, count(*) FROM customers"),
    ("query.star", "SELECT COLUMNS('c.*'), count(*) FROM customers"),
    # nesting and combination
    ("query.subquery", "SELECT count(*) FROM (SELECT * FROM customers)"),
    ("query.subquery", "SELECT count(*) FROM customers WHERE city IN (SELECT city FROM customers WHERE name = 'x')"),
    ("query.subquery", "SELECT (SELECT max(name) FROM customers) AS x, count(*) FROM customers"),
    ("query.subquery", "SELECT count(*) FROM customers WHERE EXISTS (SELECT 1 FROM customers WHERE name = 'x')"),
    ("query.subquery", "(SELECT count(*) FROM customers)"),
    ("query.cte", "WITH t AS (SELECT name FROM customers) SELECT count(*) FROM t"),
    ("query.set_operation", "SELECT count(*) FROM customers UNION SELECT count(*) FROM customers"),
    ("query.set_operation", "SELECT count(*) FROM customers EXCEPT SELECT count(*) FROM customers"),
    ("query.window", "SELECT city, count(*) OVER (PARTITION BY city) FROM customers"),
    ("query.window", "SELECT city, sum(income) OVER w FROM customers WINDOW w AS (PARTITION BY city)"),
    ("query.join", "SELECT count(*) FROM customers a JOIN customers b ON a.city = b.city"),
    ("query.join", "SELECT count(*) FROM customers, customers"),
    ("query.qualify", "SELECT city, count(*) FROM customers GROUP BY city QUALIFY count(*) > 1"),
    ("query.grouping_sets", "SELECT city, count(*) FROM customers GROUP BY ROLLUP (city)"),
    ("query.grouping_sets", "SELECT city, region, count(*) FROM customers GROUP BY CUBE (city, region)"),
    ("query.grouping_sets", "SELECT city, count(*) FROM customers GROUP BY GROUPING SETS ((city), ())"),
    ("query.grouping_sets", "SELECT city, count(*) FROM customers GROUP BY ALL"),
    # tables and files
    ("query.unknown_table", "SELECT count(*) FROM read_csv('/etc/passwd')"),
    ("query.unknown_table", "SELECT count(*) FROM read_parquet('/work/vault/*.parquet')"),
    ("query.unknown_table", "SELECT count(*) FROM glob('/etc/*')"),
    ("query.unknown_table", "SELECT count(*) FROM 'file.csv'"),
    ("query.unknown_table", "SELECT count(*) FROM '/etc/passwd'"),
    ("query.unknown_table", "SELECT count(*) FROM vault.customers"),
    ("query.unknown_table", "SELECT count(*) FROM memory.main.customers"),
    ("query.unknown_table", "SELECT count(*) FROM orders"),
    ("query.unknown_table", "SELECT count(*)"),
    # functions outside the allow-list
    ("query.function_not_allowed", "SELECT getenv('HOME') AS h, count(*) FROM customers"),
    ("query.function_not_allowed", "SELECT random() AS r, count(*) FROM customers"),
    ("query.function_not_allowed", "SELECT current_setting('allowed_paths') AS s, count(*) FROM customers"),
    ("query.function_not_allowed", "SELECT count(*) FROM customers WHERE regexp_matches(city, 'B.*')"),
    ("query.function_not_allowed", "SELECT read_text('/etc/passwd') AS t, count(*) FROM customers"),
    ("query.function_not_allowed", "SELECT count(*) FROM customers WHERE city = sleep_ms(1000)"),
    # other syntax
    ("query.construct_not_allowed", "SELECT count(*) FROM customers USING SAMPLE 10%"),
    ("query.construct_not_allowed", "SELECT city, count(*) FROM customers AS t(name_alias) GROUP BY city"),
    ("query.construct_not_allowed", "SELECT count(*) FILTER (WHERE city = 'Lhasa') FROM customers"),
    ("query.construct_not_allowed", "SELECT DISTINCT city, count(*) FROM customers GROUP BY city"),
    ("query.construct_not_allowed", "SELECT count(*) FROM customers WHERE city = $1"),
    ("query.construct_not_allowed", "SELECT count(*) FROM customers LIMIT 10%"),
    ("query.construct_not_allowed", "SELECT city || 'x' AS c, count(*) FROM customers GROUP BY 1"),
    ("query.construct_not_allowed", "SELECT count(*) FROM customers GROUP BY 'x'"),
    ("query.construct_not_allowed", "SELECT city, count(*) FROM customers GROUP BY city ORDER BY 9"),
    # not a single SELECT
    ("query.not_single_select", "PRAGMA database_list"),
    ("query.not_single_select", "SET enable_external_access = true"),
    ("query.not_single_select", "ATTACH '/tmp/x.db' AS x"),
    ("query.not_single_select", "COPY customers TO '/tmp/out.csv'"),
    ("query.not_single_select", "COPY (SELECT count(*) FROM customers) TO '/tmp/out.csv'"),
    ("query.not_single_select", "INSTALL httpfs"),
    ("query.not_single_select", "LOAD httpfs"),
    ("query.not_single_select", "CREATE TABLE t AS SELECT * FROM customers"),
    ("query.not_single_select", "INSERT INTO customers VALUES (1)"),
    ("query.not_single_select", "DESCRIBE customers"),
    ("query.not_single_select", "SUMMARIZE customers"),
    ("query.not_single_select", "SELECT count(*) FROM customers; SELECT name FROM customers"),
    ("query.not_single_select", "SELECT count(*) FROM customers; DROP VIEW customers"),
    ("query.not_single_select", ""),
    ("query.not_single_select", " ; "),
    ("query.not_single_select", "DETACH vault"),
    ("query.not_single_select", "CALL duckdb_settings()"),
    ("query.not_single_select", "USE vault"),
    ("query.not_single_select", "EXPLAIN SELECT name FROM customers"),
    ("query.not_single_select", "PIVOT customers ON city USING count(*)"),
    # more smuggling: quoted names, casts, CASE in HAVING and ORDER BY, FILTER, struct builders
    ("query.set_operation", "SELECT count(*) FROM customers INTERSECT SELECT count(*) FROM customers"),
    ("query.function_not_allowed", "SELECT now() AS t, count(*) FROM customers"),
    ("query.function_not_allowed", "SELECT struct_pack(a := name) AS s, count(*) FROM customers GROUP BY 1"),
    ("query.function_not_allowed", "SELECT city, list(name) FROM customers GROUP BY city"),
    ("query.unknown_table", "SELECT count(*) FROM duckdb_settings()"),
    ("query.join", "SELECT count(*) FROM customers, read_csv('/etc/passwd')"),
    ("query.subquery", "SELECT city, count(*) FROM customers GROUP BY city LIMIT (SELECT 1)"),
    ("query.subquery", "SELECT city, avg(age) FROM customers GROUP BY city HAVING avg(age) > (SELECT 30)"),
    ("query.column_not_allowed", 'SELECT "city", count(*) FROM "customers" WHERE "Name" IS NOT NULL GROUP BY 1'),
    ("query.column_not_allowed", "SELECT CAST(name AS INT) AS n, count(*) FROM customers GROUP BY 1"),
    ("query.column_not_allowed", "SELECT count(*) FROM customers WHERE TRY_CAST(income AS VARCHAR) = '5'"),
    ("query.column_not_allowed", "SELECT city, count(*) FROM customers GROUP BY city "
     "HAVING sum(CASE WHEN name = 'x' THEN 1 END) > 0"),
    ("query.column_not_allowed", "SELECT city, count(*) FROM customers GROUP BY city ORDER BY CASE WHEN name = 'x' THEN 1 END"),
    ("query.column_not_allowed", "SELECT city, count(*) FROM customers t GROUP BY t.city ORDER BY t.name"),
    ("query.column_not_allowed", "SELECT count(*) FROM customers WHERE city = 'Lhasa' AND region = 'west' OR name = 'x'"),
    ("query.construct_not_allowed", "SELECT sum(income) FILTER (WHERE id_code = 'ID-0001') FROM customers"),
    ("query.construct_not_allowed", "SELECT count(*) FROM customers AT (VERSION => 1)"),
]


# dp mode: the same table with bounds; ssn is a join key (never usable on its own)
P_DP = policy(mode="dp", aggregates=["count", "sum", "avg"], columns={**POLICY_DICT["columns"], "ssn": "join"},
              dp={"epsilon_per_query": 0.5, "epsilon_total": 2.0, "bounds": {"income": [0, 100000], "age": [0, 120]}})
DP_ATTACKS = [
    # noise goes on each aggregate: arithmetic around aggregates would need its own calibration
    ("query.dp_not_allowed", "SELECT city, sum(income) / count(*) AS mean FROM customers GROUP BY city"),
    ("query.dp_not_allowed", "SELECT city, round(avg(income)) AS r FROM customers GROUP BY city"),
    ("query.dp_not_allowed", "SELECT city, count(*) + 0 AS n FROM customers GROUP BY city"),
    ("query.dp_not_allowed", "SELECT city, coalesce(sum(income), 0) AS s FROM customers GROUP BY city"),
    # filtering or ranking on true aggregates leaks them through which rows come back
    ("query.dp_not_allowed", "SELECT city, count(*) FROM customers GROUP BY city HAVING sum(income) > 1000000"),
    ("query.dp_not_allowed", "SELECT city, sum(income) AS s FROM customers GROUP BY city HAVING s > 0"),
    ("query.dp_not_allowed", "SELECT city, sum(income) AS s FROM customers GROUP BY city ORDER BY s DESC LIMIT 1"),
    ("query.dp_not_allowed", "SELECT city, count(*) FROM customers GROUP BY city ORDER BY 2 DESC LIMIT 1"),
    ("query.dp_not_allowed", "SELECT city, count(*) FROM customers GROUP BY city ORDER BY count(*) LIMIT 1"),
    # unbounded sensitivity and per-person selection
    ("query.aggregate_not_allowed", "SELECT max(income) FROM customers"),
    ("query.aggregate_not_allowed", "SELECT count(DISTINCT city) FROM customers"),
    ("query.column_not_allowed", "SELECT sum(CASE WHEN id_code = 'ID-0007' THEN income END) FROM customers"),
    ("query.aggregate_not_allowed", "SELECT sum(income * 1000000) FROM customers"),
    ("query.column_not_allowed", "SELECT count(*) FROM customers WHERE ssn = 'secret-ssn-0001'"),
    ("query.column_not_allowed", "SELECT ssn, count(*) FROM customers GROUP BY ssn"),
    ("query.column_not_allowed", "SELECT city, count(*) AS __suanshu_m0 FROM customers GROUP BY city"),
    ("query.column_not_allowed", "SELECT name, count(*) FROM customers GROUP BY name"),
    ("query.window", "SELECT city, sum(income) OVER () FROM customers"),
]

# extract mode: rows of city, region (dimensions) and age (aggregate); income and name hidden
P_EX = Policy.from_dict({"mode": "extract", "table": "customers", "max_rows": 50,
                         "columns": {"city": "dimension", "region": "dimension", "age": "aggregate",
                                     "income": "hidden", "name": "hidden", "ssn": "join"}})  # fmt: skip
EXTRACT_ATTACKS = [
    ("query.column_not_allowed", "SELECT name FROM customers"),
    ("query.column_not_allowed", "SELECT city, income FROM customers"),
    ("query.column_not_allowed", "SELECT city FROM customers WHERE name LIKE 'secret%'"),
    ("query.column_not_allowed", "SELECT city FROM customers ORDER BY income DESC LIMIT 1"),
    ("query.column_not_allowed", "SELECT CASE WHEN income > 50000 THEN 'rich' END AS c FROM customers"),
    ("query.column_not_allowed", "SELECT ssn FROM customers"),
    ("query.column_not_allowed", "SELECT id_code FROM customers"),
    ("query.column_not_allowed", "SELECT customers FROM customers"),
    ("query.column_not_allowed", "SELECT upper(NAME) AS city FROM customers"),
    ("query.star", "SELECT * FROM customers"),
    ("query.star", "SELECT * EXCLUDE (income, name) FROM customers"),
    ("query.aggregate_not_allowed", "SELECT count(*) FROM customers"),
    ("query.construct_not_allowed", "SELECT city FROM customers GROUP BY city"),
    ("query.construct_not_allowed", "SELECT city FROM customers LIMIT 50 OFFSET 50"),
    ("query.construct_not_allowed", "SELECT DISTINCT city FROM customers"),
    ("query.construct_not_allowed", "SELECT city FROM customers ORDER BY 7"),
    ("query.predicate_not_allowed", "SELECT city FROM customers WHERE city = region"),
    ("query.unknown_table", "SELECT city FROM read_parquet('/vault/x.parquet')"),
    ("query.function_not_allowed", "SELECT getenv('HOME') AS h FROM customers"),
    ("query.subquery", "SELECT city FROM customers WHERE age IN (SELECT age FROM customers WHERE name = 'x')"),
    ("query.not_single_select", "COPY (SELECT city FROM customers) TO '/tmp/out.csv'"),
]
ALL_ATTACKS = ([(P, c, s) for c, s in ATTACKS] + [(P_DP, c, s) for c, s in DP_ATTACKS]
               + [(P_EX, c, s) for c, s in EXTRACT_ATTACKS])  # fmt: skip


@pytest.mark.parametrize(("pol", "code", "sql"), ALL_ATTACKS,
                         ids=[f"{p.mode}-{c.split('.')[1]}:{s[:60]}" for p, c, s in ALL_ATTACKS])  # fmt: skip
def test_attack_is_refused_with_exact_code(pol, code, sql):
    with pytest.raises(Refused) as info:
        guard(sql, pol)
    assert info.value.code == code, info.value.message
    assert info.value.exit_code == 3


def test_attack_suite_is_broad():
    assert len(ATTACKS) >= 60 and len(ALL_ATTACKS) >= 130
    assert {code for _, code, _ in ALL_ATTACKS} == set(PRECEDENCE)  # every refusal code is exercised
    assert {code for code, _ in DP_ATTACKS} >= {"query.dp_not_allowed"}


@pytest.mark.parametrize("sql", [
    "SELEC count(*) FROM customers",
    "SELEC city",  # sqlglot reads it as an expression (column SELEC aliased city), not a statement
    "city", "1 + 1", "*",
    "SELECT count(*) FROM customers WHERE (",
    "EXPORT DATABASE '/tmp/x'",  # sqlglot cannot parse it: refused before anything else
    "SELECT " + "(" * 5000 + "1" + ")" * 5000 + " FROM customers",
    "x" * 30_000,
])  # fmt: skip
def test_unparsable_sql_is_a_usage_error(sql):
    with pytest.raises(UsageError) as info:
        guard(sql, P)
    assert info.value.code == "query.parse_error"


def test_precedence_picks_the_same_code_whatever_the_clause_order():
    # hidden column (column_not_allowed) beats the missing GROUP BY (not_aggregated)
    with pytest.raises(Refused, match="name") as info:
        guard("SELECT city, count(*) FROM customers WHERE name = 'x'", P)
    assert info.value.code == "query.column_not_allowed"
    # a subquery is reported before the file read inside it
    with pytest.raises(Refused) as info:
        guard("SELECT count(*) FROM (SELECT * FROM read_csv('/etc/passwd'))", P)
    assert info.value.code == "query.subquery"


SAFE = [
    "SELECT city, count(*), sum(income), avg(age) FROM customers GROUP BY city",
    "SELECT city, count(*) AS n FROM customers WHERE region = 'east' GROUP BY city ORDER BY n DESC LIMIT 2",
    "SELECT count(*), avg(income) FROM customers",
    "SELECT city, sum(income) AS income FROM customers GROUP BY city ORDER BY income",
    "SELECT city, sum(income) AS s FROM customers GROUP BY city HAVING s > 100 AND count(*) > 20",
    "SELECT city, avg(income) AS m FROM customers GROUP BY city HAVING sum(income) / count(*) BETWEEN 1 AND 1e6 "
    "OR m IS NULL OR city IN ('a', 'b') OR count(DISTINCT region) > 1",
    "SELECT CITY, COUNT(*) FROM CUSTOMERS GROUP BY \"City\"",
    "SELECT c.city, count(*) FROM customers AS c GROUP BY c.city",
    "SELECT lower(city) AS c, count(DISTINCT region) FROM customers GROUP BY 1 ORDER BY 2",
    "SELECT CASE WHEN city IN ('Beijing', 'Shanghai') THEN 'tier1' ELSE 'other' END AS tier, count(*) "
    "FROM customers GROUP BY tier",
    "SELECT round(avg(income), 2) AS r, city FROM customers WHERE city IS NOT NULL AND NOT city LIKE 'L%' GROUP BY city",
    "SELECT count(income) FROM customers WHERE substr(city, 1, 1) BETWEEN 'A' AND 'M' OR upper(region) = 'NORTH'",
    "SELECT city FROM customers GROUP BY city",
    "SELECT lower(city) AS c, count(*) FROM customers GROUP BY c ORDER BY c",
]


def test_group_by_alias_is_replaced_by_its_expression():
    # DuckDB binds GROUP BY names to table columns first; an unlisted hidden column could share
    # the alias's name, so the alias never reaches DuckDB in GROUP BY.
    g = guard("SELECT lower(city) AS ssn, count(*) FROM customers GROUP BY ssn", P)
    assert "GROUP BY LOWER(city)" in g.sql
    with pytest.raises(Refused) as info:  # an alias of an aggregate is not a group key
        guard("SELECT count(*) AS n FROM customers GROUP BY n", P)
    assert info.value.code == "query.construct_not_allowed"


@pytest.mark.parametrize("sql", SAFE)
def test_safe_queries_pass_and_are_rewritten(sql):
    g = guard(sql, P)
    assert f"COUNT(*) AS {GROUP_ROWS}" in g.sql
    assert f"COUNT(*) >= {K}" in g.sql
    assert g.original_sql == sql and len(g.sha256) == 64


def test_rewrite_keeps_existing_having_and_names_outputs():
    g = guard("SELECT city, count(*), sum(income) AS s FROM customers GROUP BY city HAVING s > 1 OR count(*) > 50", P)
    assert g.output_columns == ("city", "COUNT(*)", "s")
    # the HAVING alias is replaced by what it names: that is what DuckDB evaluates per group
    assert "HAVING (SUM(income) > 1 OR COUNT(*) > 50) AND COUNT(*) >= 10" in g.sql


def test_hash_is_of_the_normalised_query():
    a = guard("select city, count(*) from customers group by city", P)
    b = guard("SELECT  city ,COUNT(*)\n FROM customers -- comment\n GROUP BY city", P)
    assert a.sha256 == b.sha256
    assert a.sha256 != guard("SELECT region, count(*) FROM customers GROUP BY region", P).sha256


def test_comments_never_reach_the_rewritten_sql():
    g = guard("SELECT count(*) /* */ FROM customers -- x */ , name\n", P)
    assert "/*" not in g.sql and "--" not in g.sql and "name" not in g.sql


def test_k_comes_from_the_policy():
    g = guard("SELECT count(*) FROM customers", policy(min_group_size=25))
    assert g.sql.endswith("HAVING COUNT(*) >= 25")


# --- provider SQL -------------------------------------------------------------------------------

ASSETS = {"orders", "users"}


@pytest.mark.parametrize("sql", [
    "SELECT o.id, u.city, o.amount FROM orders o JOIN users u ON o.user_id = u.id",
    "WITH big AS (SELECT * FROM orders WHERE amount > 10) SELECT * FROM big",
    "SELECT user_id, sum(amount) FROM orders GROUP BY 1 UNION ALL SELECT id, 0 FROM users",
    "SELECT *, row_number() OVER (ORDER BY id) FROM ORDERS WHERE user_id IN (SELECT id FROM users)",
])  # fmt: skip
def test_projection_allows_rich_sql_over_own_tables(sql):
    out = check_projection(sql, ASSETS)
    assert out == check_projection(out, ASSETS)  # normalised: a fixed point


@pytest.mark.parametrize(("code", "sql"), [
    ("query.unknown_table", "SELECT * FROM read_csv('/etc/passwd')"),
    ("query.unknown_table", "SELECT * FROM orders JOIN read_parquet('/data/*.parquet') p ON true"),
    ("query.unknown_table", "SELECT * FROM '/etc/passwd'"),
    ("query.unknown_table", "SELECT * FROM vault.orders"),
    ("query.unknown_table", "SELECT * FROM payroll"),
    ("query.unknown_table", "SELECT * FROM orders WHERE id IN (SELECT id FROM glob('/etc/*'))"),
    ("query.unknown_table", "SELECT * FROM query('SELECT 1')"),
    ("query.function_not_allowed", "SELECT getenv('HOME'), * FROM orders"),
    ("query.function_not_allowed", "SELECT current_setting('allowed_paths') FROM orders"),
    ("query.construct_not_allowed", "SELECT * INTO users FROM orders"),
    ("query.not_single_select", "COPY orders TO '/tmp/x.csv'"),
    ("query.not_single_select", "SELECT * FROM orders; SELECT * FROM users"),
    ("query.not_single_select", "ATTACH '/tmp/x.db'"),
])  # fmt: skip
def test_projection_refuses_file_access_and_other_tables(code, sql):
    with pytest.raises(Refused) as info:
        check_projection(sql, ASSETS)
    assert info.value.code == code


def test_expressions_evaluated_before_the_threshold_cannot_raise():
    g = guard("SELECT CAST(city AS INTEGER) AS c, count(*) FROM customers WHERE CAST(region AS INTEGER) = 1 "
              "GROUP BY 1 HAVING c = 5 AND count(*) > 1", P)  # fmt: skip
    assert "WHERE TRY(CAST(region AS INT) = 1)" in g.sql
    assert "GROUP BY 1" in g.sql and g.sql.startswith("SELECT TRY(CAST(city AS INT)) AS c")
    assert "HAVING (TRY(TRY(CAST(city AS INT)) = 5) AND COUNT(*) > 1) AND COUNT(*) >= 10" in g.sql


@pytest.mark.parametrize(("key", "wrapped"), [
    ("lower(city)", False), ("upper(trim(city))", False), ("length(city)", False), ("trim(city, 'x')", False),
    ("length(city) + 1", True), ("substr(city, 1, 2)", True), ("CAST(city AS INTEGER)", True),
    ("coalesce(city, region)", True), ("CASE WHEN city = 'a' THEN 1 END", True),
])  # fmt: skip
def test_only_keys_that_could_raise_are_wrapped_in_try(key, wrapped):
    # TRY costs ~3x on a GROUP BY key; keys built only from total functions cannot raise
    g = guard(f"SELECT {key} AS k, count(*) FROM customers GROUP BY 1", P)
    assert g.sql.startswith("SELECT TRY(") is wrapped


def test_identifiers_fold_case_like_duckdb_ascii_only():
    # DuckDB matches "CITY" to city but not the Kelvin sign to "k": neither may the guard, or a
    # hidden column spelt with it could pass for a dimension called "kelvin".
    p = policy(columns={"kelvin": "dimension", "income": "aggregate"})
    guard("SELECT KELVIN, count(*) FROM customers GROUP BY kelvin", p)
    with pytest.raises(Refused) as info:
        guard('SELECT "\u212aelvin", count(*) FROM customers GROUP BY 1', p)
    assert info.value.code == "query.column_not_allowed"


DP_SAFE = [
    "SELECT city, count(*), sum(income), avg(age) FROM customers GROUP BY city",
    "SELECT count(*) AS n, avg(income) FROM customers WHERE region = 'east'",
    "SELECT lower(city) AS c, count(income) FROM customers GROUP BY 1 ORDER BY 1 LIMIT 3",
    "SELECT region, city, sum(age) FROM customers GROUP BY region, city HAVING city <> 'x' ORDER BY city",
]


@pytest.mark.parametrize("sql", DP_SAFE)
def test_dp_queries_pass_and_return_only_measurements(sql):
    g = guard(sql, P_DP)
    assert g.mode == "dp" and len(g.dp_outputs) == len(g.output_columns)
    assert g.result_columns[-1] == GROUP_ROWS and f"COUNT(*) >= {K}" in g.sql
    # every SUM/AVG argument is clamped to its bounds inside the SQL
    for o in g.dp_outputs:
        if o.kind in ("sum", "avg"):
            assert "CASE WHEN TRY_CAST(" in g.sql and "< 0.0 THEN 0.0" in g.sql


def test_dp_positions_survive_the_measurement_columns():
    g = guard("SELECT avg(income), lower(city) AS c FROM customers GROUP BY 2 ORDER BY 2", P_DP)
    # avg becomes two measurements; GROUP BY/ORDER BY 2 must still mean lower(city)
    assert "GROUP BY LOWER(city)" in g.sql and "ORDER BY LOWER(city)" in g.sql


EXTRACT_SAFE = [
    "SELECT city, age FROM customers WHERE region = 'east' ORDER BY age DESC LIMIT 5",
    "SELECT lower(city) AS c, age + 1 AS next_age FROM customers WHERE age BETWEEN 20 AND 30",
    "SELECT c.city FROM customers AS c ORDER BY 1",
]


@pytest.mark.parametrize("sql", EXTRACT_SAFE)
def test_extract_queries_pass_with_the_row_cap(sql):
    g = guard(sql, P_EX)
    assert g.mode == "extract" and GROUP_ROWS not in g.sql
    limit = int(g.sql.rsplit("LIMIT ", 1)[1])
    assert limit <= P_EX.max_rows + 1


def test_extract_limit_is_capped():
    assert guard("SELECT city FROM customers LIMIT 100000", P_EX).sql.endswith("LIMIT 51")
    assert guard("SELECT city FROM customers LIMIT 3", P_EX).sql.endswith("LIMIT 3")


def test_entity_counts_distinct_entities():
    g = guard("SELECT city, count(*) FROM customers GROUP BY city", policy(entity="id_code"))
    assert 'COUNT(DISTINCT "id_code") >= 10' in g.sql and f'COUNT(DISTINCT "id_code") AS {GROUP_ROWS}' in g.sql
