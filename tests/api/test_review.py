"""Listing review over the API: versions, what a contract pins, delisting, drafts, the audit trail."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from e2e.conftest import WEATHER_POLICY
from suanshu.api.app import create_app
from suanshu.demo import datasets
from suanshu.market import orgs
from suanshu.market.exchange import Exchange

LEGAL = {"source_legality_statement": "气象站业务观测数据，依法取得并有权对外提供"}


@pytest.fixture
def backend():
    return "sqlite"


@pytest.fixture
def api(settings, tmp_path):
    ex = Exchange.open(settings)
    _, op = orgs.ensure_operator(ex)
    with TestClient(create_app(ex)) as client:
        tokens = {"op": op}
        for name, role in [("meteo", "provider"), ("insurer", "buyer")]:
            r = client.post("/api/v1/orgs", json={"name": name, "roles": [role]}, headers=auth(op))
            tokens[name] = r.json()["token"]
        csv = datasets.write_csv(datasets.meteorology_hourly(rows=300), tmp_path / "w.csv")
        with csv.open("rb") as fh:
            assert client.post("/api/v1/vault/assets", headers=auth(tokens["meteo"]), files={"file": ("w.csv", fh)},
                               data={"name": "weather"}).status_code == 201
        client.post("/api/v1/ledger/deposits", headers=auth(op), json={"org": "insurer", "amount_fen": 100_000})
        yield client, ex, tokens
    ex.close()


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_versions_review_and_what_contracts_pin(api):
    client, ex, t = api
    policy = dict(WEATHER_POLICY, min_group_size=5)

    def publish(price: int, **extra) -> dict:
        r = client.post("/api/v1/components", headers=auth(t["meteo"]), json={
            "name": "weather_city", "asset": "weather", "policy": policy, "price_fen": price,
            **LEGAL, **extra})
        assert r.status_code == 201, r.text
        return r.json()

    def sign() -> dict:
        r = client.post("/api/v1/contracts", headers=auth(t["insurer"]),
                        json={"component": "weather_city", "budget_fen": 5_000})
        return r.json() | {"status": r.status_code}

    v1 = publish(100)
    assert (v1["version"], v1["state"]) == (1, "in_review")
    # not listed yet: a buyer neither sees nor signs it; its provider and the operator see it
    assert client.get(f"/api/v1/components/{v1['id']}", headers=auth(t["insurer"])).status_code == 404
    assert client.get(f"/api/v1/components/{v1['id']}", headers=auth(t["meteo"])).json()["state"] == "in_review"
    assert sign()["status"] == 404
    client.post(f"/api/v1/components/{v1['id']}/approve", headers=auth(t["op"]))
    first = sign()
    assert (first["component_version"], first["price_fen"]) == (1, 100)

    v2 = publish(300)  # the same name again: a new version, reviewed on its own
    assert (v2["version"], v2["state"]) == (2, "in_review")
    assert sign()["component_version"] == 1  # a name resolves to the newest *listed* version
    r = client.post(f"/api/v1/components/{v2['id']}/reject", headers=auth(t["op"]), json={"reason": "  "})
    assert r.status_code == 422 and r.json()["error"]["code"] == "review.reason_required"
    client.post(f"/api/v1/components/{v2['id']}/reject", headers=auth(t["op"]), json={"reason": "价格说明缺失"})
    r = client.post(f"/api/v1/components/{v2['id']}/approve", headers=auth(t["op"]))
    assert r.status_code == 409 and r.json()["error"]["code"] == "review.not_in_review"
    assert client.post(f"/api/v1/components/{v2['id']}/submit", headers=auth(t["meteo"])).json()["state"] == "in_review"
    client.post(f"/api/v1/components/{v2['id']}/approve", headers=auth(t["op"]), json={"reason": "ok"})
    second = sign()
    assert (second["component_version"], second["price_fen"]) == (2, 300)

    # delisting v2: the name falls back to v1; contracts on v2 keep their frozen terms
    client.post(f"/api/v1/components/{v2['id']}/delist", headers=auth(t["meteo"]), json={"reason": "改版"})
    assert sign()["component_version"] == 1
    kept = client.get(f"/api/v1/contracts/{second['id']}", headers=auth(t["insurer"])).json()
    assert (kept["state"], kept["price_fen"], kept["component_version"]) == ("active", 300, 2)
    r = client.post(f"/api/v1/contracts/{second['id']}/queries", headers=auth(t["insurer"]),
                    json={"sql": "SELECT city, count(*) AS n FROM weather_city GROUP BY city"})
    assert r.status_code == 200 and r.json()["receipt"]["price_fen"] == 300

    # filters: the provider's own versions by state; the buyer sees listed ones only
    mine = client.get("/api/v1/components", params={"name": "weather_city"}, headers=auth(t["meteo"])).json()["items"]
    assert [(c["version"], c["state"]) for c in mine] == [(1, "listed"), (2, "delisted")]
    assert [c["version"] for c in client.get("/api/v1/components", params={"state": "delisted"},
                                             headers=auth(t["insurer"])).json()["items"]] == []

    history = client.get(f"/api/v1/components/{v2['id']}/history", headers=auth(t["meteo"])).json()
    assert [(h["action"], h["reason"]) for h in history] == [
        ("submit", ""), ("reject", "价格说明缺失"), ("resubmit", ""), ("approve", "ok"), ("delist", "改版")]
    assert client.get(f"/api/v1/components/{v2['id']}/history", headers=auth(t["insurer"])).status_code == 404
    assert client.get("/api/v1/audit/verify", headers=auth(t["op"])).json()["ok"]


def test_a_draft_waits_for_its_provider(api):
    client, _, t = api
    r = client.post("/api/v1/components", headers=auth(t["meteo"]), json={
        "name": "weather_draft", "asset": "weather", "policy": WEATHER_POLICY, "price_fen": 10, "draft": True,
        **LEGAL})
    draft = r.json()
    assert draft["state"] == "draft" and draft["listed_at"] is None
    assert client.get("/api/v1/review", headers=auth(t["op"])).json()["items"] == []
    r = client.post(f"/api/v1/components/{draft['id']}/approve", headers=auth(t["op"]))
    assert r.status_code == 409 and r.json()["error"]["code"] == "review.not_in_review"
    # only its provider submits it; the operator cannot act for the provider
    assert client.post(f"/api/v1/components/{draft['id']}/submit", headers=auth(t["op"])).status_code == 403
    client.post(f"/api/v1/components/{draft['id']}/submit", headers=auth(t["meteo"]))
    queue = client.get("/api/v1/review", headers=auth(t["op"])).json()["items"]
    assert [e["id"] for e in queue] == [draft["id"]] and queue[0]["scan"]["grade"]
