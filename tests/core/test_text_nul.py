"""Text with the NUL character is refused with one code on both databases, before any statement
carries it: PostgreSQL cannot store it (its driver failed, a 500), SQLite stored it silently."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from suanshu.api.app import create_app
from suanshu.core.errors import NotFound, UsageError
from suanshu.market import billing, orgs
from suanshu.market.exchange import Exchange


@pytest.fixture
def ex(settings):
    exchange = Exchange.open(settings)
    yield exchange
    exchange.close()


def test_a_service_refuses_nul_and_stores_nothing(ex):
    with pytest.raises(UsageError) as err:
        orgs.create_org(ex, None, "org-a", ["buyer"], display_name="湖南\x00气象")
    assert err.value.code == "text.nul"
    with ex.db.read() as s, pytest.raises(NotFound):
        orgs.org_by_name(s, "org-a")  # nothing of it was stored
    orgs.create_org(ex, None, "org-a", ["buyer"], display_name="湖南气象")  # and the exchange goes on


def test_the_api_answers_422_not_500(ex):
    _, buyer = orgs.create_org(ex, None, "buyer-a", ["buyer"])
    demand = {"title": "天气\u0000数据", "budget_fen": 100, "deadline": "2027-01-01T00:00:00Z"}
    with TestClient(create_app(ex)) as client:
        r = client.post("/api/v1/demands", json=demand, headers={"Authorization": f"Bearer {buyer}"})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "text.nul"
        demand["title"] = "天气数据"
        assert client.post("/api/v1/demands", json=demand, headers={"Authorization": f"Bearer {buyer}"}).status_code == 201


def test_usage_events_with_nul_are_refused_at_ingest(ex):
    orgs.ensure_operator(ex)
    event = {"id": "ev\u00002", "source": "meter/1", "type": "suanshu.usage.query", "subject": "ctr_x",
             "time": "2026-11-10T00:00:00Z", "data": {"count": 1}}
    with pytest.raises(UsageError) as err:
        billing.ingest_usage(ex, orgs.local_actor(ex, "exchange"), [event])
    assert err.value.code == "usage.bad_event"
