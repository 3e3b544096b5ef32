"""The whole trade loop through the HTTP API (in-process client), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import defaultdict

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from e2e.conftest import TELECOM_CLEAR_POLICY, TELECOM_POLICY, TELECOM_RULES, WEATHER_POLICY
from suanshu.api.app import create_app
from suanshu.market import orgs
from suanshu.market.exchange import Exchange


@pytest.fixture
def api(settings):
    ex = Exchange.open(settings)
    _, op_token = orgs.ensure_operator(ex)
    with TestClient(create_app(ex)) as client:
        yield client, ex, op_token
    ex.close()


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def make_org(client, op_token, name, *roles) -> str:
    r = client.post("/api/v1/orgs", json={"name": name, "roles": list(roles)}, headers=auth(op_token))
    assert r.status_code == 201, r.text
    return r.json()["token"]


def error_code(r) -> str:
    return r.json()["error"]["code"]


def reference_weather(weather, k: int) -> dict:
    """avg temperature per city over the raw rows, groups below k removed."""
    groups = defaultdict(list)
    for city, t in zip(weather.column("city").to_pylist(), weather.column("temperature_c").to_pylist()):
        groups[city].append(t)
    return {c: (len(v), sum(v) / len(v)) for c, v in groups.items() if len(v) >= k}


def test_trade_loop(api, sources):
    client, ex, op = api
    meteo = make_org(client, op, "meteo", "provider")
    telecom = make_org(client, op, "telecom", "provider")
    buyer = make_org(client, op, "insurer", "buyer")
    other_buyer = make_org(client, op, "rival", "buyer")

    # vault: a GBK CSV is detected and ingested; the scan runs on every ingest
    with sources["files"]["weather_gbk"].open("rb") as fh:
        r = client.post("/api/v1/vault/assets", headers=auth(meteo), files={"file": ("气象.csv", fh, "text/csv")},
                        data={"name": "weather"})
    assert r.status_code == 201, r.text
    asset = r.json()
    assert (asset["encoding"], asset["rows"], asset["format"]) == ("gb18030", 1500, "csv")
    assert {"name": "city", "type": "VARCHAR"} in asset["columns"]
    with sources["files"]["subscribers"].open("rb") as fh:
        r = client.post("/api/v1/vault/assets", headers=auth(telecom), files={"file": ("subs.csv", fh)},
                        data={"name": "subscribers"})
    assert r.status_code == 201 and r.json()["grade"] == "general-4"
    scan = client.get(f"/api/v1/vault/assets/{r.json()['id']}/scan", headers=auth(telecom)).json()
    pi = {c["name"]: c["pi"] for c in scan["columns"]}
    assert pi["resident_id"] == "sensitive" and pi["bank_card"] == "sensitive" and pi["mobile"] == "personal"
    assert client.get(f"/api/v1/vault/assets/{r.json()['id']}/scan", headers=auth(buyer)).status_code == 404

    # components: the clear one is refused by the gate, the desensitized one is listed
    r = client.post("/api/v1/components", headers=auth(telecom), json={
        "name": "subs_raw", "asset": "subscribers", "policy": TELECOM_CLEAR_POLICY, "price_fen": 100,
        "source_legality_statement": "用户协议已告知并取得同意"})
    assert r.status_code == 403 and error_code(r) == "gate.personal_info_in_clear"
    r = client.post("/api/v1/components", headers=auth(telecom), json={
        "name": "subs_churn", "asset": "subscribers", "policy": TELECOM_POLICY, "price_fen": 800,
        "desensitize": TELECOM_RULES, "source_legality_statement": "用户协议已告知并取得同意"})
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/components", headers=auth(meteo), json={
        "name": "weather_city", "asset": "weather", "policy": WEATHER_POLICY, "price_fen": 250,
        "title": "湖南逐时气象", "tags": ["气象"], "source_legality_statement": "气象站业务观测数据，依法取得并有权对外提供"})
    assert r.status_code == 201, r.text
    assert r.json()["gate"]["passed"] and r.json()["state"] == "in_review"
    assert client.post("/api/v1/components", headers=auth(buyer), json={
        "name": "x", "asset": "weather", "policy": WEATHER_POLICY, "price_fen": 1}).status_code == 403
    assert client.get("/api/v1/components", headers=auth(buyer)).json()["items"] == []

    # review: the operator sees the queue with the scan grade, and lists both
    queue = client.get("/api/v1/review", headers=auth(op)).json()["items"]
    assert [e["name"] for e in queue] == ["subs_churn", "weather_city"]
    assert queue[0]["scan"]["grade"] == "general-4" and queue[0]["scan"]["findings_total"] > 0
    assert all(e["gate"]["passed"] for e in queue)
    assert client.get("/api/v1/review", headers=auth(buyer)).status_code == 403
    for entry in queue:
        assert error_code(client.post(f"/api/v1/components/{entry['id']}/approve", headers=auth(meteo))) == \
            "auth.role_required"
        r = client.post(f"/api/v1/components/{entry['id']}/approve", headers=auth(op))
        assert r.status_code == 200 and r.json()["state"] == "listed", r.text
    catalog = client.get("/api/v1/components", headers=auth(buyer)).json()["items"]
    assert {c["name"] for c in catalog} == {"subs_churn", "weather_city"}

    # contracts: no money -> refused and nothing held; after a deposit the budget is held
    r = client.post("/api/v1/contracts", headers=auth(buyer), json={"component": "weather_city", "budget_fen": 1000})
    assert r.status_code == 403 and error_code(r) == "ledger.exceeds_credits"
    assert client.get("/api/v1/contracts", headers=auth(buyer)).json() == {"items": [], "next_cursor": None}
    assert client.post("/api/v1/ledger/deposits", headers=auth(buyer),
                       json={"org": "insurer", "amount_fen": 10}).status_code == 403
    r = client.post("/api/v1/ledger/deposits", headers=auth(op), json={"org": "insurer", "amount_fen": 5000})
    assert r.status_code == 201
    r = client.post("/api/v1/contracts", headers=auth(buyer), json={"component": "weather_city", "budget_fen": 1000})
    assert r.status_code == 201, r.text
    contract = r.json()
    assert contract["policy"]["min_group_size"] == 30 and contract["price_fen"] == 250
    cash = _accounts(client, buyer)["cash"]
    assert (cash["posted_fen"], cash["held_fen"], cash["available_fen"]) == (5000, 1000, 4000)

    # a governed query: answers equal the reference, small groups never leave
    sql = "SELECT city, count(*) AS n, avg(temperature_c) AS t FROM weather_city GROUP BY city ORDER BY city"
    r = client.post(f"/api/v1/contracts/{contract['id']}/queries", headers=auth(buyer), json={"sql": sql})
    assert r.status_code == 200, r.text
    body = r.json()
    expected = reference_weather(sources["weather"], 30)
    got = {row[0]: (row[1], row[2]) for row in body["rows"]}
    assert got.keys() == expected.keys()
    for city, (n, t) in expected.items():
        assert got[city][0] == n and got[city][1] == pytest.approx(t)
    receipt = body["receipt"]
    assert (receipt["price_fen"], receipt["provider_fen"], receipt["operator_fen"]) == (250, 225, 25)
    assert receipt["budget_left_fen"] == 750 and receipt["audit_seq"] > 0

    # refusals: a hidden column, someone else's contract, a provider querying
    r = client.post(f"/api/v1/contracts/{contract['id']}/queries", headers=auth(buyer),
                    json={"sql": "SELECT observed_at, count(*) FROM weather_city GROUP BY observed_at"})
    assert r.status_code == 403 and error_code(r) == "query.column_not_allowed"
    r = client.post(f"/api/v1/contracts/{contract['id']}/queries", headers=auth(buyer), json={"sql": "SELEC 1"})
    assert r.status_code == 422 and error_code(r) == "query.parse_error"
    r = client.post(f"/api/v1/contracts/{contract['id']}/queries", headers=auth(other_buyer), json={"sql": sql})
    assert r.status_code == 404 and error_code(r) == "contract.not_found"
    r = client.post(f"/api/v1/contracts/{contract['id']}/queries", headers=auth(meteo), json={"sql": sql})
    assert r.status_code == 403 and error_code(r) == "auth.role_required"
    assert client.get("/api/v1/components", headers=auth("ssk_forged")).status_code == 401

    # the contract's queries: the buyer sees its SQL and receipts, the provider only hashes and counts
    runs = client.get(f"/api/v1/contracts/{contract['id']}/queries", headers=auth(buyer)).json()["items"]
    assert [(q["status"], q["error_code"]) for q in runs] == [
        ("succeeded", None), ("denied", "query.column_not_allowed"), ("denied", "query.parse_error")]
    assert runs[0]["sql"] == sql and runs[0]["receipt"]["audit_seq"] == receipt["audit_seq"]
    seen = client.get(f"/api/v1/contracts/{contract['id']}/queries", params={"status": "succeeded"},
                      headers=auth(meteo)).json()["items"]
    assert [(q["sql"], q["receipt"], q["price_fen"]) for q in seen] == [(None, None, 250)]
    assert client.get(f"/api/v1/contracts/{contract['id']}/queries", headers=auth(other_buyer)).status_code == 404

    # settlement: refusals cost nothing; the charge was split; every account sums to zero
    assert _accounts(client, buyer)["cash"]["available_fen"] == 4000
    assert _accounts(client, buyer)["cash"]["posted_fen"] == 4750
    assert _accounts(client, meteo)["cash"]["posted_fen"] == 225
    everything = client.get("/api/v1/ledger/balances", headers=auth(op)).json()["accounts"]
    assert sum(a["posted_fen"] for a in everything) == 0
    assert next(a for a in everything if a["code"] == "revenue")["posted_fen"] == 25

    # audit: intact, then tampering with one stored byte names that entry
    assert client.get("/api/v1/audit/verify", headers=auth(buyer)).status_code == 403
    v = client.get("/api/v1/audit/verify", headers=auth(op)).json()
    assert v["ok"] and v["entries"] >= 10
    with ex.db.transaction() as s:
        s.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE seq = 3"))
    v = client.get("/api/v1/audit/verify", headers=auth(op)).json()
    assert not v["ok"] and v["first_broken"] == 3


def _accounts(client, token) -> dict:
    rows = client.get("/api/v1/ledger/balances", headers=auth(token)).json()["accounts"]
    return {r["code"]: r for r in rows}


def test_budget_runs_out(api, sources):
    client, ex, op = api
    meteo = make_org(client, op, "meteo", "provider")
    buyer = make_org(client, op, "insurer", "buyer")
    with sources["files"]["weather_gbk"].open("rb") as fh:
        client.post("/api/v1/vault/assets", headers=auth(meteo), files={"file": ("w.csv", fh)}, data={"name": "w"})
    comp = client.post("/api/v1/components", headers=auth(meteo), json={
        "name": "weather_city", "asset": "w", "policy": WEATHER_POLICY, "price_fen": 300,
        "source_legality_statement": "气象站业务观测数据，依法取得并有权对外提供"}).json()
    assert client.post(f"/api/v1/components/{comp['id']}/approve", headers=auth(op)).json()["state"] == "listed"
    client.post("/api/v1/ledger/deposits", headers=auth(op), json={"org": "insurer", "amount_fen": 1000})
    contract = client.post("/api/v1/contracts", headers=auth(buyer),
                           json={"component": "weather_city", "budget_fen": 700}).json()
    sql = "SELECT city, count(*) FROM weather_city GROUP BY city"
    codes = [client.post(f"/api/v1/contracts/{contract['id']}/queries", headers=auth(buyer), json={"sql": sql})
             .status_code for _ in range(3)]
    assert codes == [200, 200, 403]
    cash = _accounts(client, buyer)["cash"]
    # 2 queries charged; the 100 fen left cannot pay for a query, so it is no longer held
    assert (cash["posted_fen"], cash["held_fen"], cash["available_fen"]) == (400, 0, 400)
