"""Idempotency-Key on the POSTs that move money or start work (IETF draft semantics), both backends."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from suanshu.api.app import create_app
from suanshu.audit import log as audit
from suanshu.core import idempotency as store
from suanshu.demo import datasets
from suanshu.market import orgs
from suanshu.market.exchange import Exchange

POLICY = {"mode": "aggregate", "min_group_size": 30,
          "columns": {"city": "dimension", "temperature_c": "aggregate"}, "aggregates": ["count", "avg"]}


@pytest.fixture
def api(settings):
    ex = Exchange.open(settings)
    _, op_token = orgs.ensure_operator(ex)
    with TestClient(create_app(ex)) as client:
        yield client, ex, op_token
    ex.close()


def h(token: str, key: str | None = None) -> dict:
    return {"Authorization": f"Bearer {token}"} | ({"Idempotency-Key": key} if key else {})


def make_org(client, op, name, *roles) -> str:
    r = client.post("/api/v1/orgs", json={"name": name, "roles": list(roles)}, headers=h(op))
    assert r.status_code == 201, r.text
    return r.json()["token"]


def cash(client, token) -> dict:
    rows = client.get("/api/v1/ledger/balances", headers=h(token)).json()["accounts"]
    return next(a for a in rows if a["code"] == "cash")


def test_deposit_replays_and_refuses_a_different_payload(api):
    client, ex, op = api
    buyer = make_org(client, op, "insurer", "buyer")
    body = {"org": "insurer", "amount_fen": 5000}
    first = client.post("/api/v1/ledger/deposits", headers=h(op, "dep-1"), json=body)
    again = client.post("/api/v1/ledger/deposits", headers=h(op, '"dep-1"'), json=body)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert cash(client, buyer)["posted_fen"] == 5000  # once, not twice
    r = client.post("/api/v1/ledger/deposits", headers=h(op, "dep-1"), json=body | {"amount_fen": 6000})
    assert r.status_code == 422 and r.json()["error"]["code"] == "idempotency.key_reused"
    # without a key every POST is new work
    client.post("/api/v1/ledger/deposits", headers=h(op), json=body)
    assert cash(client, buyer)["posted_fen"] == 10000


def test_refusals_are_stored_and_replayed(api):
    client, ex, op = api
    for _ in range(2):
        r = client.post("/api/v1/ledger/deposits", headers=h(op, "k"), json={"org": "nobody", "amount_fen": 1})
        assert r.status_code == 404 and r.json()["error"]["code"] == "org.not_found"


def test_in_flight_is_409_and_a_committed_effect_without_response_is_not_repeated(api):
    client, ex, op = api
    buyer = make_org(client, op, "insurer", "buyer")
    owner = orgs.authenticate(ex, op).label
    body = {"org": "insurer", "amount_fen": 700}
    fp = store.fingerprint("POST", "/api/v1/ledger/deposits", body | {"reference": ""})
    assert store.claim(ex.db, owner, "busy", fp) is None  # another worker is running it
    r = client.post("/api/v1/ledger/deposits", headers=h(op, "busy"), json=body)
    assert r.status_code == 409 and r.json()["error"]["code"] == "idempotency.in_flight"
    # its effects commit (the audit hook marks the key in the same transaction), then it dies
    with ex.db.transaction() as s:
        token = audit.on_append.set(lambda sess, ev: store.mark_applied(sess, owner, "busy", ev.seq))
        try:
            audit.append(s, actor=owner, action="test.effect", subject="x")
        finally:
            audit.on_append.reset(token)
    # while the lease runs it may still be storing its response: a concurrent retry is told to wait
    r = client.post("/api/v1/ledger/deposits", headers=h(op, "busy"), json=body)
    assert r.status_code == 409 and r.json()["error"]["code"] == "idempotency.in_flight"
    with ex.db.transaction() as s:  # the lease is over: it died between its effects and its response
        s.get(store.IdempotencyKey, (owner, "busy")).created_at -= store.LEASE
    r = client.post("/api/v1/ledger/deposits", headers=h(op, "busy"), json=body)
    assert r.status_code == 409 and r.json()["error"]["code"] == "idempotency.outcome_unknown"
    assert cash(client, buyer)["posted_fen"] == 0


def test_contract_and_query_replays_charge_once(api, tmp_path):
    client, ex, op = api
    meteo = make_org(client, op, "meteo", "provider")
    buyer = make_org(client, op, "insurer", "buyer")
    csv = datasets.write_csv(datasets.meteorology_hourly(rows=400), tmp_path / "w.csv")
    for _ in range(2):
        with csv.open("rb") as fh:
            r = client.post("/api/v1/vault/assets", headers=h(meteo, "asset-1"), files={"file": ("w.csv", fh)},
                            data={"name": "weather"})
        assert r.status_code == 201, r.text
    assert len(client.get("/api/v1/vault/assets", headers=h(meteo)).json()["items"]) == 1  # paged list
    comp = {"name": "weather_city", "asset": "weather", "policy": POLICY, "price_fen": 250,
            "source_legality_statement": "气象站业务观测数据，依法取得并有权对外提供"}
    for _ in range(2):
        r = client.post("/api/v1/components", headers=h(meteo, "comp-1"), json=comp)
        assert r.status_code == 201, r.text
    # listing review: the operator approves before buyers can sign
    assert client.post(f"/api/v1/components/{r.json()['id']}/approve", headers=h(op)).json()["state"] == "listed"
    client.post("/api/v1/ledger/deposits", headers=h(op, "d"), json={"org": "insurer", "amount_fen": 5000})
    signed = [client.post("/api/v1/contracts", headers=h(buyer, "ctr-1"),
                          json={"component": "weather_city", "budget_fen": 1000}) for _ in range(2)]
    assert signed[0].status_code == signed[1].status_code == 201 and signed[0].json() == signed[1].json()
    assert len(client.get("/api/v1/contracts", headers=h(buyer)).json()["items"]) == 1
    cid = signed[0].json()["id"]
    sql = {"sql": "SELECT city, count(*) AS n FROM weather_city GROUP BY city"}
    answers = [client.post(f"/api/v1/contracts/{cid}/queries", headers=h(buyer, "q-1"), json=sql) for _ in range(2)]
    assert answers[0].status_code == answers[1].status_code == 200, answers[0].text
    assert answers[0].json() == answers[1].json()
    receipt = answers[0].json()["receipt"]
    assert receipt["audit_leaf_index"] == receipt["audit_seq"] - 1
    assert client.get(f"/api/v1/contracts/{cid}", headers=h(buyer)).json()["spent_fen"] == 250
    c = cash(client, buyer)
    assert (c["posted_fen"], c["held_fen"]) == (4750, 750)
    # the receipt's entry is provable by the buyer who made it
    proof = client.get(f"/api/v1/audit/proof/{receipt['audit_seq']}", headers=h(buyer)).json()
    assert proof["leaf_index"] == receipt["audit_leaf_index"]
    assert client.get(f"/api/v1/audit/proof/{receipt['audit_seq']}", headers=h(meteo)).status_code == 404
    # ... and by the buyer's other tokens: a receipt stays provable after a token is rotated
    other = client.post("/api/v1/tokens", headers=h(buyer), json={"name": "rotated", "roles": ["buyer"]})
    assert other.status_code == 201, other.text
    again = client.get(f"/api/v1/audit/proof/{receipt['audit_seq']}", headers=h(other.json()["token"]))
    assert again.status_code == 200 and again.json()["leaf_index"] == receipt["audit_leaf_index"]


def test_bad_key_is_refused(api):
    client, ex, op = api
    r = client.post("/api/v1/ledger/deposits", headers=h(op, "x" * 300), json={"org": "a", "amount_fen": 1})
    assert r.status_code == 422 and r.json()["error"]["code"] == "idempotency.bad_key"
