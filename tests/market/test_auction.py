"""The reverse auction: property tests of the pure core against the scheduler, and auditing."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from suanshu.audit.models import AuditEvent
from suanshu.compute import scheduler as sch
from suanshu.core.errors import NotFound, Refused, UsageError
from suanshu.core.orgs import OPERATOR_ORG
from suanshu.demo.story import POOLS
from suanshu.market import auction, orgs, pools

REGIONS = ["湖南-长沙", "湖南-湘潭", "北京"]
ACCELS = ["ascend-910b", "nvidia-a800"]


@st.composite
def pool_dicts(draw, i):
    accel = {t: draw(st.integers(1, 16)) for t in draw(st.lists(st.sampled_from(ACCELS), unique=True, max_size=2))}
    region = draw(st.sampled_from(REGIONS))
    reach = {r: draw(st.integers(0, 50)) for r in REGIONS if r != region and draw(st.booleans())}
    return {"id": f"p{i}", "name": f"p{i}", "kind": "ai" if accel else "general",
            "arch": draw(st.sampled_from(["x86_64", "aarch64"])), "region": region,
            "cpu": draw(st.integers(1, 256)), "memory_gb": draw(st.integers(1, 2048)), "accelerators": accel,
            "price": {"cpu_hour": draw(st.integers(0, 20)), "memory_gb_hour": draw(st.integers(0, 3)),
                      "accelerator_hour": {t: draw(st.integers(100, 3000)) for t in accel}},
            "transfer_fen_per_gb": {region: 0, **reach}}


@st.composite
def problems(draw):
    n = draw(st.integers(1, 7))
    raw_pools = [draw(pool_dicts(i)) for i in range(n)]
    job = {"id": "j", "cpu": draw(st.integers(1, 128)), "memory_gb": draw(st.integers(0, 1024)),
           "hours": draw(st.integers(1, 100))}
    if draw(st.booleans()):
        job["accelerators"] = {draw(st.sampled_from(ACCELS)): draw(st.integers(1, 8))}
    if draw(st.booleans()):
        job["residency"] = draw(st.lists(st.sampled_from(REGIONS), min_size=1, max_size=2, unique=True))
    if draw(st.booleans()):
        job["arch"] = [draw(st.sampled_from(["x86_64", "aarch64"]))]
    if draw(st.booleans()):
        job["data"] = {"region": draw(st.sampled_from(REGIONS)), "gb": draw(st.integers(0, 100))}
    bounds = []
    for _ in raw_pools:
        floor = draw(st.none() | st.integers(0, 200_000))
        ceiling = draw(st.none() | st.integers(floor or 0, 400_000))
        bounds.append((floor, ceiling, draw(st.integers(0, 48))))
    deadline = draw(st.none() | st.integers(1, 150))
    return raw_pools, job, bounds, deadline


def offers_of(raw_pools, bounds):
    return [auction.Offer(sch.pool_spec(p), f, c, Fraction(r)) for p, (f, c, r) in zip(raw_pools, bounds)]


@settings(max_examples=300, deadline=None)
@given(problems())
def test_never_infeasible_never_dearer(problem):
    raw_pools, raw_job, bounds, deadline = problem
    job = sch.parse_job(raw_job)
    outcome = auction.decide(job, offers_of(raw_pools, bounds), None if deadline is None else Fraction(deadline))
    eligible = [b for b in outcome.bids if b.feasible and b.meets_deadline]
    if outcome.winner is None:
        assert eligible == []
    else:
        w = outcome.winner
        assert w.feasible and w.meets_deadline
        assert all(w.price_fen <= b.price_fen for b in eligible)
    for b, (p, (floor, ceiling, ready)) in zip(outcome.bids, zip(raw_pools, bounds)):
        # feasibility agrees with the scheduler itself: a lone job on a lone pool is placed iff feasible
        placed = sch.schedule([p], [raw_job], mode="heuristic", explain=False).placements
        assert b.feasible == bool(placed), (b, raw_job, p)
        if b.feasible:
            assert b.cost_fen == placed[0].cost
            assert floor is None or b.price_fen >= floor  # ceilings are drawn >= floors
            assert ceiling is None or b.price_fen <= ceiling
            assert b.finish_hours == ready + job.hours


@settings(max_examples=150, deadline=None)
@given(problems())
def test_without_bounds_the_winner_costs_what_the_scheduler_pays(problem):
    raw_pools, raw_job, _bounds, _deadline = problem
    outcome = auction.decide(sch.parse_job(raw_job), [auction.Offer(sch.pool_spec(p)) for p in raw_pools])
    plan = sch.schedule(raw_pools, [raw_job], mode="heuristic", explain=False)
    assert (outcome.winner.price_fen if outcome.winner else None) == (plan.total_cost if plan.placements else None)


def test_offer_bounds_are_validated():
    pool = sch.pool_spec({"name": "p", "kind": "general", "arch": "x86_64", "region": "北京", "cpu": 8,
                          "memory_gb": 8, "price": {"cpu_hour": 1}})
    with pytest.raises(UsageError):
        auction.Offer(pool, floor_fen=10, ceiling_fen=5)
    with pytest.raises(UsageError):
        auction.Offer(pool, floor_fen=-1)
    with pytest.raises(UsageError):
        auction.deadline(0)


def demo_pools(ex) -> None:
    """The demo's compute providers and their pools."""
    for org, specs in POOLS.items():
        orgs.create_org(ex, None, org, ["compute"])
        for spec in specs:
            pools.register(ex, orgs.local_actor(ex, org), spec)


def test_the_auction_and_every_bid_are_audited(fresh_ex):
    ex = fresh_ex
    demo_pools(ex)
    orgs.create_org(ex, None, "lab", ["buyer"])
    hpc = orgs.local_actor(ex, "changsha-hpc")
    auction.set_offer(ex, hpc, "x86-hpc", floor_fen=1_000_000)  # too dear for a small job
    auction.set_offer(ex, hpc, "kunpeng-general", ready_hours=40)  # cheapest plan, but starts late
    job = {"cpu": 32, "memory_gb": 64, "hours": 10, "data": {"region": "湖南-长沙", "gb": 2}}
    a, outcome = auction.run(ex, orgs.local_actor(ex, "lab"), job, deadline_hours=24)
    by_name = {p.id: p.name for p in pools.list_pools(ex)}
    bids = {by_name[b.pool]: b for b in outcome.bids}
    assert not bids["kunpeng-general"].meets_deadline and bids["x86-hpc"].price_fen == 1_000_000
    assert by_name[a.winner_pool_id] in ("ascend-910b", "nvidia-a800")
    assert a.price_fen == min(b.price_fen for n, b in bids.items() if n not in ("kunpeng-general", "x86-hpc"))
    with ex.db.transaction() as s:
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.subject == a.id).order_by(AuditEvent.seq)))
    assert [e.action for e in events] == ["auction.bid"] * 4 + ["auction.award"]
    assert events[-1].seq == a.audit_seq and events[-1].payload["winner"]["pool"] == a.winner_pool_id
    assert {e.payload["pool"] for e in events[:-1]} == set(by_name)


def test_who_reads_an_auction(fresh_ex):
    """The asker, the operator and auditors read every bid; a pool's provider its own; others nothing."""
    ex = fresh_ex
    demo_pools(ex)
    for name, roles in [("lab", ["buyer"]), ("rival-lab", ["buyer"]), ("meteo", ["provider"]),
                        ("watchdog", ["auditor"])]:
        orgs.create_org(ex, None, name, roles)
    with pytest.raises(Refused) as err:
        auction.run(ex, orgs.local_actor(ex, "meteo"), {"cpu": 1, "memory_gb": 1, "hours": 1})
    assert err.value.code == "auth.role_required"
    a, outcome = auction.run(ex, orgs.local_actor(ex, "lab"), {"cpu": 8, "memory_gb": 16, "hours": 2})
    everything = {b.pool for b in outcome.bids}
    for who in ("lab", OPERATOR_ORG, "watchdog"):
        seen = auction.view(ex, orgs.local_actor(ex, who), a.id)
        assert {b["pool"] for b in seen["bids"]} == everything and seen["winner"] == a.winner_pool_id
    by_org = {p.id: p.org_id for p in pools.list_pools(ex)}
    for org in POOLS:
        seen = auction.view(ex, orgs.local_actor(ex, org), a.id)
        mine = {p for p in everything if by_org[p] == orgs.local_actor(ex, org).org_id}
        assert {b["pool"] for b in seen["bids"]} == mine and seen["requester"] is None
        assert seen["won"] == (a.winner_pool_id in mine)
        assert (seen["winner"], seen["price_fen"]) == ((a.winner_pool_id, a.price_fen) if seen["won"] else (None, None))
    for outsider in ("rival-lab", "meteo"):
        with pytest.raises(NotFound):
            auction.view(ex, orgs.local_actor(ex, outsider), a.id)
