"""The join role: a buyer's own table joined once, by equality, on a policy join column."""

from __future__ import annotations

from collections import defaultdict

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from policy_helpers import POLICY_DICT, K, assert_same_rows, policy

from suanshu.core.errors import Refused
from suanshu.policy import MemoryBudgetStore, OwnTable, Policy, Sandbox, guard, own_tables, run
from suanshu.policy.sqlguard import PRECEDENCE

# ssn (unlisted in POLICY_DICT, so hidden there) becomes the join key
P = policy(columns={**POLICY_DICT["columns"], "ssn": "join"})
P_DP = policy(mode="dp", aggregates=["count", "sum", "avg"], columns={**POLICY_DICT["columns"], "ssn": "join"},
              dp={"epsilon_per_query": 1.0, "epsilon_total": 100.0,
                  "bounds": {"income": [0, 100000], "age": [0, 120]}})  # fmt: skip
P_EX = Policy.from_dict({"mode": "extract", "table": "customers", "max_rows": 50,
                         "columns": {"city": "dimension", "age": "aggregate", "ssn": "join"}})
MINE = (OwnTable("mine", ("key", "segment", "score")),)
JOIN = "FROM customers AS c JOIN mine AS m ON c.ssn = m.key"

SAFE = [
    f"SELECT m.segment, count(*), avg(c.income) {JOIN} GROUP BY m.segment",
    f"SELECT c.city, count(*) AS n {JOIN} WHERE m.segment = 'gold' GROUP BY c.city ORDER BY n DESC",
    ("SELECT mine.segment AS s, sum(customers.income) FROM customers JOIN mine ON mine.key = customers.ssn "
     "GROUP BY 1 HAVING count(*) > 20 ORDER BY s"),
    f"SELECT count(*), count(DISTINCT m.segment) {JOIN}",
    f"SELECT lower(m.segment) AS s, c.region, count(*) {JOIN} GROUP BY 1, 2",
    "SELECT m.segment, count(*) FROM customers c INNER JOIN mine m ON m.key = c.ssn GROUP BY m.segment",
]

ATTACKS = [
    # the key itself never leaves, and is never filtered, grouped, ordered or aggregated
    ("query.column_not_allowed", f"SELECT c.ssn, count(*) {JOIN} GROUP BY c.ssn"),
    ("query.column_not_allowed", f"SELECT count(*) {JOIN} WHERE c.ssn = 'secret-ssn-0001'"),
    ("query.column_not_allowed", f"SELECT count(*) {JOIN} WHERE c.ssn LIKE 'secret-ssn-00%'"),
    ("query.column_not_allowed", f"SELECT m.segment, count(*) {JOIN} GROUP BY m.segment ORDER BY max(c.ssn)"),
    ("query.column_not_allowed", f"SELECT count(DISTINCT c.ssn) {JOIN}"),
    ("query.column_not_allowed", f"SELECT CASE WHEN c.ssn > 'secret-ssn-05' THEN 1 END AS x, count(*) {JOIN} GROUP BY 1"),
    ("query.column_not_allowed", f"SELECT m.segment AS ssn, count(*) {JOIN} GROUP BY ssn HAVING min(ssn) > 'a'"),
    ("query.column_not_allowed", "SELECT count(*) FROM customers c JOIN mine m ON c.ssn = m.key WHERE ssn = 'x'"),
    # the key column of the source must be a join column; the rest of the rules still hold
    ("query.column_not_allowed", "SELECT count(*) FROM customers c JOIN mine m ON c.name = m.key"),
    ("query.column_not_allowed", "SELECT count(*) FROM customers c JOIN mine m ON c.city = m.segment"),
    ("query.column_not_allowed", f"SELECT m.segment, c.name, count(*) {JOIN} GROUP BY 1, 2"),
    ("query.column_not_allowed", f"SELECT m.segment, count(*) {JOIN} WHERE c.income > 5 GROUP BY 1"),
    ("query.column_not_allowed", f"SELECT m.nothing, count(*) {JOIN} GROUP BY 1"),
    ("query.column_not_allowed", "SELECT count(*) FROM customers c JOIN mine m ON c.ssn = m.nokey"),
    ("query.column_not_allowed", f"SELECT m, count(*) {JOIN} GROUP BY m"),  # the whole own row as a struct
    ("query.column_not_allowed", f"SELECT sum(m.score) {JOIN}"),  # own columns are dimensions
    # every reference names its table: an unqualified name could bind to an unlisted column
    ("query.column_not_allowed", f"SELECT segment, count(*) {JOIN} GROUP BY segment"),
    ("query.column_not_allowed", f"SELECT city, count(*) {JOIN} GROUP BY city"),
    # exactly one inner equality join with the buyer's own table
    ("query.join", "SELECT count(*) FROM customers c LEFT JOIN mine m ON c.ssn = m.key"),
    ("query.join", "SELECT count(*) FROM customers c FULL OUTER JOIN mine m ON c.ssn = m.key"),
    ("query.join", "SELECT count(*) FROM customers c CROSS JOIN mine m"),
    ("query.join", "SELECT count(*) FROM customers c, mine m"),
    ("query.join", "SELECT count(*) FROM customers c JOIN mine m USING (ssn)"),
    ("query.join", "SELECT count(*) FROM customers c NATURAL JOIN mine m"),
    ("query.join", "SELECT count(*) FROM customers c ASOF JOIN mine m ON c.ssn >= m.key"),
    ("query.join", "SELECT count(*) FROM customers c SEMI JOIN mine m ON c.ssn = m.key"),
    ("query.join", "SELECT count(*) FROM customers c JOIN mine m ON c.ssn > m.key"),
    ("query.join", "SELECT count(*) FROM customers c JOIN mine m ON c.ssn = m.key AND m.segment = 'gold'"),
    ("query.join", "SELECT count(*) FROM customers c JOIN mine m ON c.ssn = m.key OR c.ssn = m.segment"),
    ("query.join", "SELECT count(*) FROM customers c JOIN mine m ON upper(c.ssn) = m.key"),
    ("query.join", "SELECT count(*) FROM customers c JOIN mine m ON c.ssn = c.ssn"),
    ("query.join", "SELECT count(*) FROM customers c JOIN mine m ON ssn = key"),
    ("query.join", "SELECT count(*) FROM customers c JOIN customers d ON c.ssn = d.ssn"),
    ("query.join", "SELECT count(*) FROM customers c JOIN mine m ON c.ssn = m.key JOIN mine n ON c.ssn = n.key"),
    ("query.join", "SELECT count(*) FROM customers AS mine JOIN mine AS customers ON mine.ssn = customers.key"),
    ("query.join", "SELECT count(*) FROM customers c JOIN vault.mine m ON c.ssn = m.key"),
    ("query.join", "SELECT count(*) FROM customers c JOIN read_parquet('/vault/own0.parquet') m ON c.ssn = m.key"),
    ("query.subquery", "SELECT count(*) FROM customers c JOIN (SELECT * FROM mine) m ON c.ssn = m.key"),
    ("query.subquery", "SELECT count(*) FROM customers c JOIN mine m ON c.ssn = (SELECT max(ssn) FROM customers)"),
    ("query.construct_not_allowed", "SELECT count(*) FROM customers c JOIN mine m(k, s) ON c.ssn = m.k"),
    # the predicate rules see both tables: comparing columns across them is a second join
    ("query.predicate_not_allowed", f"SELECT count(*) {JOIN} WHERE c.city = m.segment"),
    ("query.predicate_not_allowed", f"SELECT count(*) {JOIN} WHERE c.city = 'x' OR m.segment = c.region"),
    # dp: the same rules, plus its own
    ("query.dp_not_allowed", f"SELECT m.segment, count(*) {JOIN} GROUP BY 1 HAVING count(*) > 3"),
]


@pytest.mark.parametrize("sql", SAFE)
def test_joins_with_the_buyers_table_pass(sql):
    guarded = guard(sql, P, MINE)
    assert guarded.join.source_column == "ssn" and guarded.join.own_table == "mine"
    assert "HAVING" in guarded.sql and ">= 10" in guarded.sql


@pytest.mark.parametrize(("code", "sql"), ATTACKS, ids=[s[:70] for _, s in ATTACKS])
def test_join_attacks_are_refused(code, sql):
    with pytest.raises(Refused) as info:
        guard(sql, P_DP if code == "query.dp_not_allowed" else P, MINE)
    assert info.value.code == code, info.value.message
    assert code in PRECEDENCE


def test_no_own_table_no_join_and_extract_never_joins():
    with pytest.raises(Refused, match="--own") as info:
        guard(SAFE[0], P)
    assert info.value.code == "query.join"
    with pytest.raises(Refused, match="extract mode") as info:
        guard("SELECT c.city FROM customers c JOIN mine m ON c.ssn = m.key", P_EX, MINE)
    assert info.value.code == "query.join"


def test_entity_threshold_names_the_source_table():
    g = guard(SAFE[0], policy(columns={**POLICY_DICT["columns"], "ssn": "join"}, entity="id_code"), MINE)
    assert 'COUNT(DISTINCT "c"."id_code") >= 10' in g.sql


# --- running joins ------------------------------------------------------------------------------

SEGMENTS = ("gold", "silver", "tiny")


@pytest.fixture
def mine_rows(customers_rows):
    """Every third customer gets a segment; 'tiny' covers only 4 of them (below k)."""
    rows = []
    for i, r in enumerate(customers_rows):
        if i % 3 == 0:
            segment = "tiny" if sum(s == "tiny" for _, s, _ in rows) < 4 and i > 300 else SEGMENTS[i % 2]
            rows.append((r["ssn"], segment, i))
    rows.append(("not-a-customer", "gold", -1))  # keys the provider does not have join nothing
    return rows


def _own_file(tmp_path, rows, key_type=None):
    key_type = key_type or pa.string()
    path = tmp_path / "mine.parquet"
    table = pa.table({"key": pa.array([r[0] for r in rows], key_type), "segment": [r[1] for r in rows],
                      "score": [r[2] for r in rows]})  # fmt: skip
    pq.write_table(table, path)
    return path


@pytest.fixture
def joined_box(customers_file, tmp_path, mine_rows):
    files = {"customers": customers_file, "mine": _own_file(tmp_path, mine_rows)}
    views = {"customers": 'SELECT * FROM vault."customers"', "mine": 'SELECT * FROM vault."mine"'}
    with Sandbox(files, views=views) as box:
        yield box


def _reference(customers_rows, mine_rows, k=K):
    """segment -> (count, sum of income, sum of age) over joined source rows, groups below k dropped."""
    segment_of = {key: segment for key, segment, _ in mine_rows}
    groups = defaultdict(list)
    for r in customers_rows:
        if r["ssn"] in segment_of:
            groups[segment_of[r["ssn"]]].append(r)
    return [(s, len(g), sum(r["income"] for r in g if r["income"] is not None)) for s, g in groups.items()
            if len(g) >= k]


def test_join_results_equal_a_reference_and_small_groups_stay_inside(joined_box, customers_rows, mine_rows):
    own = own_tables(joined_box, ["mine"])
    assert own == MINE
    answer = run(joined_box, P, f"SELECT m.segment, count(*), sum(c.income) {JOIN} GROUP BY m.segment", own=own)
    expected = _reference(customers_rows, mine_rows)
    assert {row[0] for row in expected} == {"gold", "silver"}  # the 4-row 'tiny' group is dropped
    assert_same_rows(answer.rows, expected)
    assert answer.min_group_rows >= K
    text = repr(answer.rows)
    assert "secret" not in text and "tiny" not in text


def test_filter_on_the_buyers_column_counts_source_rows(joined_box, customers_rows, mine_rows):
    own = own_tables(joined_box, ["mine"])
    answer = run(joined_box, P, f"SELECT count(*) {JOIN} WHERE m.segment = 'tiny'", own=own)
    assert answer.rows == []  # a global aggregate over 4 source rows is withheld, not answered with 4
    answer = run(joined_box, P, f"SELECT count(*) {JOIN} WHERE m.segment = 'gold'", own=own)
    assert answer.rows == [(sum(1 for _, s, _ in mine_rows if s == "gold") - 1,)]  # minus the unknown key


def test_repeated_own_keys_are_refused(customers_file, tmp_path, mine_rows):
    # one customer listed ten times would otherwise make a group of "10 rows"
    rows = mine_rows + [(mine_rows[0][0], "dup", n) for n in range(10)]
    files = {"customers": customers_file, "mine": _own_file(tmp_path, rows)}
    views = {"customers": 'SELECT * FROM vault."customers"', "mine": 'SELECT * FROM vault."mine"'}
    with Sandbox(files, views=views) as box, pytest.raises(Refused) as info:
        run(box, P, f"SELECT m.segment, count(*) {JOIN} GROUP BY 1", own=own_tables(box, ["mine"]))
    assert info.value.code == "query.own_keys_not_unique"
    assert "10 value(s)" in info.value.message


def test_key_types_must_agree(customers_file, tmp_path):
    rows = [(i, "gold", i) for i in range(50)]
    files = {"customers": customers_file, "mine": _own_file(tmp_path, rows, pa.int64())}
    views = {"customers": 'SELECT * FROM vault."customers"', "mine": 'SELECT * FROM vault."mine"'}
    with Sandbox(files, views=views) as box, pytest.raises(Refused) as info:
        run(box, P, f"SELECT count(*) {JOIN}", own=own_tables(box, ["mine"]))
    assert info.value.code == "query.join_type_mismatch"
    assert "VARCHAR" in info.value.message and "BIGINT" in info.value.message


def test_dp_join_spends_its_budget_and_releases_only_large_groups(joined_box, customers_rows, mine_rows):
    budget = MemoryBudgetStore()
    own = own_tables(joined_box, ["mine"])
    answer = run(joined_box, P_DP, f"SELECT m.segment, count(*) {JOIN} GROUP BY m.segment", own=own, budget=budget)
    truth = {s: n for s, n, _ in _reference(customers_rows, mine_rows)}
    assert {row[0] for row in answer.rows} == set(truth)
    assert answer.epsilon_spent == 1.0 and budget.spent("default") == 10**9
    for segment, noisy in answer.rows:
        assert abs(noisy - truth[segment]) < 40  # Laplace(1): |noise| >= 40 has probability e^-40
