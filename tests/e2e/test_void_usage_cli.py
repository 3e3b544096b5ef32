"""A stored usage event rating refuses, through the CLI on SQLite and PostgreSQL: it blocks the
invoice (``billing.bad_usage_event``, naming the way out), the operator voids it
(``suanshu ledger void-usage``), the invoice issues with the other events, the audit log holds the void."""

from __future__ import annotations

import json
import shlex
from datetime import UTC, datetime

from e2e.conftest import WEATHER_POLICY
from e2e.test_trade_loop_cli import cli  # noqa: F401  (the fixture: the real Typer app on this backend)
from sqlalchemy import select

from suanshu.audit.models import AuditEvent
from suanshu.billing.models import UsageEvent
from suanshu.core.db import Database
from suanshu.demo import datasets

T0 = "2026-11-01T00:00:00Z"


def _contract(cli, tmp_path) -> str:  # noqa: F811
    weather = datasets.write_csv(datasets.meteorology_hourly(rows=300), tmp_path / "weather.csv")
    cli("init")
    cli("org", "create", "meteo", "--role", "provider")
    cli("org", "create", "insurer", "--role", "buyer")
    cli("vault", "add", "meteo", weather, "--name", "weather")
    comp = cli.json("component", "publish", "meteo", "--asset", "weather", "--name", "weather_city",
                    "--policy", json.dumps(WEATHER_POLICY), "--price", "2.50", "--legality", "气象站业务观测数据，依法取得")
    cli("review", "approve", comp["id"])
    cli("ledger", "deposit", "insurer", "100")
    return cli.json("contract", "request", "insurer", "weather_city", "--budget", "50")["id"]


def test_a_bad_stored_event_blocks_the_invoice_until_the_operator_voids_it(cli, settings, tmp_path):  # noqa: F811
    contract = _contract(cli, tmp_path)
    usage = tmp_path / "usage.jsonl"
    usage.write_text("".join(json.dumps({"id": f"q{i}", "source": "meter/queries", "type": "suanshu.usage.query",
                                         "subject": contract, "time": f"2026-11-0{i + 1}T08:00:00Z",
                                         "data": {"count": 2}}) + "\n" for i in range(3)))
    assert cli.json("ledger", "usage", usage)["new"] == 3
    db = Database(settings)  # an old row, stored before ingest checked quantities
    with db.transaction() as s:
        s.add(UsageEvent(source="meter/queries", id="q-old", type="suanshu.usage.query", subject=contract,
                         time=datetime(2026, 11, 2, tzinfo=UTC), data={"count": -40}))
    invoice = ("ledger", "invoice", contract, "--plan", '{"per_query_fen": 100}', "--from", T0,
               "--to", "2026-12-01T00:00:00Z")

    refused = cli.json(*invoice, code=2)["error"]
    assert refused["code"] == "billing.bad_usage_event" and "meter/queries/q-old" in refused["message"]
    way_out = refused["message"].split("void it to invoice the rest: ")[1].split(" --reason")[0]
    assert shlex.split(way_out) == ["suanshu", "ledger", "void-usage", "meter/queries", "q-old"], refused

    assert cli.json("ledger", "void-usage", "meter/queries", "q-old", "--reason", "", code=2)["error"]["code"] \
        == "usage.reason_required"
    assert cli.json("ledger", "void-usage", "meter/queries", "q-nope", "--reason", "typo", code=3)["error"]["code"] \
        == "usage.not_found"
    said = cli(*shlex.split(way_out)[1:], "--reason", "负数用量 [计量 bug]").stdout
    assert "meter/queries/q-old" in said and "voided" in said and "负数用量 [计量 bug]" in said, said
    again = cli.json(*shlex.split(way_out)[1:], "--reason", "again")
    assert again["voided"] and again["void_reason"] == "负数用量 [计量 bug]" and again["voided_by"] == "local:exchange"

    issued = cli.json(*invoice)
    assert issued["events"] == 3 and issued["total_fen"] == 600 and issued["lines"][0]["quantity"] == 6
    assert cli.json("ledger", "reconcile")["ok"] and cli.json("audit", "verify")["ok"]
    assert cli.json("ledger", "void-usage", "meter/queries", "q1", "--reason", "late", code=3)["error"]["code"] \
        == "usage.already_invoiced"
    with db.transaction() as s:
        voids = [(e.actor, e.subject, e.payload["id"], e.payload["reason"]) for e in s.scalars(
            select(AuditEvent).where(AuditEvent.action == "usage.void"))]
        kept = s.get(UsageEvent, ("meter/queries", "q-old"))
        assert kept.voided_at is not None and kept.invoice_id is None and kept.data == {"count": -40}
    db.dispose()
    assert voids == [("local:exchange", contract, "q-old", "负数用量 [计量 bug]")]
    actions = [e["action"] for e in cli.json("audit", "log", "--limit", "5")]
    assert actions[0] == "invoice.issue" and "usage.void" in actions, actions
