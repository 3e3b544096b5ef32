"""Cursor pages on the market's lists (pools, demands, notifications, imported listings), on SQLite and
PostgreSQL, and the Python client following the cursors against a real uvicorn server."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import uvicorn
from fastapi.testclient import TestClient
from pgserver import free_port

from suanshu.api.app import create_app
from suanshu.client import Client
from suanshu.core.clock import utcnow
from suanshu.core.settings import load_settings
from suanshu.market import catalog, demands, orgs, pools
from suanshu.market.exchange import Exchange
from suanshu.market.tables import Demand

@pytest.fixture
def backend():
    return "sqlite"  # the HTTP surface; the row-value keyset is also checked on PostgreSQL below


REGIONS = ["湖南-长沙", "湖南-湘潭", "湖南-长沙", "北京", "湖南-湘潭"]


def pool_spec(name: str, region: str) -> dict:
    return {"name": name, "kind": "general", "arch": "x86_64", "region": region, "cpu": 8, "memory_gb": 32,
            "price": {"cpu_hour": 100, "memory_gb_hour": 10}, "transfer_fen_per_gb": {region: 0}}


@pytest.fixture
def market(settings):
    """Pools in mixed regions, demands of two buyers (one closed), and a DCAT catalog imported twice."""
    ex = Exchange.open(settings)
    _, op = orgs.ensure_operator(ex)
    tokens = {name: orgs.create_org(ex, None, name, [role], region="湖南-长沙")[1]
              for name, role in (("hpc", "compute"), ("buyer-a", "buyer"), ("buyer-b", "buyer"), ("meteo", "provider"))}
    for i, region in enumerate(REGIONS):
        pools.register(ex, orgs.local_actor(ex, "hpc"), pool_spec(f"pool-{i}", region))
    for i in range(5):
        buyer = "buyer-a" if i % 2 == 0 else "buyer-b"
        demands.post(ex, orgs.local_actor(ex, buyer), demands.DemandSpec(
            title=f"逐时气象 需求{i}", tags=("气象",), budget_fen=10_000, deadline=utcnow() + timedelta(days=2)))
    meteo = orgs.local_actor(ex, "meteo").org_id
    with ex.db.transaction() as s:  # buyer-b's newest demand closed: off the board for everyone else
        newest_b = s.query(Demand).filter(Demand.title == "逐时气象 需求3").one()
        newest_b.state = "closed"
        for i in range(5):  # five notes in meteo's inbox (the service notifies matching providers)
            demands._notify(s, meteo, "demand.match", newest_b.id, title=f"第{i}条")
    doc = {"@context": {"dcat": "http://www.w3.org/ns/dcat#", "dct": "http://purl.org/dc/terms/"},
           "@id": "https://x.example/catalog", "@type": "dcat:Catalog",
           "dcat:dataset": [{"@id": f"https://x.example/d/{i}", "@type": "dcat:Dataset", "dct:title": f"外部数据{i}"}
                            for i in range(3)]}
    for source in ("https://b.example/catalog", "https://a.example/catalog"):
        catalog.import_dcat(ex, None, doc | {"@id": source})
    yield ex, op, tokens
    ex.close()


def walk(client: TestClient, path: str, token: str, limit: int, **params) -> tuple[list[dict], int]:
    items, cursor, pages = [], None, 0
    while True:
        body = client.get(path, params={"limit": limit, **params} | ({"cursor": cursor} if cursor else {}),
                          headers={"Authorization": f"Bearer {token}"}).json()
        items += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return items, pages


def test_pools_and_listings_page_in_their_sort_order(market):
    ex, op, tokens = market
    with TestClient(create_app(ex)) as client:
        got, pages = walk(client, "/api/v1/pools", tokens["buyer-a"], 2)
        assert [p["id"] for p in got] == [p.id for p in pools.list_pools(ex)] and pages == 3
        assert [p["region"] for p in got] == sorted(REGIONS)  # by region across page boundaries
        listed, pages = walk(client, "/api/v1/catalog/external", tokens["buyer-a"], 4)
        assert [e["source"] for e in listed] == ["https://a.example/catalog"] * 3 + ["https://b.example/catalog"] * 3
        assert pages == 2
        one, _ = walk(client, "/api/v1/catalog/external", tokens["buyer-a"], 1, source="https://b.example/catalog")
        assert len(one) == 3


def test_demands_and_inbox_newest_first_and_visibility_in_pages(market):
    ex, op, tokens = market
    with TestClient(create_app(ex)) as client:
        board, pages = walk(client, "/api/v1/demands", tokens["buyer-a"], 2)
        # newest first; buyer-b's closed demand is not on buyer-a's board, yet every page but the last is full
        assert [d["title"] for d in board] == ["逐时气象 需求4", "逐时气象 需求2", "逐时气象 需求1", "逐时气象 需求0"]
        assert pages == 2
        own, _ = walk(client, "/api/v1/demands", tokens["buyer-b"], 1, mine=True)
        assert [d["title"] for d in own] == ["逐时气象 需求3", "逐时气象 需求1"]
        everything, _ = walk(client, "/api/v1/demands", op, 3)
        assert len(everything) == 5
        inbox, pages = walk(client, "/api/v1/notifications", tokens["meteo"], 2)
        ids = [n["id"] for n in inbox]
        assert len(ids) == 5 and ids == sorted(ids, reverse=True) and pages == 3
        r = client.get("/api/v1/notifications", params={"cursor": "bm9wZQ"}, headers={"Authorization": f"Bearer {op}"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "request.bad_cursor"


@pytest.mark.postgres
def test_sort_order_pages_on_postgres(pg_server, tmp_path):
    """The (region, id) keyset is a row-value comparison: the same pages on PostgreSQL."""
    url = pg_server.create_database(f"pages_{int(time.time() * 1000)}")
    ex = Exchange.open(load_settings(tmp_path / "home", url))
    try:
        orgs.ensure_operator(ex)
        orgs.create_org(ex, None, "hpc", ["compute"])
        for i, region in enumerate(REGIONS):
            pools.register(ex, orgs.local_actor(ex, "hpc"), pool_spec(f"pool-{i}", region))
        seen, after = [], None
        while page := pools.list_pools(ex, after=after, limit=2):
            seen += page
            after = page[-1].id
        assert [p.id for p in seen] == [p.id for p in pools.list_pools(ex)]
        assert [p.region for p in seen] == sorted(REGIONS)
    finally:
        ex.close()


def test_client_follows_cursors(market):
    ex, op, tokens = market
    server = uvicorn.Server(uvicorn.Config(create_app(ex), host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.02)
        with Client(f"http://127.0.0.1:{server.config.port}", token=tokens["meteo"]) as api:
            assert len(list(api._pages("/pools", page_size=2))) == 5
            assert len(list(api.pools())) == 5
            assert [d["title"] for d in api.demands()][0] == "逐时气象 需求4"
            assert len(list(api.notifications(unread=True))) == 5
            assert len(list(api.external_listings(source="https://a.example/catalog"))) == 3
    finally:
        server.should_exit = True
        thread.join(10)
