"""`suanshu analyze`: the stable contract, driven through the real CLI app."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from suanshu.cli.main import app

POLICY_YAML = """
mode: dp
table: people
columns: {city: dimension, income: aggregate, name: hidden}
min_group_size: 3
dp: {epsilon_per_query: 0.5, epsilon_total: 1.0, bounds: {income: [0, 1000]}}
"""


@pytest.fixture
def data(tmp_path):
    rows = [("Beijing", 100 + i, f"secret{i}") for i in range(6)] + [("Lhasa", 5, "secret-lhasa")]
    path = tmp_path / "people.csv"
    path.write_text("city,income,name\n" + "".join(f"{c},{i},{n}\n" for c, i, n in rows), encoding="utf-8")
    return path


def analyze(*args):
    result = CliRunner().invoke(app, ["analyze", *map(str, args)])
    return result.exit_code, json.loads(result.stdout)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_aggregate_policy_in_json_on_csv(tmp_path, data):
    policy = write(tmp_path, "p.json", json.dumps({
        "mode": "aggregate", "table": "people", "min_group_size": 3,
        "columns": {"city": "dimension", "income": "aggregate"}}))  # fmt: skip
    code, out = analyze(data, "--policy", policy, "--sql", "SELECT city, count(*) AS n, sum(income) FROM people GROUP BY city",
                        "--format", "json")  # fmt: skip
    assert code == 0
    assert out == {"status": "ok", "columns": ["city", "n", "SUM(income)"], "rows": [["Beijing", 6, 615]],
                   "epsilon_spent": 0.0, "truncated": False}  # Lhasa (1 row) is below the threshold


def test_dp_budget_persists_in_the_state_file(tmp_path, data):
    policy, state = write(tmp_path, "p.yaml", POLICY_YAML), tmp_path / "state.json"
    sql = "SELECT city, count(*) FROM people GROUP BY city"
    for _ in range(2):
        code, out = analyze("--policy", policy, "--sql", sql, "--state", state, "--format", "json", data)
        assert code == 0 and out["status"] == "ok" and out["epsilon_spent"] == 0.5
        assert [row[0] for row in out["rows"]] == ["Beijing"]
    code, out = analyze("--policy", policy, "--sql", sql, "--state", state, "--format", "json", data)
    assert code == 3 and out["status"] == "denied" and out["code"] == "query.budget_exhausted"
    assert set(out) == {"status", "code", "reason"}
    # without --state, each run has the whole budget
    assert analyze("--policy", policy, "--sql", sql, data)[0] == 0


def test_denied_query_and_bad_input(tmp_path, data):
    policy = write(tmp_path, "p.yaml", POLICY_YAML)
    code, out = analyze("--policy", policy, "--sql", "SELECT name, count(*) FROM people GROUP BY name", data)
    assert (code, out["status"], out["code"]) == (3, "denied", "query.column_not_allowed")
    assert "secret" not in json.dumps(out)
    code, out = analyze("--policy", write(tmp_path, "bad.yaml", "mode: [unclosed"), "--sql", "SELECT 1", data)
    assert (code, out["status"], out["code"]) == (2, "error", "policy.bad_file")
    code, out = analyze("--policy", policy, "--sql", "SELECT count(*) FROM people WHERE (", data)
    assert (code, out["code"]) == (2, "query.parse_error")


def test_extract_policy_on_parquet_with_terms(tmp_path):
    path = tmp_path / "people.parquet"
    pq.write_table(pa.table({"city": ["A", "B", "C"], "age": [30, 40, 50], "name": ["x", "y", "z"]}), path)
    policy = write(tmp_path, "p.json", json.dumps({
        "mode": "extract", "table": "people", "max_rows": 2, "purpose": ["research"], "residency": ["cn-north"],
        "columns": {"city": "dimension", "age": "aggregate", "name": "hidden"}}))  # fmt: skip
    sql = "SELECT city, age FROM people ORDER BY age"
    code, out = analyze(path, "--policy", policy, "--sql", sql, "--purpose", "research", "--region", "cn-north")
    assert code == 0 and out["rows"] == [["A", 30], ["B", 40]] and out["truncated"]
    code, out = analyze(path, "--policy", policy, "--sql", sql, "--purpose", "marketing", "--region", "cn-north")
    assert (code, out["code"]) == (3, "policy.purpose_not_allowed")
    code, out = analyze(path, "--policy", policy, "--sql", sql, "--purpose", "research")
    assert (code, out["code"]) == (3, "policy.residency_violation")


def test_join_with_the_analysts_own_table(tmp_path):
    people = write(tmp_path, "people.csv", "id_no,city,income,name\n"
                   + "".join(f"P{i:03d},Changsha,{100 + i},secret{i}\n" for i in range(12)))
    # 8 of the 12 people are "vip" in the analyst's table, 2 are "new" (below the threshold of 3)
    mine = write(tmp_path, "mine.csv", "id,tier\n" + "".join(f"P{i:03d},vip\n" for i in range(8))
                 + "P008,new\nP009,new\nX999,vip\n")
    policy = write(tmp_path, "p.json", json.dumps({
        "mode": "aggregate", "table": "people", "min_group_size": 3,
        "columns": {"id_no": "join", "city": "dimension", "income": "aggregate", "name": "hidden"}}))  # fmt: skip
    sql = "SELECT o.tier, count(*) AS n, sum(p.income) AS s FROM people p JOIN crm o ON p.id_no = o.id GROUP BY o.tier"
    code, out = analyze(people, "--policy", policy, "--sql", sql, "--own", f"crm={mine}")
    assert code == 0, out
    assert out["columns"] == ["tier", "n", "s"] and out["rows"] == [["vip", 8, sum(100 + i for i in range(8))]]
    # the join key is never output; without --own there is nothing to join
    code, out = analyze(people, "--policy", policy, "--own", f"crm={mine}",
                        "--sql", "SELECT p.id_no, count(*) FROM people p JOIN crm o ON p.id_no = o.id GROUP BY 1")
    assert (code, out["code"]) == (3, "query.column_not_allowed")
    code, out = analyze(people, "--policy", policy, "--sql", sql)
    assert (code, out["code"]) == (3, "query.join") and "--own" in out["reason"]
    code, out = analyze(people, "--policy", policy, "--sql", sql, "--own", f"people={mine}")
    assert (code, out["code"]) == (2, "analyze.bad_own")
