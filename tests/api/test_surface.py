"""The API's shared surface: cursor pages, token management, the OpenAPI document, error shapes."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient

from suanshu.api.app import create_app
from suanshu.api.pagination import MAX_LIMIT, decode_cursor, encode_cursor
from suanshu.core.errors import UsageError
from suanshu.market import orgs
from suanshu.market.exchange import Exchange


@pytest.fixture
def backend():
    return "sqlite"  # the services are covered on PostgreSQL elsewhere; this is the HTTP surface


@pytest.fixture
def api(settings):
    ex = Exchange.open(settings)
    _, op = orgs.ensure_operator(ex)
    with TestClient(create_app(ex)) as client:
        yield client, op
    ex.close()


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_pages_walk_every_org_once_in_creation_order(api):
    client, op = api
    names = [f"org-{i}" for i in range(7)]
    for name in names:
        assert client.post("/api/v1/orgs", json={"name": name, "roles": ["buyer"]}, headers=auth(op)).status_code == 201
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        body = client.get("/api/v1/orgs", params=params, headers=auth(op)).json()
        assert len(body["items"]) <= 3
        seen += [o["name"] for o in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ["exchange", *names] and pages == 3
    buyers = client.get("/api/v1/orgs", params={"role": "buyer", "limit": 2}, headers=auth(op)).json()
    assert [o["name"] for o in buyers["items"]] == names[:2]


def test_bad_cursor_and_limit_are_input_errors(api):
    client, op = api
    for params in ({"cursor": "nonsense"}, {"cursor": base64.urlsafe_b64encode(b"v1:../x").decode()}):
        r = client.get("/api/v1/orgs", params=params, headers=auth(op))
        assert r.status_code == 422 and r.json()["error"]["code"] == "request.bad_cursor"
    r = client.get("/api/v1/orgs", params={"limit": MAX_LIMIT + 1}, headers=auth(op))
    assert r.status_code == 422 and r.json()["error"]["code"] == "request.invalid"


def test_cursor_round_trip():
    cid = "org_0193" + "a" * 28
    assert decode_cursor(encode_cursor(cid)) == cid
    with pytest.raises(UsageError):
        decode_cursor(encode_cursor("not an id"))


def test_tokens_are_named_scoped_listed_and_revoked(api):
    client, op = api
    r = client.post("/api/v1/orgs", json={"name": "meteo", "roles": ["provider", "buyer"]}, headers=auth(op))
    meteo = r.json()["token"]
    r = client.post("/api/v1/tokens", json={"name": "reports", "roles": ["buyer"]}, headers=auth(meteo))
    assert r.status_code == 201 and r.json()["roles"] == ["buyer"]
    narrow, narrow_id = r.json()["token"], r.json()["id"]
    assert client.get("/api/v1/me", headers=auth(narrow)).json()["token_roles"] == ["buyer"]
    # the narrow token cannot act as provider, nor mint a token wider than itself
    r = client.post("/api/v1/components", headers=auth(narrow), json={
        "name": "x", "asset": "x", "policy": {"mode": "aggregate", "columns": {}}, "price_fen": 1})
    assert r.status_code == 403 and r.json()["error"]["code"] == "auth.role_required"
    r = client.post("/api/v1/tokens", json={"name": "wider", "roles": ["provider"]}, headers=auth(narrow))
    assert r.status_code == 403 and r.json()["error"]["code"] == "token.roles_exceed"
    r = client.post("/api/v1/tokens", json={"name": " "}, headers=auth(meteo))
    assert r.status_code == 422 and r.json()["error"]["code"] == "token.bad_name"

    listed = client.get("/api/v1/tokens", headers=auth(meteo)).json()["items"]
    assert [t["name"] for t in listed] == ["meteo default token", "reports"]
    assert all("token" not in t and "token_hash" not in t for t in listed)
    # another org neither sees nor revokes it
    assert client.delete(f"/api/v1/tokens/{narrow_id}", headers=auth(op)).status_code == 404
    assert narrow_id not in {t["id"] for t in client.get("/api/v1/tokens", headers=auth(op)).json()["items"]}
    r = client.delete(f"/api/v1/tokens/{narrow_id}", headers=auth(meteo))
    assert r.status_code == 200 and r.json()["revoked_at"]
    assert client.delete(f"/api/v1/tokens/{narrow_id}", headers=auth(meteo)).json() == r.json()  # idempotent
    r = client.get("/api/v1/me", headers=auth(narrow))
    assert r.status_code == 401 and r.json()["error"]["code"] == "auth.bad_token"


def test_openapi_is_3_1_and_documents_every_operation(api):
    client, _ = api
    doc = client.get("/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            responses = op["responses"]
            # every operation documents its errors with the one error shape
            for status in ("401", "403", "404", "422"):
                schema = responses[status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (method, path, status)
    assert doc["components"]["schemas"]["ErrorBody"]["required"] == ["code", "message"]
    page = doc["paths"]["/api/v1/components"]["get"]
    assert {p["name"] for p in page["parameters"]} >= {"cursor", "limit", "state", "org", "name"}
