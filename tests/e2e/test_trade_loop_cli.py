"""The whole trade loop through the CLI, on SQLite and PostgreSQL, with its exit codes."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from e2e.conftest import TELECOM_CLEAR_POLICY, TELECOM_POLICY, WEATHER_POLICY
from suanshu.cli.main import app


@pytest.fixture
def cli(settings, database_url):
    runner = CliRunner()
    env = {"SUANSHU_HOME": str(settings.home), "SUANSHU_DATABASE_URL": database_url}

    def run(*args: str, code: int = 0):
        result = runner.invoke(app, [str(a) for a in args], env=env)
        assert result.exit_code == code, (args, result.output, result.exception)
        return result

    def run_json(*args: str, code: int = 0):
        return json.loads(run(*args, "--format", "json", code=code).stdout)

    run.json = run_json
    return run


def test_trade_loop(cli, sources, settings):
    files = sources["files"]
    assert cli.json("init")["operator_token"].startswith("ssk_")
    assert cli.json("org", "create", "meteo", "--role", "provider", "--region", "湖南-长沙")["token"]
    cli("org", "create", "telecom", "--role", "provider")
    cli("org", "create", "insurer", "--role", "buyer")
    cli("org", "create", "insurer", "--role", "buyer", code=3)  # exists
    cli("org", "create", "bad", "--role", "wizard", code=2)

    asset = cli.json("vault", "add", "meteo", files["weather_gbk"], "--name", "weather")
    assert asset["encoding"] == "gb18030" and asset["rows"] == 1500
    assert cli.json("vault", "add", "meteo", files["parcels"], "--name", "parcels")["format"] == "parquet"
    assert cli.json("vault", "add", "meteo", files["crops_xlsx"], "--name", "crops")["format"] == "xlsx"
    cli("vault", "add", "insurer", files["parcels"], code=3)  # buyers have no vault
    assert cli.json("vault", "add", "telecom", files["subscribers"], "--name", "subs")["grade"] == "general-4"
    assert [a["name"] for a in cli.json("vault", "list", "meteo")] == ["weather", "parcels", "crops"]

    report = cli.json("scan", files["subscribers"])
    assert report["rows"] == 600 and report["findings"][0].keys() >= {"row", "column", "type", "start", "end"}

    refused = cli.json("component", "publish", "telecom", "--asset", "subs", "--name", "subs_raw",
                       "--policy", json.dumps(TELECOM_CLEAR_POLICY), "--price", "1", "--legality", "用户协议已告知并取得同意",
                       code=3)
    assert refused["error"]["code"] == "gate.personal_info_in_clear"
    churn = cli.json("component", "publish", "telecom", "--asset", "subs", "--name", "subs_churn", "--price", "8.00",
                     "--policy", json.dumps(TELECOM_POLICY), "--drop", "resident_id", "--drop", "subscriber_name",
                     "--drop", "bank_card", "--drop", "email", "--mask", "mobile:3:4",
                     "--legality", "用户协议已告知并取得同意")
    policy_file = settings.home.parent / "policy.json"
    policy_file.write_text(json.dumps(WEATHER_POLICY))
    comp = cli.json("component", "publish", "meteo", "--asset", "weather", "--name", "weather_city",
                    "--policy", policy_file, "--price", "2.50", "--title", "湖南逐时气象",
                    "--legality", "气象站业务观测数据，依法取得")
    assert comp["state"] == churn["state"] == "in_review" and comp["price_fen"] == 250
    assert cli.json("component", "list") == []  # nothing is listed before the operator decides
    assert cli.json("contract", "request", "insurer", "weather_city", "--budget", "10",
                    code=3)["error"]["code"] == "component.not_found"

    # the operator's review queue shows the gate and the scan; approve one, reject and then approve the other
    queue = cli.json("review", "list")
    assert [e["name"] for e in queue] == ["subs_churn", "weather_city"]
    assert queue[0]["scan"]["grade"] == "general-4" and queue[0]["gate"]["passed"]
    assert cli.json("review", "reject", churn["id"], "--reason", "", code=2)["error"]["code"] == "review.reason_required"
    assert cli.json("review", "reject", churn["id"], "--reason", "标题缺失")["state"] == "rejected"
    assert cli.json("review", "approve", churn["id"], code=3)["error"]["code"] == "review.not_in_review"
    assert cli.json("component", "submit", churn["id"])["state"] == "in_review"
    assert cli.json("review", "approve", churn["id"])["state"] == "listed"
    assert cli.json("review", "approve", comp["id"])["listed_at"]
    history = cli.json("component", "history", churn["id"])
    assert [(h["action"], h["reason"]) for h in history] == [
        ("submit", ""), ("reject", "标题缺失"), ("resubmit", ""), ("approve", "")]
    assert {c["name"] for c in cli.json("component", "list")} == {"subs_churn", "weather_city"}

    assert cli.json("contract", "request", "insurer", "weather_city", "--budget", "10",
                    code=3)["error"]["code"] == "ledger.exceeds_credits"
    cli("ledger", "deposit", "insurer", "50")
    contract = cli.json("contract", "request", "insurer", "weather_city", "--budget", "10")
    assert contract["budget_fen"] == 1000 and contract["state"] == "active"

    sql = "SELECT station_name, count(*) AS n, round(avg(precipitation_mm), 2) AS rain FROM weather_city GROUP BY 1"
    answer = cli.json("query", contract["id"], sql)
    assert answer["columns"] == ["station_name", "n", "rain"]
    assert all(row[1] >= 30 for row in answer["rows"])
    assert answer["receipt"]["price_fen"] == 250
    denied = cli.json("query", contract["id"], "SELECT * FROM weather_city", code=3)
    assert denied["error"]["code"] == "query.star"
    cli("query", contract["id"], "SELECT city FROM", code=2)
    cli("query", "ctr_nope", sql, code=3)

    balances = cli.json("ledger", "balances")
    assert balances["sum_posted_fen"] == 0
    held = {(a["org"], a["code"]): a for a in balances["accounts"]}
    assert held[("insurer", "cash")]["held_fen"] == 750
    assert held[("meteo", "cash")]["posted_fen"] == 225
    assert cli.json("audit", "verify")["ok"]
    log = cli.json("audit", "log", "--limit", "100")
    assert {"org.create", "vault.add", "component.submit", "component.approve", "contract.sign", "query.answer", "query.deny",
            "ledger.deposit"} <= {e["action"] for e in log}
    table_output = cli("ledger", "balances").stdout
    assert "¥0.00" in table_output

    # delisting stops new contracts; the signed one keeps answering under its frozen terms
    assert cli.json("component", "delist", comp["id"], "--reason", "数据过期")["state"] == "delisted"
    assert cli.json("contract", "request", "insurer", "weather_city", "--budget", "10",
                    code=3)["error"]["code"] == "component.not_found"
    assert cli.json("query", contract["id"], sql)["receipt"]["price_fen"] == 250
