"""Demand -> bids -> acceptance -> contract -> query -> settlement, through the HTTP API
(in-process client over a real exchange), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from e2e.conftest import WEATHER_POLICY
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from suanshu.api.app import create_app
from suanshu.audit.models import AuditEvent
from suanshu.cli.main import app
from suanshu.core.clock import utcnow
from suanshu.market import demands, orgs
from suanshu.market.exchange import Exchange
from suanshu.market.tables import Demand

POOL = {"name": "ascend-910b", "kind": "ai", "arch": "aarch64", "region": "湖南-湘潭", "cpu": 192,
        "memory_gb": 1536, "accelerators": {"ascend-910b": 8},
        "price": {"cpu_hour": 5, "memory_gb_hour": 1, "accelerator_hour": {"ascend-910b": 1200}},
        "transfer_fen_per_gb": {"湖南-湘潭": 0, "湖南-长沙": 15}}
JOB = {"cpu": 16, "memory_gb": 64, "accelerators": {"ascend-910b": 4}, "hours": 20, "data": {"region": "湖南-长沙", "gb": 10}}


@pytest.fixture
def api(settings):
    ex = Exchange.open(settings)
    _, op_token = orgs.ensure_operator(ex)
    with TestClient(create_app(ex)) as client:
        yield client, op_token
    ex.close()


def auth(token: str, key: str | None = None) -> dict:
    h = {"Authorization": f"Bearer {token}"}
    return {**h, "Idempotency-Key": key} if key else h


def make_org(client, op, name, region, *roles) -> str:
    r = client.post("/api/v1/orgs", json={"name": name, "roles": list(roles), "region": region}, headers=auth(op))
    assert r.status_code == 201, r.text
    return r.json()["token"]


def cash(client, token) -> dict:
    return next(a for a in client.get("/api/v1/ledger/balances", headers=auth(token)).json()["accounts"]
                if a["code"] == "cash")


def test_demand_to_settlement(api, sources):
    client, op = api
    meteo = make_org(client, op, "meteo", "湖南-长沙", "provider")
    rival = make_org(client, op, "rival-meteo", "湖南-株洲", "provider")
    ai = make_org(client, op, "xiangjiang-ai", "湖南-湘潭", "compute")
    buyer = make_org(client, op, "insurer", "湖南-长沙", "buyer")

    # providers list weather components; a compute provider registers a pool with auction terms
    for token, name, title in [(meteo, "weather_city", "湖南逐时气象（城市聚合）"),
                               (rival, "weather_rival", "湖南天气观测统计")]:
        with sources["files"]["weather_gbk"].open("rb") as fh:
            assert client.post("/api/v1/vault/assets", headers=auth(token), files={"file": ("w.csv", fh)},
                               data={"name": "weather"}).status_code == 201
        r = client.post("/api/v1/components", headers=auth(token), json={
            "name": name, "asset": "weather", "policy": WEATHER_POLICY, "price_fen": 300, "title": title,
            "description": "逐时降水与气温，按城市聚合", "tags": ["气象", "降水"], "source_legality_statement": "气象站业务观测数据，依法取得并有权对外提供"})
        assert r.status_code == 201, r.text
        # operator review: in_review -> listed and registered (登记) in one step
        assert client.post(f"/api/v1/components/{r.json()['id']}/approve", headers=auth(op)).status_code == 200
    pool = client.post("/api/v1/pools", headers=auth(ai), json=POOL)
    assert pool.status_code == 201, pool.text
    pool_id = pool.json()["id"]
    r = client.put(f"/api/v1/pools/{pool_id}/offer", headers=auth(ai), json={"floor_fen": 150_000, "ready_hours": 2})
    assert r.status_code == 200 and r.json()["floor_fen"] == 150_000
    assert client.post("/api/v1/ledger/deposits", headers=auth(op),
                       json={"org": "insurer", "amount_fen": 500_000}).status_code == 201

    # the buyer searches, then posts a demand (idempotently)
    found = client.get("/api/v1/catalog/search", params={"q": "长沙 天气 降雨", "region": "湖南"}, headers=auth(buyer))
    assert found.status_code == 200 and found.json()["total"] == 2
    demand = {"title": "长沙 2023 逐时降雨数据 + 智算训练产量模型", "description": "需要城市级逐时降水、气温",
              "tags": ["气象", "降水"], "region": "湖南-长沙", "compute": JOB, "budget_fen": 300_000,
              "deadline": (datetime.now(UTC) + timedelta(days=3)).isoformat()}
    r = client.post("/api/v1/demands", headers=auth(buyer, "d-1"), json=demand)
    assert r.status_code == 201, r.text
    d = r.json()
    again = client.post("/api/v1/demands", headers=auth(buyer, "d-1"), json=demand)
    assert again.json()["id"] == d["id"] and again.headers.get("Idempotent-Replayed") == "true"
    assert d["matches"]["pools"] == [pool_id] and len(d["matches"]["components"]) == 2
    assert client.post("/api/v1/demands", headers=auth(meteo), json=demand).status_code == 403  # buyers post

    # providers and the compute provider are notified; providers bid
    for token in (meteo, rival, ai):
        inbox = client.get("/api/v1/notifications", headers=auth(token)).json()["items"]
        assert [n["subject"] for n in inbox if n["kind"] == "demand.match"] == [d["id"]]
    bids = {}
    for token, comp, price in [(meteo, "weather_city", 250), (rival, "weather_rival", 180)]:
        r = client.post(f"/api/v1/demands/{d['id']}/bids", headers=auth(token, f"b-{comp}"),
                        json={"component": comp, "price_fen": price, "note": "2023 全年"})
        assert r.status_code == 201, r.text
        bids[comp] = r.json()
    assert [n["kind"] for n in client.get("/api/v1/notifications", headers=auth(buyer)).json()["items"]].count("bid.received") == 2

    # side by side: the buyer sees every bid and the auction; a bidder only its own
    board = client.get(f"/api/v1/demands/{d['id']}", headers=auth(buyer)).json()
    data_bids = [b for b in board["bids"] if b["kind"] == "data"]
    assert [b["price_fen"] for b in data_bids] == [180, 250]
    compute_bid = next(b for b in board["bids"] if b["kind"] == "compute")
    assert compute_bid["auto"] and compute_bid["pool"] == pool_id and compute_bid["price_fen"] == 150_000  # the floor binds (plan: 99,030)
    assert board["auction"]["winner"] == pool_id
    assert [b["id"] for b in client.get(f"/api/v1/demands/{d['id']}", headers=auth(meteo)).json()["bids"]] == \
        [bids["weather_city"]["id"]]

    # acceptance: the contract and both holds in one step
    r = client.post(f"/api/v1/demands/{d['id']}/accept", headers=auth(buyer, "a-1"),
                    json={"bids": [bids["weather_city"]["id"], compute_bid["id"]]})
    assert r.status_code == 200, r.text
    award = r.json()
    assert len(award["contracts"]) == 1 and len(award["holds"]) == 2
    assert cash(client, buyer)["held_fen"] == 300_000
    contract = client.get(f"/api/v1/contracts/{award['contracts'][0]}", headers=auth(buyer)).json()
    assert contract["price_fen"] == 250 and contract["budget_fen"] == 150_000
    assert client.post(f"/api/v1/demands/{d['id']}/accept", headers=auth(buyer),
                       json={"bids": [bids["weather_rival"]["id"]]}).status_code == 409
    assert "bid.rejected" in [n["kind"] for n in client.get("/api/v1/notifications", headers=auth(rival)).json()["items"]]

    # query under the contract and settlement: the bid's price is charged and split
    sql = "SELECT city, count(*) AS n, avg(temperature_c) AS t FROM weather_city GROUP BY city"
    r = client.post(f"/api/v1/contracts/{contract['id']}/queries", headers=auth(buyer), json={"sql": sql})
    assert r.status_code == 200, r.text
    receipt = r.json()["receipt"]
    assert receipt["price_fen"] == 250 and receipt["provider_fen"] + receipt["operator_fen"] == 250
    assert cash(client, meteo)["posted_fen"] == receipt["provider_fen"]
    buyer_cash = cash(client, buyer)
    assert buyer_cash["posted_fen"] == 500_000 - 250 and buyer_cash["held_fen"] == 300_000 - 250
    everything = client.get("/api/v1/ledger/balances", headers=auth(op)).json()["accounts"]
    assert sum(a["posted_fen"] for a in everything) == 0

    # the buyer ends the contract before any job used the compute award: both holds are released
    r = client.post(f"/api/v1/contracts/{contract['id']}/cancel", headers=auth(buyer))
    assert r.status_code == 200, r.text
    assert cash(client, buyer)["held_fen"] == 0
    board = client.get(f"/api/v1/demands/{d['id']}", headers=auth(buyer)).json()
    awarded = next(b for b in board["bids"] if b["id"] == compute_bid["id"])
    assert awarded["hold"] is None and awarded["detail"]["award"]["state"] == "void"
    assert awarded["detail"]["award"]["reason"] == "contract.cancelled"
    assert client.get("/api/v1/audit/verify", headers=auth(op)).json()["ok"] is True


def test_expired_demands_close_and_refuse_bids(api, sources):
    client, op = api
    buyer = make_org(client, op, "insurer", "湖南-长沙", "buyer")
    meteo = make_org(client, op, "meteo", "湖南-长沙", "provider")
    # A deadline a few seconds ahead: a loaded machine took over 2 s to serve the request.
    deadline = datetime.now(UTC) + timedelta(seconds=4)
    r = client.post("/api/v1/demands", headers=auth(buyer), json={
        "title": "株洲 土地", "budget_fen": 1000, "deadline": deadline.isoformat()})
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/demands", headers=auth(buyer), json={
        "title": "past", "budget_fen": 1000, "deadline": "2020-01-01T00:00:00Z"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "demand.invalid"
    # let the deadline pass (the sweeper is called with the real clock)
    time.sleep(max(0.0, (deadline - datetime.now(UTC)).total_seconds()) + 0.1)
    ex = client.app.state.exchange
    env = {"SUANSHU_HOME": str(ex.settings.home), "SUANSHU_DATABASE_URL": ex.settings.database_url}
    out = CliRunner().invoke(app, ["demand", "sweep", "-f", "json"], env=env)
    assert out.exit_code == 0, out.output
    assert len(json.loads(out.output)["expired"]) == 1
    did = client.get("/api/v1/demands", params={"mine": True}, headers=auth(buyer)).json()["items"][0]
    assert did["state"] == "expired"
    r = client.post(f"/api/v1/demands/{did['id']}/bids", headers=auth(meteo), json={"component": "x", "price_fen": 1})
    assert r.status_code == 409 and r.json()["error"]["code"] == "demand.closed"


def test_the_served_app_closes_expired_demands(settings):
    """`suanshu serve` sweeps on a timer: a demand past its deadline closes with no call from anyone."""
    ex = Exchange.open(settings)
    orgs.ensure_operator(ex)
    orgs.create_org(ex, None, "insurer", ["buyer"])
    demand = demands.post(ex, orgs.local_actor(ex, "insurer"), demands.DemandSpec(
        title="株洲 土地", budget_fen=1000, deadline=utcnow() + timedelta(seconds=2)))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = os.environ | {"SUANSHU_HOME": str(settings.home), "SUANSHU_DATABASE_URL": settings.database_url,
                        "SUANSHU_SWEEP_SECONDS": "0.2"}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "suanshu"), "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(600):  # bounded wait until it serves (so SIGTERM below meets uvicorn's handler)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login"):
                    break
            except OSError:
                assert proc.poll() is None, proc.communicate()[0]
                time.sleep(0.1)
        for _ in range(600):  # bounded wait for the deadline to pass and the sweeper's next tick
            with ex.db.transaction() as s:
                state = s.get(Demand, demand.id).state
            if state != "open" or proc.poll() is not None:
                break
            time.sleep(0.1)
    finally:
        proc.terminate()
        output = proc.communicate(timeout=60)[0]
    assert state == "expired", output
    assert proc.returncode == 0 and "Traceback" not in output, output  # the sweeper stopped cleanly
    with ex.db.transaction() as s:
        ev = s.scalar(select(AuditEvent).where(AuditEvent.subject == demand.id, AuditEvent.action == "demand.expire"))
    assert ev.actor == "system:sweeper"
    ex.close()
