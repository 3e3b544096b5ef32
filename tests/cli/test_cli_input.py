"""Ordinary bad input to the CLI: exit 2 with a stable code (JSON too), nothing half-written.

Driven through the real Typer app over a real SQLite data dir.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from suanshu.cli.main import app

WEATHER = "city,month,temperature_c\n" + "".join(f"{c},2024-0{m},{20 + m}\n" for c in ("长沙", "株洲")
                                                  for m in range(1, 7) for _ in range(5))
POLICY_YAML = """mode: aggregate
min_group_size: 5
columns:
  city: dimension
  month: dimension
  temperature_c: aggregate
"""


class Cli:
    def __init__(self, home):
        self.home = home
        self.env = {"SUANSHU_HOME": str(home), "SUANSHU_DATABASE_URL": None, "SUANSHU_URL": None}

    def __call__(self, *args):
        """(exit code, stdout, stderr) of a table-format run."""
        r = CliRunner().invoke(app, [str(a) for a in args], env=self.env)
        return r.exit_code, r.stdout, r.stderr

    def json(self, *args):
        """(exit code, parsed stdout) of a --format json run."""
        r = CliRunner().invoke(app, [str(a) for a in args] + ["--format", "json"], env=self.env)
        assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
        return r.exit_code, json.loads(r.stdout) if r.stdout.strip() else None

    def code(self, *args):
        status, body = self.json(*args)
        return status, body["error"]["code"]


@pytest.fixture
def cli(tmp_path):
    return Cli(tmp_path / "home")


@pytest.fixture
def world(cli, tmp_path):
    """An initialised exchange with a provider holding a weather asset."""
    assert cli.json("init")[0] == 0
    assert cli.json("org", "create", "meteo", "--role", "provider", "--region", "湖南-长沙")[0] == 0
    (tmp_path / "weather.csv").write_text(WEATHER, encoding="utf-8")
    assert cli.json("vault", "add", "meteo", tmp_path / "weather.csv", "--name", "weather")[0] == 0
    return cli


def publish(cli, policy, price="1.00", *extra):
    return cli.json("component", "publish", "meteo", "--asset", "weather", "--name", "weather_monthly",
                    "--price", price, "--policy", policy, "--legality", "气象站观测数据，依法取得", *extra)


def test_unreadable_json_arguments_are_usage_errors(world, tmp_path):
    cli = world
    (tmp_path / "latin1.json").write_bytes(b'{"name": "caf\xe9"}')
    (tmp_path / "arr.json").write_text("[1, 2]")
    assert cli.code("pool", "add", "meteo", tmp_path / "nope.json") == (2, "pool.bad_json")
    assert cli.code("pool", "add", "meteo", "[1]") == (2, "pool.invalid")
    assert cli.code("pool", "add", "meteo", tmp_path / "latin1.json") == (2, "pool.bad_json")
    assert cli.code("pool", "add", "meteo", tmp_path) == (2, "pool.bad_json")  # a directory
    assert publish(cli, str(tmp_path / "nope.json"))[1]["error"]["code"] == "policy.bad_json"
    assert publish(cli, str(tmp_path / "arr.json"))[1]["error"]["code"] == "policy.invalid"
    assert publish(cli, str(tmp_path / "latin1.json"))[1]["error"]["code"] == "policy.bad_json"
    assert cli.json("review", "list")[1] == []
    (tmp_path / "usage.jsonl").write_text('{"id": "u1"}\nnot json\n')
    assert cli.code("ledger", "usage", tmp_path / "usage.jsonl") == (2, "billing.bad_usage_file")
    assert cli.code("ledger", "invoice", "ctr_x", "--plan", "{nope", "--from", "2024-01-01T00:00Z",
                    "--to", "2024-02-01T00:00Z") == (2, "billing.bad_plan")


@pytest.mark.parametrize("amount", ["99999999999999999999", "92233720368547758.08", "9" * 5000 + "fen"])
def test_amounts_beyond_a_bigint_are_refused(world, amount):
    cli = world
    status, body = publish(cli, POLICY_YAML, amount)
    assert (status, body["error"]["code"]) == (2, "money.invalid")
    assert cli.json("review", "list")[1] == []
    assert cli.code("ledger", "deposit", "meteo", amount) == (2, "money.invalid")


def test_the_largest_amount_still_parses(world):
    status, body = publish(world, POLICY_YAML, "92233720368547758.07")
    assert status == 0 and body["price_fen"] == 2**63 - 1


def test_text_that_is_not_utf8_is_refused_before_anything_runs(world):
    cli = world
    status, body = cli.json("org", "create", "buyer", "--role", "buyer", "--display-name", "\udcff\udcfe")
    assert (status, body["error"]["code"]) == (2, "text.not_utf8")
    assert "display-name" in body["error"]["message"]
    status, _, err = cli("org", "create", "buyer", "--role", "buyer", "--display-name", "\udcff")
    assert status == 2 and "text.not_utf8" in err
    assert [o["name"] for o in cli.json("org", "list")[1]] == ["exchange", "meteo"]
    assert publish(cli, POLICY_YAML, "1", "--sql", "SELECT \udcff FROM weather")[1]["error"]["code"] == \
        "text.not_utf8"
    assert cli.code("query", "ctr_x", "SELECT '\udcff'") == (2, "text.not_utf8")
    status, body = cli.json("analyze", "x.csv", "--policy", POLICY_YAML, "--sql", "SELECT '\udcff'")
    assert (status, body["code"]) == (2, "text.not_utf8")


def test_commands_refuse_a_home_without_an_exchange_and_create_nothing(cli):
    assert cli.code("ledger", "balances") == (2, "exchange.not_initialised")
    status, _, err = cli("org", "list")
    assert status == 2 and "suanshu init" in err
    assert not cli.home.exists()
    status, out, _ = cli("init")
    assert status == 0 and "Operator token (shown once): ssk_" in out
    assert cli.json("ledger", "balances")[0] == 0


def test_every_command_named_in_the_readme_takes_format(world, tmp_path):
    cli = world
    assert cli.code("audit", "prove", "qry_nothing") == (3, "audit.entry_not_found")
    assert cli.json("audit", "checkpoint")[0] == 0
    status, proof = cli.json("audit", "prove", "1")
    assert status == 0 and proof["leaf_index"] == 0 and proof["checkpoint"]["tree_size"] >= 1
    status, out, _ = cli("audit", "prove", "1")
    assert status == 0 and "Inclusion proof of audit entry #1" in out
    assert cli.code("component", "show", "nothing") == (3, "component.not_found")
    assert cli.code("user", "disable", "nobody") == (3, "user.not_found")
    assert cli.code("ledger", "invoice", "ctr_nothing", "--plan", "{}", "--from", "2024-01-01T00:00Z",
                    "--to", "yesterday") == (2, "billing.bad_time")
    status, statement = cli.json("ledger", "statement", "meteo", "--from", "2024-01-01T00:00Z",
                                 "--to", "2024-02-01T00:00Z")
    assert status == 0 and isinstance(statement, dict)
    status, checkpoints = cli.json("audit", "export-checkpoints")
    assert status == 0 and len(checkpoints) == 1 and checkpoints[0]["public_key"]
    status, written = cli.json("audit", "export-checkpoints", "--out", tmp_path / "cps.jsonl")
    assert status == 0 and written["checkpoints"] == 1
    assert json.loads((tmp_path / "cps.jsonl").read_text().splitlines()[0]) == checkpoints[0]


def test_component_show_in_both_formats(world):
    cmp_id = publish(world, POLICY_YAML)[1]["id"]
    assert world.json("review", "approve", cmp_id)[0] == 0
    status, out, _ = world("component", "show", cmp_id)
    assert status == 0 and "weather_monthly" in out and "temperature_c" in out
    assert world.json("component", "show", cmp_id)[1]["id"] == cmp_id


def test_ids_print_whole_in_an_80_column_table(world):
    cmp_id = publish(world, POLICY_YAML)[1]["id"]
    status, out, _ = world("review", "list")
    assert status == 0 and cmp_id in out and "org_" not in out  # the org by name, not a second id
    asset_id = world.json("vault", "list", "meteo")[1][0]["id"]
    assert asset_id in world("vault", "list", "meteo")[1]


def test_publish_takes_the_policy_as_analyze_does(world, tmp_path):
    (tmp_path / "policy.yaml").write_text("table: weather\n" + POLICY_YAML)  # analyze's table: the name wins
    status, body = publish(world, str(tmp_path / "policy.yaml"))
    assert status == 0 and body["policy"]["table"] == "weather_monthly", body
    assert body["policy"]["columns"]["city"] == "dimension"
    status, body = publish(world, POLICY_YAML.replace("5", "6"))  # inline YAML
    assert status == 0 and body["policy"]["min_group_size"] == 6
    job = "{mode: job, columns: {city: dimension, temperature_c: aggregate}, job: {max_cpu: 2, max_hours: 1}}"
    status, body = publish(world, job)  # the README's job-mode component: inline YAML flow style
    assert status == 0 and body["policy"]["mode"] == "job", body


@pytest.mark.parametrize("policy", [
    POLICY_YAML + "  city: aggregate\n",
    '{"mode": "aggregate", "min_group_size": 5, "columns": {"city": "dimension", "city": "aggregate"}}',
    '{"mode": "aggregate", "mode": "dp", "columns": {"city": "dimension"}}',
])
def test_a_key_given_twice_is_refused(world, tmp_path, policy):
    status, body = publish(world, policy)
    assert (status, body["error"]["code"]) == (2, "policy.invalid")
    assert "twice" in body["error"]["message"]
    assert world.json("review", "list")[1] == []
    (tmp_path / "weather.csv").write_text(WEATHER, encoding="utf-8")
    (tmp_path / "dup.yaml").write_text("table: weather\n" + policy if policy.startswith("mode") else policy)
    status, body = world.json("analyze", tmp_path / "weather.csv", "--policy", tmp_path / "dup.yaml",
                              "--sql", "SELECT city, count(*) FROM weather GROUP BY city")
    assert (status, body["code"]) == (2, "policy.invalid")


def test_yaml_merge_keys_may_still_override():
    from suanshu.cli import documents

    doc = "base: &b {x: 1, y: 2}\nover:\n  <<: *b\n  y: 3\n"
    assert documents.load(doc, "policy", code="policy.bad_file")["over"] == {"x": 1, "y": 3}


def test_bad_usage_quantities_are_refused_and_statements_carry_utc(world, tmp_path):
    """QA: a negative or non-numeric usage quantity was stored (then lowered or crashed invoices);
    statement rows carried Beijing minutes with no zone."""
    cli = world
    for data in ('{"count": "many"}', '{"resource": "cpu", "seconds": -36000}'):
        (tmp_path / "u.jsonl").write_text(
            '{"id": "n1", "source": "qa", "type": "suanshu.usage.query", "subject": "C", '
            '"time": "2025-03-10T00:00:00Z", "data": {"count": 10}}\n'
            '{"id": "n2", "source": "qa", "type": "suanshu.usage.resource", "subject": "C", '
            f'"time": "2025-03-11T01:00:00Z", "data": {data}}}\n')
        assert cli.code("ledger", "usage", tmp_path / "u.jsonl") == (2, "usage.bad_event")
    assert cli.json("ledger", "deposit", "meteo", "100")[0] == 0
    status, out, _ = cli("ledger", "statement", "meteo", "--from", "2020-01-01T00:00:00Z",
                         "--to", "2100-01-01T00:00:00Z", "--as", "json")
    rows = json.loads(out)["rows"]
    assert status == 0 and rows and rows[0]["time"].endswith("Z") and len(rows[0]["time"]) == 20, rows
    status, out, _ = cli("ledger", "statement", "meteo", "--from", "2020-01-01T00:00:00Z", "--to", "2100-01-01T00:00:00Z")
    assert status == 0 and out.startswith("time (UTC),") and rows[0]["time"] in out
