"""Demands (RFQ) and bids on a real exchange: matching, notifications, sealed bids, atomic acceptance, expiry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from suanshu.audit.models import AuditEvent
from suanshu.core.clock import utcnow
from suanshu.core.errors import Conflict, NotFound, Refused, UsageError
from suanshu.ledger.models import Transfer
from suanshu.market import demands, orgs, queries, search, settlement
from suanshu.market.demands import DemandSpec
from suanshu.market.models import Component, Contract
from suanshu.market.tables import Bid, Demand

JOB = {"cpu": 64, "memory_gb": 256, "accelerators": {"ascend-910b": 8}, "hours": 50,
       "data": {"region": "湖南-长沙", "gb": 20}}


def post(world, **kw):
    spec = dict(title="长沙 2023 年逐时天气", description="训练水稻产量模型需要长沙逐时降雨与气温", tags=("气象", "降雨"),
                region="湖南-长沙", compute=JOB, budget_fen=1_000_000, deadline=utcnow() + timedelta(days=7))
    return demands.post(world.ex, world.actor("insurer"), DemandSpec(**{**spec, **kw}))


def counts(ex) -> dict:
    with ex.db.transaction() as s:
        return {"contracts": s.scalar(select(func.count()).select_from(Contract)),
                "transfers": s.scalar(select(func.count()).select_from(Transfer)),
                "audit": s.scalar(select(func.count()).select_from(AuditEvent)),
                "accepted": s.scalar(select(func.count()).select_from(Bid).where(Bid.state == "accepted"))}


def test_post_finds_providers_and_pools_and_runs_the_auction(world):
    ex = world.ex
    d = post(world)
    meteo = orgs.local_actor(ex, "meteo")
    assert d.matches["components"][0] == world.components["hunan_weather_monthly"]
    assert meteo.org_id in d.matches["orgs"]
    # only the Ascend pool has ascend-910b: the others are infeasible and do not bid
    assert d.matches["pools"] == [world.pools["ascend-910b"]]
    assert [n.kind for n in demands.notifications(ex, meteo)] == ["demand.match"]
    assert demands.notifications(ex, orgs.local_actor(ex, "xiangjiang-ai"))[0].subject == d.id
    board = demands.show(ex, world.actor("insurer"), d.id)
    auto = [b for b in board.bids if b.kind == "compute"]
    assert len(auto) == 1 and auto[0].auto and auto[0].pool_id == world.pools["ascend-910b"]
    # price plan: 50 h x (64 cpu x 5 + 256 GB x 1 + 8 x 1200) + 20 GB x 15 transfer
    assert auto[0].price_fen == 50 * (64 * 5 + 256 + 8 * 1200) + 20 * 15
    assert {b["pool"]: b["feasible"] for b in board.auction["bids"]}[world.pools["x86-hpc"]] is False


def test_a_long_description_still_matches_and_overlong_text_is_refused_with_nothing_posted(world):
    long = post(world, description="需要长沙逐时降雨与气温数据，用于水稻产量模型的训练与回测。" * 40)  # > a search's 500
    assert long.matches["components"][0] == world.components["hunan_weather_monthly"]
    before = counts(world.ex)
    for field, value in [("title", "长" * 201), ("description", "雨" * 10_001), ("purpose", "用" * 2_001),
                         ("tags", ("气象",) * 21), ("tags", ("降" * 201,))]:
        with pytest.raises(UsageError) as err:
            post(world, **{field: value})
        assert err.value.code == "text.too_long", field
    assert counts(world.ex) == before


def test_bids_are_sealed_and_acceptance_creates_contract_and_holds(world):
    ex = world.ex
    d = post(world)
    meteo, agri = world.actor("meteo"), world.actor("agri")
    b1 = demands.bid(ex, meteo, d.id, component=world.components["hunan_weather_monthly"], price_fen=150, note="含2023全年")
    b2 = demands.bid(ex, agri, d.id, component=world.components["county_crop_yield"], price_fen=400)
    assert [b.id for b in demands.show(ex, meteo, d.id).bids] == [b1.id]  # sealed: a bidder sees its own
    board = demands.show(ex, world.actor("insurer"), d.id)
    assert {b.id for b in board.bids if b.kind == "data"} == {b1.id, b2.id}
    compute_bid = next(b for b in board.bids if b.kind == "compute")

    award = demands.accept(ex, world.actor("insurer"), d.id, [b1.id, compute_bid.id])
    assert len(award["contracts"]) == 1 and len(award["holds"]) == 2
    with ex.db.transaction() as s:
        contract = s.get(Contract, award["contracts"][0])
        assert contract.price_fen == 150 and contract.budget_fen == 1_000_000 - compute_bid.price_fen
        assert s.get(Demand, d.id).state == "awarded"
        assert {b.id: b.state for b in s.scalars(select(Bid).where(Bid.demand_id == d.id))} == {
            b1.id: "accepted", b2.id: "rejected", compute_bid.id: "accepted"}
    insurer = next(r for r in settlement.balances(ex, world.actor("insurer")) if r.code == "cash")
    assert insurer.held_fen == 1_000_000
    assert demands.notifications(ex, agri)[0].kind == "bid.rejected"
    # the contract works: a governed query settles from its hold
    result = queries.run(ex, world.actor("insurer"), contract.id,
                         "SELECT city, count(*) AS n FROM hunan_weather_monthly GROUP BY city")
    assert result.receipt["price_fen"] == 150
    with pytest.raises(Conflict):
        demands.accept(ex, world.actor("insurer"), d.id, [b2.id])


def test_acceptance_is_atomic_when_the_compute_hold_fails(world, monkeypatch):
    """The data contract's hold succeeds, the compute hold fails: no contract, no hold, nothing audited."""
    ex = world.ex
    d = post(world)
    b1 = demands.bid(ex, world.actor("meteo"), d.id, component=world.components["hunan_weather_monthly"], price_fen=150)
    compute_bid = next(b for b in demands.show(ex, world.actor("insurer"), d.id).bids if b.kind == "compute")
    before = counts(ex)
    real_hold, calls = settlement.hold, []

    def failing_hold(s, buyer, amount, memo, **kw):
        calls.append(memo)
        if "bid" in memo:  # the compute hold, after the contract and its hold were written
            raise RuntimeError("injected failure in the compute hold")
        return real_hold(s, buyer, amount, memo, **kw)

    monkeypatch.setattr(settlement, "hold", failing_hold)
    with pytest.raises(RuntimeError):
        demands.accept(ex, world.actor("insurer"), d.id, [b1.id, compute_bid.id])
    assert len(calls) == 2 and "contract" in calls[0]
    assert counts(ex) == before
    with ex.db.transaction() as s:
        assert s.get(Demand, d.id).state == "open"


def test_acceptance_is_atomic_when_funds_run_short(world):
    """A real ledger refusal: the buyer's cash covers the data budget but not the compute price too."""
    ex = world.ex
    d = post(world, budget_fen=3_000_000)  # the world deposits 2,000,000 fen
    b1 = demands.bid(ex, world.actor("meteo"), d.id, component=world.components["hunan_weather_monthly"], price_fen=150)
    compute_bid = next(b for b in demands.show(ex, world.actor("insurer"), d.id).bids if b.kind == "compute")
    before = counts(ex)
    with pytest.raises(Exception) as err:
        demands.accept(ex, world.actor("insurer"), d.id, [b1.id, compute_bid.id])
    assert getattr(err.value, "code", "") == "ledger.exceeds_credits"
    assert counts(ex) == before


def test_only_the_auction_winner_gets_the_compute_award(world):
    ex = world.ex
    d = post(world, compute={**JOB, "accelerators": {}, "data": {"region": "湖南-长沙", "gb": 1}})
    board = demands.show(ex, world.actor("insurer"), d.id)
    compute = sorted((b for b in board.bids if b.kind == "compute"), key=lambda b: b.price_fen)
    assert len(compute) == 4  # every pool can run a CPU job
    with pytest.raises(Refused) as err:
        demands.accept(ex, world.actor("insurer"), d.id, [compute[-1].id])
    assert err.value.code == "demand.not_auction_winner"
    # a compute provider undercuts with a typed bid on its own pool; it becomes the winner
    typed = demands.bid(ex, world.actor("changsha-hpc"), d.id, pool="x86-hpc", price_fen=compute[0].price_fen - 1)
    award = demands.accept(ex, world.actor("insurer"), d.id, [typed.id])
    assert award["contracts"] == [] and len(award["holds"]) == 1


def test_bid_rules(world):
    ex = world.ex
    d = post(world)
    meteo = world.actor("meteo")
    cases = [
        (lambda: demands.bid(ex, world.actor("insurer"), d.id, component=world.components["county_crop_yield"],
                             price_fen=1), Refused, "bid.own_demand"),
        (lambda: demands.bid(ex, meteo, d.id, component=world.components["county_crop_yield"], price_fen=1),
         Refused, "bid.not_your_listing"),
        (lambda: demands.bid(ex, meteo, d.id, price_fen=1), UsageError, "bid.invalid"),
        (lambda: demands.bid(ex, meteo, d.id, component=world.components["hunan_weather_monthly"],
                             price_fen=2_000_000), Refused, "bid.over_budget"),
        (lambda: demands.bid(ex, world.actor("changsha-hpc"), d.id, pool="x86-hpc", price_fen=1),
         Refused, "bid.infeasible"),
        (lambda: demands.bid(ex, meteo, "dmd_nope", component="x", price_fen=1), NotFound, "demand.not_found"),
    ]
    for call, kind, code in cases:
        with pytest.raises(kind) as err:
            call()
        assert err.value.code == code
    with pytest.raises(UsageError):
        post(world, deadline=utcnow() - timedelta(minutes=1))
    with pytest.raises(UsageError) as err:
        post(world, compute={"cpu": 1})  # no hours
    assert err.value.code == "schedule.invalid_job"


def test_sweep_closes_expired_demands(world):
    ex = world.ex
    d = post(world, deadline=utcnow() + timedelta(hours=1))
    keep = post(world, title="株洲 耕地 数据", compute=None)
    b = demands.bid(ex, world.actor("meteo"), d.id, component=world.components["hunan_weather_monthly"], price_fen=10)
    assert demands.sweep(ex) == []
    closed = demands.sweep(ex, now=utcnow() + timedelta(hours=2))
    assert closed == [d.id]
    with ex.db.transaction() as s:
        assert s.get(Demand, d.id).state == "expired" and s.get(Demand, keep.id).state == "open"
        assert s.get(Bid, b.id).state == "lapsed"
    assert demands.notifications(ex, world.actor("insurer"))[0].kind == "demand.expired"
    assert demands.sweep(ex, now=utcnow() + timedelta(hours=2)) == []  # idempotent


def test_the_cli_round(world, monkeypatch, tmp_path):
    """post -> list -> bid -> show -> accept -> inbox through `suanshu demand` (JSON output)."""
    import json

    from typer.testing import CliRunner

    from suanshu.cli.main import app

    ex = world.ex
    monkeypatch.setenv("SUANSHU_HOME", str(ex.settings.home))
    monkeypatch.setenv("SUANSHU_DATABASE_URL", ex.settings.database_url)
    job = tmp_path / "job.json"
    job.write_text(json.dumps(JOB), encoding="utf-8")

    def run(*args):
        result = CliRunner().invoke(app, [*args, "-f", "json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    d = run("demand", "post", "insurer", "--title", "长沙 天气 数据", "--budget", "8000", "--deadline", "3d",
            "--tag", "气象", "--compute", str(job))
    assert d["budget_fen"] == 800_000 and d["compute"]["hours"] == 50
    assert [x["id"] for x in run("demand", "list", "meteo")] == [d["id"]]
    b = run("demand", "bid", "meteo", d["id"], "--component", "hunan_weather_monthly", "--price", "1.50")
    assert b["price_fen"] == 150 and b["kind"] == "data"
    board = run("demand", "show", "insurer", d["id"])
    compute = next(x for x in board["bids"] if x["kind"] == "compute")
    award = run("demand", "accept", "insurer", d["id"], "--bid", b["id"], "--bid", compute["id"])
    assert len(award["contracts"]) == 1
    assert run("demand", "inbox", "meteo")[0]["kind"] == "bid.accepted"
    bad = CliRunner().invoke(app, ["demand", "bid", "meteo", d["id"], "--component", "x", "--price", "1"])
    assert bad.exit_code == 3 and "demand.closed" in bad.output
    auction = run("auction", "run", "insurer", '{"cpu": 8, "hours": 2}', "--deadline-hours", "10")
    assert auction["winner"] and len(auction["bids"]) == 4


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fail_at=st.integers(0, 8), with_compute=st.booleans())
def test_acceptance_is_all_or_nothing_wherever_it_fails(world, fail_at, with_compute):
    """Fail the n-th write step of an acceptance (a ledger hold or an audit append): either the
    whole award exists (contract, holds, bid states, audit) or nothing of it does."""
    from suanshu.audit import log as audit_log

    ex = world.ex
    d = post(world, budget_fen=20_000, compute={**JOB, "hours": 1})  # small: the world's funds last every example
    b1 = demands.bid(ex, world.actor("meteo"), d.id, component=world.components["hunan_weather_monthly"], price_fen=99)
    chosen = [b1.id]
    if with_compute:
        chosen.append(next(b for b in demands.show(ex, world.actor("insurer"), d.id).bids if b.kind == "compute").id)
    before, steps = counts(ex), [0]

    def failing(real):
        def wrapper(*args, **kwargs):
            steps[0] += 1
            if steps[0] == fail_at + 1:
                raise RuntimeError(f"injected failure at write step {fail_at}")
            return real(*args, **kwargs)
        return wrapper

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(settlement, "hold", failing(settlement.hold))
        mp.setattr(audit_log, "append", failing(audit_log.append))
        try:
            award = demands.accept(ex, world.actor("insurer"), d.id, chosen)
        except RuntimeError:
            award = None
    after = counts(ex)
    with ex.db.transaction() as s:
        state = s.get(Demand, d.id).state
    if award is None:
        assert after == before and state == "open"
    else:
        assert state == "awarded" and after["contracts"] == before["contracts"] + 1
        assert after["accepted"] == before["accepted"] + len(chosen)
        assert len(award["holds"]) == len(chosen)


def test_a_provider_bids_with_a_component_made_for_the_demand(world):
    """The new component is reviewed like any other: the bid stands, acceptance waits for the listing."""
    from market_world import CROPS

    from suanshu.core.orgs import OPERATOR_ORG
    from suanshu.market import review
    from suanshu.market.components import ComponentSpec

    ex = world.ex
    d = post(world, title="株洲 水稻 单产", compute=None)
    spec = ComponentSpec(**{**CROPS, "name": "rice_yield_for_insurer", "title": "株洲水稻单产（为需求定制）"})
    b = demands.bid(ex, world.actor("agri"), d.id, new_component=spec, price_fen=320)
    agri = world.actor("agri").org_id
    with ex.db.transaction() as s:
        comp = s.get(Component, b.component_id)
    assert (comp.name, comp.state, comp.org_id) == ("rice_yield_for_insurer", "in_review", agri)
    assert search.search(ex, "为需求定制").total == 0  # not in the catalog before the operator approves
    with pytest.raises(Refused) as err:
        demands.accept(ex, world.actor("insurer"), d.id, [b.id])
    assert err.value.code == "contract.component_not_listed"
    review.approve(ex, orgs.local_actor(ex, OPERATOR_ORG), comp.id, note="ok")
    search.invalidate(ex)
    assert search.search(ex, "为需求定制").hits[0].doc.key == comp.id
    award = demands.accept(ex, world.actor("insurer"), d.id, [b.id])
    assert len(award["contracts"]) == 1 and len(award["holds"]) == 1


def test_an_overlong_contract_purpose_is_refused_before_any_hold(world):
    from suanshu.market import contracts

    before = counts(world.ex)
    with pytest.raises(UsageError) as err:
        contracts.request(world.ex, world.actor("insurer"), world.components["hunan_weather_monthly"], 10_000,
                          purpose="用途" * 1_001)
    assert err.value.code == "text.too_long" and counts(world.ex) == before


def test_a_zero_fen_compute_bid_is_refused_and_a_stored_one_never_wins(world):
    """QA: a 0-fen compute bid won the auction but its hold (0) could not be made, so the buyer
    could accept no compute at all. An award holds its price: a compute bid is at least 1 fen."""
    ex = world.ex
    d = post(world, compute={**JOB, "accelerators": {}, "data": {"region": "湖南-长沙", "gb": 1}})
    before = counts(ex)
    with pytest.raises(UsageError) as err:
        demands.bid(ex, world.actor("changsha-hpc"), d.id, pool="x86-hpc", price_fen=0)
    assert err.value.code == "bid.zero_price" and counts(ex) == before
    # one stored before the check: the auction passes over it, and the next cheapest is accepted
    with ex.db.transaction() as s:
        s.add(Bid(id="bid_zero", demand_id=d.id, bidder_org_id=world.actor("changsha-hpc").org_id, kind="compute",
                  pool_id=world.pools["x86-hpc"], price_fen=0, note="", auto=False, detail={}, state="submitted"))
    board = demands.show(ex, world.actor("insurer"), d.id)
    cheapest = min((b for b in board.bids if b.kind == "compute" and b.price_fen), key=lambda b: b.price_fen)
    assert board.winner == cheapest.id
    with pytest.raises(Refused) as err:
        demands.accept(ex, world.actor("insurer"), d.id, ["bid_zero"])
    assert err.value.code == "demand.not_auction_winner"
    award = demands.accept(ex, world.actor("insurer"), d.id, [cheapest.id])
    assert len(award["holds"]) == 1 and award["holds"][0]


def test_a_pool_that_prices_the_job_at_zero_is_notified_but_does_not_bid(world):
    from suanshu.market import pools

    ex = world.ex
    free = pools.register(ex, world.actor("changsha-hpc"), {
        "name": "free-x86", "kind": "hpc", "arch": "x86_64", "region": "湖南-长沙", "cpu": 8192, "memory_gb": 32768,
        "price": {"cpu_hour": 0, "memory_gb_hour": 0}, "transfer_fen_per_gb": {"湖南-长沙": 0}})
    d = post(world, compute={**JOB, "accelerators": {}, "data": {"region": "湖南-长沙", "gb": 1}})
    assert free.id in d.matches["pools"]
    board = demands.show(ex, world.actor("insurer"), d.id)
    compute = [b for b in board.bids if b.kind == "compute"]
    assert compute and free.id not in {b.pool_id for b in compute} and all(b.price_fen > 0 for b in compute)
    winner = min(compute, key=lambda b: b.price_fen)
    assert board.winner == winner.id
    assert demands.accept(ex, world.actor("insurer"), d.id, [winner.id])["holds"][0]
