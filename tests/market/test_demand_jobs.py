"""A demand's compute award used by a job under the demand's contract (real SQLite, local executor).

The award places the job on the awarded pool and charges the bid's price from the bid's compute
hold (exactly once); an awarded pool that cannot take the job, a job that ends before running, a
contract that ends and a deadline that passes all void the hold; the hold carries a ledger timeout.
"""

from __future__ import annotations

import random
import socket
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from suanshu.audit import log as audit
from suanshu.audit.models import AuditEvent
from suanshu.compute import scheduler
from suanshu.core.clock import utcnow
from suanshu.ledger import engine as ledger
from suanshu.ledger import sweeper
from suanshu.ledger.models import Transfer
from suanshu.market import assets, awards, billing, components, demands, jobs, orgs, pools, settlement
from suanshu.market.demands import DemandSpec
from suanshu.market.tables import Bid

REGION = "湖南-长沙"
POLICY = {"mode": "job", "columns": {"city": "dimension", "fee": "aggregate", "mobile": "hidden"},
          "job": {"max_cpu": 2, "max_memory_gb": 2, "max_hours": 1, "max_output_bytes": 65536,
                  "max_row_overlap": 0.05}}
PRICE_FEN = 500  # data, per job
NEEDS = {"cpu": 1, "memory_gb": 1, "hours": 0.05}
BID_FEN = 1_000  # typed: under the cheap pool's plan (0.05 h x (36,000 + 3,600) = 1,980)
BUDGET = 50_000
PROGRAM = """
import os, pyarrow.parquet as pq
t = pq.read_table(os.path.join(os.environ["SUANSHU_DATA"], "fees.parquet"))
g = t.group_by("city").aggregate([("fee", "mean")])
pq.write_table(g, os.path.join(os.environ["SUANSHU_OUTPUT"], "by_city.parquet"))
"""


def _pool(name: str, cpu_hour: int, region: str = REGION, executor: str = "local") -> dict:
    return {"name": name, "kind": "general", "arch": "x86_64", "region": region, "cpu": 8, "memory_gb": 32,
            "price": {"cpu_hour": cpu_hour, "memory_gb_hour": 3_600, "accelerator_hour": {}},
            "transfer_fen_per_gb": {REGION: 0}, "executor": executor}


class World:
    def __init__(self, ex, tmp, *, awarded_region: str = REGION, residency: list[str] | None = None,
                 awarded_executor: str = "local"):
        self.ex = ex
        orgs.create_org(ex, None, "telco", ["provider"], region=REGION)
        orgs.create_org(ex, None, "bank", ["buyer"], region="北京")
        orgs.create_org(ex, None, "hpc", ["compute"], region=REGION)
        settlement.deposit(ex, self.actor(orgs.OPERATOR_ORG), "bank", 1_000_000)
        rng = random.Random(7)
        rows = ["city,fee,mobile"] + [f"{c},{rng.randint(50, 400)},138{rng.randint(0, 99_999_999):08d}"
                                      for c in ("Changsha", "Xiangtan", "Zhuzhou") for _ in range(40)]
        (tmp / "subscribers.csv").write_text("\n".join(rows) + "\n")
        telco = self.actor("telco")
        assets.add_asset(ex, telco, tmp / "subscribers.csv", name="subscribers")
        policy = {**POLICY, "residency": residency} if residency else POLICY
        comp = components.publish(ex, telco, components.ComponentSpec(
            name="fees", asset="subscribers", sql=None, policy=policy, price_fen=PRICE_FEN, desensitize={}))
        hpc = self.actor("hpc")
        self.cheap = pools.register(ex, hpc, _pool("cheap", 36_000)).id
        self.awarded = pools.register(ex, hpc, _pool("awarded", 72_000, awarded_region, awarded_executor)).id
        self.demand = demands.post(ex, self.actor("bank"), DemandSpec(
            title="用户费用按城市聚合", budget_fen=BUDGET, deadline=utcnow() + timedelta(days=7), compute=NEEDS,
            purpose="risk"))
        data_bid = demands.bid(ex, telco, self.demand.id, component=comp.id, price_fen=PRICE_FEN)
        self.bid = demands.bid(ex, hpc, self.demand.id, pool="awarded", price_fen=BID_FEN)
        award = demands.accept(ex, self.actor("bank"), self.demand.id, [data_bid.id, self.bid.id])
        self.contract_id = award["contracts"][0]
        self.hold_id = award["holds"][1]

    def actor(self, org: str):
        return orgs.local_actor(self.ex, org)

    def held(self, org: str = "bank") -> int:
        return next(b.held_fen for b in settlement.balances(self.ex, None) if b.org == org and b.code == "cash")

    def cash(self, org: str) -> int:
        return next(b.available_fen for b in settlement.balances(self.ex, None) if b.org == org and b.code == "cash")

    def bid_row(self) -> Bid:
        with self.ex.db.transaction() as s:
            return s.get(Bid, self.bid.id)

    def award_events(self) -> list[dict]:
        with self.ex.db.transaction() as s:
            return [e.payload for e in s.scalars(select(AuditEvent).where(
                AuditEvent.action == "demand.award_void", AuditEvent.subject == self.demand.id))]

    def submit(self, request=NEEDS):
        return jobs.submit(self.ex, self.actor("bank"), self.contract_id, PROGRAM, dict(request))


@pytest.fixture
def world(fresh_ex, tmp_path):
    return World(fresh_ex, tmp_path)


def test_the_award_places_the_job_and_its_compute_is_paid_from_the_bids_hold_once(world):
    ex = world.ex
    assert world.held() == BUDGET  # contract budget (BUDGET - BID_FEN) + the compute hold
    hpc_before = world.cash("hpc")
    job = world.submit()
    # placed on the awarded pool although "cheap" costs less by its plan; the job's hold is the data price
    assert job.state == "placed" and job.pool_id == world.awarded
    assert job.hold_fen == PRICE_FEN and job.placement["award"]["bid"] == world.bid.id
    assert world.held() == BUDGET
    assert (world.bid_row().detail["award"]["state"], world.bid_row().detail["award"]["job"]) == ("bound", job.id)

    job = jobs.run(ex, job.id)
    assert job.state == "succeeded", job.error_message
    seconds = job.metering["billed_seconds"]
    compute = min(BID_FEN, (2 * BID_FEN * seconds + 180) // 360)  # the bid's price pro rata of 0.05 h, half up
    r = job.receipt
    assert r["compute_fen"] == compute and r["transfer_fen"] == 0 and r["data_fen"] == PRICE_FEN
    assert r["price_fen"] == job.price_fen == PRICE_FEN + compute
    assert r["data_provider_fen"] + r["compute_provider_fen"] + r["operator_fen"] == r["price_fen"]
    assert world.cash("hpc") - hpc_before == r["compute_provider_fen"] > 0
    # the compute hold is resolved (charge posted, the rest released): only the contract's budget is held
    assert world.held() == BUDGET - BID_FEN - PRICE_FEN
    b = world.bid_row()
    assert b.hold_transfer_id is None
    assert b.detail["award"]["state"] == "settled" and b.detail["award"]["charged_fen"] == compute
    with ex.db.transaction() as s:
        post = s.scalar(select(Transfer).where(Transfer.pending_id == world.hold_id))
        assert post.amount == compute  # one partial post: exactly once
        assert audit.verify(s).ok and ledger.verify(s).ok

    # the award is used: a second job is placed and priced as usual, out of the contract's budget
    second = world.submit()
    assert second.state == "placed" and second.pool_id == world.cheap
    assert second.hold_fen == PRICE_FEN + second.placement["cost"] and "award" not in second.placement
    jobs.cancel(ex, world.actor("bank"), second.id)
    assert world.held() == BUDGET - BID_FEN - PRICE_FEN


def test_a_job_larger_than_the_award_is_refused_and_the_award_stays(world):
    job = world.submit({**NEEDS, "hours": 0.1, "cpu": 2})
    assert (job.state, job.error_code) == ("denied", "job.exceeds_award")
    assert "hours 0.1 > 0.05" in job.error_message and "cpu" in job.error_message
    assert world.held() == BUDGET and world.bid_row().hold_transfer_id == world.hold_id
    assert world.submit().pool_id == world.awarded  # a job within the award still gets it


def test_an_awarded_pool_that_is_down_falls_back_to_the_plan_and_releases_the_hold(world):
    job = world.submit()
    assert job.pool_id == world.awarded
    # what a failover does when the awarded pool turns out to be down: block it and place again
    job = jobs.place(world.ex, job.id, blocked=(world.awarded,))
    assert job.state == "placed" and job.pool_id == world.cheap and "award" not in job.placement
    assert job.hold_fen == PRICE_FEN + job.placement["cost"]
    assert world.held() == BUDGET - BID_FEN  # the compute hold went back to the buyer
    [event] = world.award_events()
    assert event["reason"] == "pool.unavailable" and event["state"] == "void" and event["job"] == job.id
    assert world.bid_row().detail["award"]["state"] == "void"


def test_an_infeasible_awarded_pool_falls_back_at_submit(fresh_ex, tmp_path):
    # the contract's policy keeps the data in 长沙; the awarded pool is in 湘潭
    world = World(fresh_ex, tmp_path, awarded_region="湖南-湘潭", residency=[REGION])
    job = world.submit()
    assert job.state == "placed" and job.pool_id == world.cheap
    assert world.held() == BUDGET - BID_FEN
    [event] = world.award_events()
    assert (event["reason"], event["state"], event["job"]) == (scheduler.NO_REGION, "void", job.id)


def test_a_job_cancelled_before_it_runs_releases_the_award(world):
    job = world.submit()
    jobs.cancel(world.ex, world.actor("bank"), job.id)
    assert world.held() == BUDGET - BID_FEN
    [event] = world.award_events()
    assert event["reason"] == "job.cancelled"


def test_the_contract_ending_releases_an_unused_award(world):
    billing.cancel_contract(world.ex, world.actor("bank"), world.contract_id)
    assert world.held() == 0
    [event] = world.award_events()
    assert event["reason"] == "contract.cancelled" and event["released_transfer"]


def test_the_deadline_passing_releases_an_unused_award_once(world):
    later = utcnow() + timedelta(days=8)
    demands.sweep(world.ex, now=later)
    demands.sweep(world.ex, now=later)
    assert world.held() == BUDGET - BID_FEN
    [event] = world.award_events()
    assert event["reason"] == "demand.deadline_passed"


def test_the_compute_hold_has_a_ledger_timeout(world):
    with world.ex.db.transaction() as s:
        hold = s.get(Transfer, world.hold_id)
    # until the deadline (7 days; the contract runs a year) plus the longest job
    expected = 7 * 86_400 + awards.MAX_JOB_HOURS * 3600
    assert expected - 120 <= hold.timeout <= expected
    assert world.hold_id in sweeper.expire(world.ex.db, now_ns=time.time_ns() + (hold.timeout + 1) * 10**9)
    assert world.held() == BUDGET - BID_FEN
    # the deadline passed long before: the sweep finds the hold gone and records the award as expired
    demands.sweep(world.ex, now=utcnow() + timedelta(days=40))
    assert world.bid_row().detail["award"]["state"] == "expired"


def test_an_awarded_pool_found_down_when_the_job_runs_fails_over_at_plan_price(fresh_ex, tmp_path):
    pytest.importorskip("ray", reason="ray[default] is in the dev group: uv sync --inexact --all-groups")
    with socket.socket() as probe:  # a port nothing listens on: a Ray pool that is down
        probe.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{probe.getsockname()[1]}"
    world = World(fresh_ex, tmp_path, awarded_executor=down)
    job = world.submit()
    assert job.pool_id == world.awarded
    job = jobs.run(world.ex, job.id)
    assert job.state == "succeeded", job.error_message
    assert job.pool_id == world.cheap and job.placement["blocked"] == [world.awarded]
    assert [(a["pool"], a.get("charged_fen")) for a in job.placement["attempts"]] == [(world.awarded, 0),
                                                                                     (world.cheap, None)]
    assert "award" not in job.receipt and job.receipt["compute_fen"] == job.metering["billed_seconds"] * 11
    assert world.held() == BUDGET - BID_FEN - job.price_fen
    [event] = world.award_events()
    assert event["reason"] == "pool.unavailable"


def test_a_hold_that_timed_out_under_a_running_job_is_charged_from_cash(world):
    job = world.submit()
    with world.ex.db.transaction() as s:
        timeout = s.get(Transfer, world.hold_id).timeout
    assert world.hold_id in sweeper.expire(world.ex.db, now_ns=time.time_ns() + (timeout + 1) * 10**9)
    job = jobs.run(world.ex, job.id)
    assert job.state == "succeeded", job.error_message
    assert world.bid_row().detail["award"]["state"] == "settled_from_cash"
    assert job.receipt["award"]["compute_fen"] == job.receipt["compute_fen"] > 0
    with world.ex.db.transaction() as s:
        assert audit.verify(s).ok and ledger.verify(s).ok


def test_a_second_job_while_the_award_is_bound_is_placed_as_usual(world):
    first = world.submit()
    second = world.submit()
    assert first.pool_id == world.awarded and second.pool_id == world.cheap and "award" not in second.placement
    assert world.bid_row().detail["award"]["job"] == first.id  # still bound to the first
    jobs.cancel(world.ex, world.actor("bank"), second.id)
    assert world.bid_row().hold_transfer_id == world.hold_id and world.award_events() == []


def test_a_compute_only_award_is_released_when_the_deadline_passes(fresh_ex, tmp_path):
    world = World(fresh_ex, tmp_path)
    ex, bank = world.ex, world.actor("bank")
    d = demands.post(ex, bank, DemandSpec(title="只要算力", budget_fen=10_000, compute=NEEDS,
                                          deadline=utcnow() + timedelta(days=2)))
    b = demands.bid(ex, world.actor("hpc"), d.id, pool="awarded", price_fen=900)
    hold = demands.accept(ex, bank, d.id, [b.id])["holds"][0]
    with ex.db.transaction() as s:  # no contract: the hold lives until the deadline plus the longest job
        assert 2 * 86_400 + awards.MAX_JOB_HOURS * 3600 - 120 <= s.get(Transfer, hold).timeout
    assert world.held() == BUDGET + 900
    demands.sweep(ex, now=utcnow() + timedelta(days=3))
    assert world.held() == BUDGET  # the first demand's holds stay: its deadline is later
    with ex.db.transaction() as s:
        assert s.get(Bid, b.id).detail["award"]["reason"] == "demand.deadline_passed"


def test_the_contract_expiring_releases_an_unused_award(world):
    assert billing.sweep_expired(world.ex, now=utcnow() + timedelta(days=400)) == [world.contract_id]
    assert world.held() == 0
    [event] = world.award_events()
    assert (event["reason"], event["state"]) == ("contract.expired", "void")
