"""Authorization matrix: every API route x every role x own/foreign object, plus no token and a bad one.

Routes are read from the app's OpenAPI document, so a new route without a row here fails
``test_every_route_has_a_row``. Each row says, per principal, what the caller gets for an
object of its own org and for another org's:

  y  allowed: 2xx, or a domain answer that is not about who is asking (409, 422)
  r  403 from a rule of the service that is not a role (e.g. only the buyer reads job outputs)
  3  403 auth.role_required (the token lacks the role)
  4  404: missing, or another org's (tenant isolation: existence is not revealed)

Principals: operator (the exchange's org, an operator-only token), provider, buyer and compute
(each from org "…-a"; the foreign objects belong to "…-b"), auditor (its own org). "own" for the
operator and the auditor means a trading org's object they are not party to; the row says what
they may see. Every request without a token, or with a forged one, must be 401 (the public DCAT
export excepted). One exchange for the whole module, in-process (TestClient), SQLite.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from suanshu.api.app import create_app
from suanshu.audit.models import AuditEvent
from suanshu.core.clock import utcnow
from suanshu.core.orgs import OPERATOR_ORG
from suanshu.core.settings import load_settings
from suanshu.demo import datasets
from suanshu.market import assets, auction, billing, contracts, demands, jobs, orgs, pools, review, settlement
from suanshu.market.components import ComponentSpec
from suanshu.market.exchange import Exchange

ROLES = ("operator", "provider", "buyer", "compute", "auditor")
REGION = "湖南-长沙"
POLICY = {"mode": "aggregate", "min_group_size": 5, "columns": {"city": "dimension", "temperature_c": "aggregate"},
          "aggregates": ["count", "avg"]}
JOB_POLICY = {"mode": "job", "columns": {"city": "dimension", "temperature_c": "aggregate"},
              "job": {"max_cpu": 2, "max_memory_gb": 2, "max_hours": 1, "max_output_bytes": 65536}}
JOB = {"program": "print(1)", "cpu": 1, "memory_gb": 1, "hours": 0.05}
_n = itertools.count()


def pool_spec(name: str) -> dict:
    return {"name": name, "kind": "general", "arch": "x86_64", "region": REGION, "cpu": 8, "memory_gb": 32,
            "price": {"cpu_hour": 36_000, "memory_gb_hour": 3_600}, "transfer_fen_per_gb": {REGION: 0},
            "executor": "local"}


@dataclass
class World:
    client: TestClient
    tokens: dict[str, str]  # role -> token
    own: dict[str, str]  # object kind -> id of an object of the "a" side (the principal's, where it has one)
    foreign: dict[str, str]  # object kind -> id of the same kind on the "b" side
    spare_tokens: dict[str, str]  # role -> a token id of the principal's own org, to revoke
    notes: dict[str, str]  # role -> a notification id of the principal's org
    csv: bytes
    org_ids: dict[str, str]  # role -> the principal's org id
    own_seq: dict[str, str]  # role -> an audit entry the principal's token made


def _side(ex: Exchange, key: str, region: str, csv_path, operator) -> dict[str, str]:
    """One trading side: a provider with assets and components, a buyer with contracts, a pool, a job."""
    ids: dict[str, str] = {}
    prov, buyer, hpc = (orgs.local_actor(ex, f"{r}-{key}") for r in ("provider", "buyer", "compute"))
    ids["asset"] = assets.add_asset(ex, prov, csv_path, name="w")[0].id

    def component(name: str, policy: dict, state: str) -> str:
        comp = review.submit(ex, prov, ComponentSpec(name=f"{name}_{key}", asset="w", sql=None, policy=policy,
                                                     price_fen=100, desensitize={},
                                                     source_legality_statement="气象观测数据，依法取得"),
                             draft=state == "draft")
        if state == "listed":
            review.approve(ex, operator, comp.id)
        return comp.id

    ids["listed"] = component("weather", POLICY, "listed")
    ids["job_component"] = component("weather_job", JOB_POLICY, "listed")
    ids["to_delist"] = component("delist_me", POLICY, "listed")
    ids["in_review"] = component("pending", POLICY, "in_review")
    ids["draft"] = component("drafted", POLICY, "draft")
    ids["contract"] = contracts.request(ex, buyer, ids["listed"], 10_000).id
    ids["job_contract"] = contracts.request(ex, buyer, ids["job_component"], 50_000).id
    ids["pool"] = pools.register(ex, hpc, pool_spec(f"pool-{key}")).id
    ids["job"] = jobs.submit(ex, buyer, ids["job_contract"], JOB["program"],
                             {"cpu": 1, "memory_gb": 1, "hours": 0.05}).id
    ids["demand"] = demands.post(ex, buyer, demands.DemandSpec(
        title=f"长沙逐时气象 {key}", budget_fen=100_000, deadline=utcnow() + timedelta(days=3),
        tags=("气象",), region="湖南")).id
    ids["spare_token"] = orgs.create_token(ex, prov, "spare")[0].id
    ids["org"] = prov.org_id
    ids["auction"] = auction.run(ex, buyer, {"cpu": 1, "memory_gb": 1, "hours": 1})[0].id
    ids["seq"] = "1"
    return ids


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("authz")
    ex = Exchange.open(load_settings(home / "home", f"sqlite:///{home / 'home' / 'suanshu.db'}"))
    orgs.ensure_operator(ex)
    operator = orgs.local_actor(ex, OPERATOR_ORG)
    for key in ("a", "b"):
        for role in ("provider", "buyer", "compute"):
            orgs.create_org(ex, None, f"{role}-{key}", [role], region=REGION)
            if role == "buyer":
                settlement.deposit(ex, operator, f"buyer-{key}", 1_000_000)
    orgs.create_org(ex, None, "auditor-a", ["auditor"])
    csv = datasets.write_csv(datasets.meteorology_hourly(rows=200), home / "w.csv")
    sides = {key: _side(ex, key, REGION, csv, operator) for key in ("a", "b")}
    billing.ingest_usage(ex, operator, [{"id": "ev-a", "source": "matrix", "type": "suanshu.usage.query",
                                         "subject": sides["a"]["contract"], "time": "2026-11-10T00:00:00Z",
                                         "data": {"count": 1}}])  # for POST /usage/void

    tokens, spare = {}, {}
    principals = {"operator": OPERATOR_ORG, "provider": "provider-a", "buyer": "buyer-a", "compute": "compute-a",
                  "auditor": "auditor-a"}
    for role, org in principals.items():
        actor = orgs.local_actor(ex, org)
        tokens[role] = orgs.create_token(ex, actor, f"matrix {role}", [role])[1]
        spare[role] = orgs.create_token(ex, actor, f"spare {role}", [role])[0].id
    notes, org_ids = {}, {}
    for role, org in principals.items():
        org_ids[role] = orgs.local_actor(ex, org).org_id
        with ex.db.transaction() as s:
            demands._notify(s, org_ids[role], "demand.match", sides["a"]["demand"], title="a notification to read")
        notes[role] = demands.notifications(ex, orgs.local_actor(ex, org))[0].id
    # the seq of an audit entry about side a's contract (provable by its parties)
    with ex.db.transaction() as s:
        for key in ("a", "b"):
            sides[key]["seq"] = str(s.scalar(select(AuditEvent.seq).where(
                AuditEvent.subject == sides[key]["contract"], AuditEvent.action == "contract.sign")))
    with TestClient(create_app(ex)) as client:
        own_seq = {}
        for role, token in tokens.items():  # an entry each token makes itself: it may prove it
            made = client.post("/api/v1/tokens", json={"name": "proof"}, headers={"Authorization": f"Bearer {token}"})
            with ex.db.transaction() as s:
                own_seq[role] = str(s.scalar(select(AuditEvent.seq).where(AuditEvent.subject == made.json()["id"])))
        yield World(client, tokens, sides["a"], sides["b"], spare, notes, csv.read_bytes(), org_ids, own_seq)
    ex.close()


# -- what each route needs: its path parameters and a valid body --------------------------------

def path_values(world: World, role: str, side: str) -> dict[str, str]:
    ids = world.own if side == "own" else world.foreign
    return {
        "ref": ids["listed"], "component_id": ids["listed"], "asset_id": ids["asset"],
        "contract_id": ids["contract"], "job_id": ids["job"], "pool": ids["pool"], "demand_id": ids["demand"],
        "seq": ids["seq"], "auction_id": ids["auction"],
        "token_id": world.spare_tokens[role] if side == "own" else ids["spare_token"],
        "notification_id": world.notes[role] if side == "own" else "ntf_" + "1" * 32,
    }


# (method, path) -> component kind used for {component_id} when it is not the listed one
COMPONENT_FOR = {"/approve": "in_review", "/reject": "in_review", "/submit": "draft", "/delist": "to_delist"}


def body_for(method: str, path: str, world: World, side: str) -> dict:
    ids = world.own if side == "own" else world.foreign
    n = next(_n)
    bodies = {
        ("POST", "/api/v1/orgs"): {"json": {"name": f"new-org-{n}", "roles": ["buyer"]}},
        ("POST", "/api/v1/tokens"): {"json": {"name": f"token {n}"}},
        ("POST", "/api/v1/vault/assets"): {"files": {"file": ("w.csv", world.csv)}, "data": {"name": f"w{n}"}},
        ("POST", "/api/v1/components"): {"json": {"name": f"new_{n}", "asset": "w", "policy": POLICY,
                                                  "price_fen": 100}},
        ("POST", "/api/v1/components/{component_id}/reject"): {"json": {"reason": "字段说明不全"}},
        ("POST", "/api/v1/components/{component_id}/delist"): {"json": {"reason": "过期"}},
        ("POST", "/api/v1/contracts"): {"json": {"component": ids["listed"], "budget_fen": 500}},
        ("POST", "/api/v1/contracts/{contract_id}/queries"): {"json": {
            "sql": "SELECT city, count(*) AS n FROM weather_{} GROUP BY city".format("a" if side == "own" else "b")}},
        ("POST", "/api/v1/contracts/{contract_id}/jobs"): {"json": JOB},
        ("POST", "/api/v1/pools"): {"json": pool_spec(f"new-pool-{n}")},
        ("PUT", "/api/v1/pools/{pool}/offer"): {"json": {"floor_fen": 100, "ready_hours": 1}},
        ("POST", "/api/v1/ledger/deposits"): {"json": {"org": "buyer-a", "amount_fen": 100}},
        ("POST", "/api/v1/components/{ref}/registration"): {"json": {
            "source_legality_statement": "本数据由本单位观测站自行采集，来源合法。"}},
        ("POST", "/api/v1/catalog/import"): {"json": {"@context": {}, "@graph": []}},
        ("POST", "/api/v1/demands"): {"json": {"title": f"需求 {n}", "budget_fen": 10_000,
                                               "deadline": (utcnow() + timedelta(days=2)).isoformat()}},
        ("POST", "/api/v1/demands/{demand_id}/bids"): {"json": {"price_fen": 100, "component": ids["listed"]}},
        ("POST", "/api/v1/demands/{demand_id}/accept"): {"json": {"bids": []}},
        ("POST", "/api/v1/auctions"): {"json": {"job": {"cpu": 1, "memory_gb": 1, "hours": 1}}},
        ("POST", "/api/v1/usage/void"): {"json": {"source": "matrix", "id": "ev-a", "reason": "计量重复"}},
    }
    return bodies.get((method, path), {})


def call(world: World, method: str, path: str, token: str | None, role: str, side: str):
    values = path_values(world, role, side)
    ids = world.own if side == "own" else world.foreign
    for suffix, kind in COMPONENT_FOR.items():
        if path.endswith(suffix):
            values["component_id"] = ids[kind]
    if path.startswith("/api/v1/orgs/"):
        values["ref"] = world.org_ids[role] if side == "own" else ids["org"]
    if path.startswith("/api/v1/audit/proof/") and side == "own":
        values["seq"] = world.own_seq[role]
    url = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return world.client.request(method, url, headers=headers, **body_for(method, path, world, side))


def outcome(r) -> str:
    assert r.status_code < 500, r.text
    if r.status_code == 401:
        return "A"
    if r.status_code == 404:
        return "4"
    if r.status_code == 403:
        return "3" if r.json()["error"]["code"].startswith("auth.") else "r"
    return "y"


# -- the matrix ---------------------------------------------------------------------------------
# Per row: operator, provider, buyer, compute, auditor; each "own foreign" (one letter: no object).

MATRIX: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/orgs"): "y 3 3 3 3",
    ("GET", "/api/v1/orgs"): "y y y y y",
    ("GET", "/api/v1/orgs/{ref}"): "yy yy yy yy yy",  # public profiles
    ("GET", "/api/v1/me"): "y y y y y",
    ("POST", "/api/v1/tokens"): "y y y y y",
    ("GET", "/api/v1/tokens"): "y y y y y",
    ("DELETE", "/api/v1/tokens/{token_id}"): "y4 y4 y4 y4 y4",
    ("POST", "/api/v1/vault/assets"): "3 y 3 3 3",
    ("GET", "/api/v1/vault/assets"): "y y y y y",  # each sees only its own
    ("GET", "/api/v1/vault/assets/{asset_id}"): "44 y4 44 44 44",  # not even the operator or the auditor
    ("GET", "/api/v1/vault/assets/{asset_id}/scan"): "44 y4 44 44 44",
    ("POST", "/api/v1/components"): "3 y 3 3 3",
    ("GET", "/api/v1/components"): "y y y y y",
    ("GET", "/api/v1/components/{ref}"): "yy yy yy yy yy",  # listed: public
    ("GET", "/api/v1/components/{component_id}/history"): "yy y4 44 44 44",
    ("POST", "/api/v1/components/{component_id}/approve"): "yy 33 33 33 33",
    ("POST", "/api/v1/components/{component_id}/reject"): "yy 33 33 33 33",
    ("POST", "/api/v1/components/{component_id}/submit"): "33 y4 33 33 33",
    ("POST", "/api/v1/components/{component_id}/delist"): "yy y4 33 33 33",
    ("GET", "/api/v1/review"): "y 3 3 3 3",
    ("POST", "/api/v1/contracts"): "3 3 y 3 3",
    ("GET", "/api/v1/contracts"): "y y y y y",
    ("GET", "/api/v1/contracts/{contract_id}"): "yy y4 y4 44 yy",  # parties; operator and auditor see terms
    ("POST", "/api/v1/contracts/{contract_id}/queries"): "33 33 y4 33 33",
    ("GET", "/api/v1/contracts/{contract_id}/queries"): "yy y4 y4 44 yy",
    ("GET", "/api/v1/pools"): "y y y y y",
    ("POST", "/api/v1/pools"): "3 3 3 y 3",
    ("POST", "/api/v1/ledger/deposits"): "y 3 3 3 3",
    ("GET", "/api/v1/ledger/balances"): "y y y y y",
    ("POST", "/api/v1/contracts/{contract_id}/cancel"): "yy 33 r4 33 33",  # buyer: already settled once
    ("POST", "/api/v1/usage/void"): "y 3 3 3 3",
    ("GET", "/api/v1/audit/verify"): "y 3 3 3 y",
    ("GET", "/api/v1/audit/proof/{seq}"): "yy y4 y4 y4 yy",  # own entries; operator and auditor any
    ("GET", "/api/v1/audit/checkpoints"): "y y y y y",
    ("GET", "/api/v1/catalog/search"): "y y y y y",
    ("GET", "/api/v1/components/{ref}/registration"): "yy yy yy yy yy",
    ("POST", "/api/v1/components/{ref}/registration"): "yy yy yy yy yy",  # exists by then: returned as is
    ("GET", "/api/v1/components/{ref}/certificate"): "yy yy yy yy yy",
    ("GET", "/api/v1/catalog/dcat"): "y y y y y",
    ("POST", "/api/v1/catalog/import"): "y 3 3 3 3",
    ("GET", "/api/v1/catalog/external"): "y y y y y",
    ("POST", "/api/v1/demands"): "3 3 y 3 3",
    ("GET", "/api/v1/demands"): "y y y y y",
    ("GET", "/api/v1/demands/{demand_id}"): "yy yy yy yy yy",  # a public board; bids filtered inside
    ("POST", "/api/v1/demands/{demand_id}/bids"): "33 yr r3 33 33",  # the provider already bid on b's
    ("POST", "/api/v1/demands/{demand_id}/accept"): "33 33 yy 33 33",
    ("GET", "/api/v1/notifications"): "y y y y y",
    ("POST", "/api/v1/notifications/{notification_id}/read"): "y4 y4 y4 y4 y4",
    ("PUT", "/api/v1/pools/{pool}/offer"): "33 33 33 y4 33",
    ("POST", "/api/v1/auctions"): "y 3 y 3 3",  # those who would pay for the job: buyers (and the operator)
    # the org that asked, operator and auditor read every bid; compute-a's pool bid in both sides'
    # auctions, so it reads its own bids in both; other orgs are not told the auction exists
    ("GET", "/api/v1/auctions/{auction_id}"): "yy 44 y4 yy yy",
    ("POST", "/api/v1/contracts/{contract_id}/jobs"): "33 33 y4 33 33",
    ("GET", "/api/v1/jobs"): "y y y y y",
    ("GET", "/api/v1/jobs/{job_id}"): "yy y4 y4 44 yy",
    ("GET", "/api/v1/jobs/{job_id}/logs"): "rr r4 y4 44 rr",  # only the buyer reads logs and outputs
    ("POST", "/api/v1/jobs/{job_id}/cancel"): "yy r4 y4 44 rr",
    ("GET", "/api/v1/jobs/{job_id}/outputs"): "rr r4 y4 44 rr",
}
PUBLIC = {("GET", "/api/v1/catalog/dcat")}  # open to dataspace connectors, no token


def observed(world: World, method: str, path: str) -> str:
    sided = "{" in path
    return " ".join(outcome(call(world, method, path, world.tokens[role], role, "own"))
                    + (outcome(call(world, method, path, world.tokens[role], role, "foreign")) if sided else "")
                    for role in ROLES)


def _routes(world: World) -> set[tuple[str, str]]:
    doc = world.client.get("/api/v1/openapi.json").json()
    return {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}


def test_every_route_has_a_row(world):
    routes = _routes(world)
    missing = sorted(routes - MATRIX.keys())
    # the message carries what each missing route answers today: check it, then add the row
    assert not missing, "routes without a row:\n" + "\n".join(
        f"    {r!r}: {observed(world, *r)!r}," for r in missing)
    assert MATRIX.keys() - routes == set(), "rows for routes that no longer exist"


@pytest.mark.parametrize("route", list(MATRIX), ids=[f"{m} {p}" for m, p in MATRIX])
def test_role_and_tenant(world, route):
    method, path = route
    assert observed(world, method, path) == MATRIX[route]


def test_no_token_or_a_forged_one_is_401(world):
    for method, path in sorted(_routes(world)):
        for token in (None, "ssk_forged", "not-even-a-token"):
            r = call(world, method, path, token, "buyer", "own")
            if (method, path) in PUBLIC:
                assert r.status_code == 200, (method, path)
            else:
                assert r.status_code == 401 and r.json()["error"]["code"].startswith("auth."), (method, path, token)
