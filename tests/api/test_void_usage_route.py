"""POST /usage/void: the operator voids a stored usage event; every other role is refused."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from suanshu.api.app import create_app
from suanshu.client import ApiError, Client
from suanshu.market import billing, orgs
from suanshu.market.exchange import Exchange


@pytest.fixture
def backend():
    return "sqlite"  # the service runs on PostgreSQL in tests/market/test_billing.py; this is the HTTP surface


@pytest.fixture
def api(settings):
    ex = Exchange.open(settings)
    _, op = orgs.ensure_operator(ex)
    tokens = {"operator": op}
    for role in ("provider", "buyer", "compute", "auditor"):
        tokens[role] = orgs.create_org(ex, None, f"{role}-a", [role])[1]
    billing.ingest_usage(ex, orgs.local_actor(ex, "exchange"), [
        {"id": f"ev-{i}", "source": "meter/1", "type": "suanshu.usage.query", "subject": "ctr_x",
         "time": "2026-11-10T00:00:00Z", "data": {"count": 1}} for i in range(2)])
    with TestClient(create_app(ex)) as client:
        yield client, tokens
    ex.close()


def post(client, token, body):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post("/api/v1/usage/void", json=body, headers=headers)


def test_only_the_operator_voids_usage(api):
    client, tokens = api
    body = {"source": "meter/1", "id": "ev-0", "reason": "计量重复上报"}
    for role in ("provider", "buyer", "compute", "auditor"):
        r = post(client, tokens[role], body)
        assert (r.status_code, r.json()["error"]["code"]) == (403, "auth.role_required"), role
    assert post(client, None, body).status_code == 401
    r = post(client, tokens["operator"], body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["voided"] and out["void_reason"] == "计量重复上报" and out["source"] == "meter/1"
    assert post(client, tokens["operator"], body | {"reason": "again"}).json() == out  # idempotent


@pytest.mark.parametrize("body, status, code", [
    ({"source": "meter/1", "id": "nope", "reason": "r"}, 404, "usage.not_found"),
    ({"source": "meter/1", "id": "ev-1", "reason": ""}, 422, "usage.reason_required"),
    ({"source": "meter/1", "id": "ev-1", "reason": "x" * 2001}, 422, "text.too_long"),
    ({"source": "meter/1", "id": "ev-1"}, 422, "request.invalid"),
])
def test_void_refusals_carry_their_codes(api, body, status, code):
    client, tokens = api
    r = post(client, tokens["operator"], body)
    assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text


class InProcess(httpx.BaseTransport):
    """The SDK's requests to the app in this process (through its TestClient), answered in full."""

    def __init__(self, client: TestClient):
        self.client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        r = self.client.request(request.method, str(request.url), headers=dict(request.headers),
                                content=request.read())
        return httpx.Response(r.status_code, headers=r.headers, content=r.content)


def test_the_client_voids_usage(api):
    client, tokens = api
    with Client(str(client.base_url), tokens["operator"], transport=InProcess(client)) as op:
        assert op.void_usage("meter/1", "ev-1", "上游计量 bug")["voided_by"].startswith("pri_")
    with Client(str(client.base_url), tokens["buyer"], transport=InProcess(client)) as buyer, \
            pytest.raises(ApiError) as err:
        buyer.void_usage("meter/1", "ev-0", "mine")
    assert (err.value.status, err.value.code) == (403, "auth.role_required")
