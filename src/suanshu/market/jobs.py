"""Compute-to-data jobs (policy mode ``job``): a buyer's program runs next to the data, on a pool.

submit -> place -> run -> check -> settle, each state change audited in its own transaction:

- **submit** (``queued``): the contract must be active, its frozen policy in ``job`` mode, and the
  request within the policy's job terms (cores, memory, accelerators, hours); otherwise ``denied``.
- **place** (``placed``): the scheduler (``compute.scheduler``, pure) picks the cheapest feasible pool
  for this one job, given the pools' free capacity, the policy's residency (数据不出域) and where the
  data is (the provider's region; moving it costs the pool's ``transfer_fen_per_gb``). The most the
  job can cost (the data price plus the placement's cost for the requested hours) is held at once.
- **run** (``running``): only the component's governed view is materialised, in a private workspace;
  the pool's executor runs the program (``compute.executors``). A pool that is down is blocked and the
  job placed again on the next feasible pool (SkyPilot's failover); the failed attempt costs nothing.
- **check**: outputs and logs pass ``compute.outputs`` (size, hidden values, raw rows) or nothing is
  released and the job is ``denied``.
- **settle**: resource-seconds (allocated resources x wall time, per accelerator type) become
  CloudEvents usage events (``billing.usage``), rated at the pool's prices (``billing.rating``); the
  data price is added only when outputs are released. One linked chain posts the charge from the
  job's hold and splits it: data provider, compute provider, operator (``settlement.charge``); the
  rest of the hold returns to the contract.

A contract signed for a demand whose compute bid was accepted carries that award (``awards``): the
first job the awarded pool can take is placed there and its compute charged at the bid's price from
the bid's own hold; otherwise the award's hold is voided and the job placed and priced as above.

Money while a job runs: the contract's hold covers its unspent budget; a placed job's hold is carved
out of it (the contract's ``spent_fen`` counts the hold, so queries under the same contract see only
what is left), and given back when the job settles.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import signal
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow.parquet as pq
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from suanshu.audit import log as audit
from suanshu.billing import rating, usage
from suanshu.billing.models import UsageEvent
from suanshu.compute import outputs, scheduler
from suanshu.compute.executors import Limits, RunResult, Workspace, executor_for, is_alive, this_process
from suanshu.compute.models import Job, Pool
from suanshu.compute.scheduler import Resources
from suanshu.core.clock import iso, utcnow
from suanshu.core.errors import Conflict, NotFound, Refused, SuanshuError, UsageError
from suanshu.core.ids import new_id
from suanshu.core.orgs import Organization, Role
from suanshu.market import awards, settlement
from suanshu.market import components as component_service
from suanshu.market import contracts as contract_service
from suanshu.market.actors import Actor
from suanshu.market.exchange import Exchange
from suanshu.market.models import Component, Contract
from suanshu.market.pools import pool_json
from suanshu.market.tables import Bid
from suanshu.policy.model import Policy
from suanshu.vault.models import Asset

ACTIVE = ("placed", "running")  # holding money and pool capacity
FINISHED = ("succeeded", "failed", "denied", "cancelled")
MAX_PROGRAM_BYTES = 256 * 1024
MAX_ATTEMPTS = 5
VIEW_BATCH_ROWS = 122_880  # rows per batch of the governed view (a DuckDB row group)
USAGE_SOURCE = "suanshu/jobs"
QUEUE_TIME_LIMIT_S = 5.0  # CP-SAT's budget when the queue's batch is small enough for the exact mode
log = logging.getLogger(__name__)


# -- requests --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class JobRequest:
    cpu: int
    memory_gb: int
    hours: float
    accelerators: dict[str, int]

    @staticmethod
    def parse(d: dict) -> JobRequest:
        if not isinstance(d, dict) or set(d) - {"cpu", "memory_gb", "hours", "accelerators"}:
            raise UsageError("job.bad_request", "a job asks for {cpu, memory_gb, hours, accelerators}")
        cpu, mem, hours = d.get("cpu", 1), d.get("memory_gb", 1), d.get("hours", 1)
        acc = d.get("accelerators") or {}
        ints_ok = all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in (cpu, mem))
        acc_ok = isinstance(acc, dict) and all(isinstance(t, str) and t and isinstance(n, int)
                                               and not isinstance(n, bool) and n >= 1 for t, n in acc.items())
        if not ints_ok or not acc_ok or isinstance(hours, bool) or not isinstance(hours, int | float) \
                or not 0 < hours <= 24 * 31:
            raise UsageError("job.bad_request", "cpu and memory_gb are integers >= 1, hours in (0, 744], "
                             "accelerators {type: count >= 1}")
        return JobRequest(cpu, mem, hours, dict(acc))

    def as_dict(self) -> dict:
        return {"cpu": self.cpu, "memory_gb": self.memory_gb, "hours": self.hours,
                "accelerators": dict(self.accelerators)}

    def excess(self, policy: Policy) -> list[str]:
        """What the request asks beyond the policy's job terms (empty: allowed)."""
        t = policy.job
        out = [f"cpu {self.cpu} > {t.max_cpu}"] if self.cpu > t.max_cpu else []
        if self.memory_gb > t.max_memory_gb:
            out.append(f"memory_gb {self.memory_gb} > {t.max_memory_gb}")
        if self.hours > t.max_hours:
            out.append(f"hours {self.hours:g} > {t.max_hours:g}")
        out += [f"{k} {n} > {t.accelerators.get(k, 0)}" for k, n in self.accelerators.items()
                if n > t.accelerators.get(k, 0)]
        return out


def _check_program(program: str) -> str:
    if not isinstance(program, str) or not program.strip():
        raise UsageError("job.bad_program", "the program is empty")
    if len(program.encode()) > MAX_PROGRAM_BYTES:
        raise UsageError("job.bad_program", f"the program is larger than {MAX_PROGRAM_BYTES} bytes")
    try:
        compile(program, "program.py", "exec")
    except (SyntaxError, ValueError) as err:
        raise UsageError("job.bad_program", f"the program is not valid Python: {err}") from None
    return program


# -- submit and place ------------------------------------------------------------------------------

def submit(ex: Exchange, actor: Actor, contract_id: str, program: str, request: dict) -> Job:
    """Record the job, check it against the contract's terms, place it and hold its cost."""
    actor.require(Role.BUYER)
    req = JobRequest.parse(request)
    program = _check_program(program)
    with ex.db.transaction() as s:
        contract = contract_service.get_contract(s, actor, contract_id)
        if contract.buyer_org_id != actor.org_id:
            raise Refused("contract.not_buyer", "only the buyer of a contract may run jobs under it")
        job = Job(id=new_id("job"), contract_id=contract.id, buyer_org_id=actor.org_id, state="queued",
                  program=program, program_sha256=hashlib.sha256(program.encode()).hexdigest(),
                  request=req.as_dict(), placement={"attempts": [], "blocked": []})
        s.add(job)
        s.flush()
        audit.append(s, actor=actor.label, action="job.submit", subject=job.id,
                     payload={"contract": contract.id, "program_sha256": job.program_sha256, "request": job.request})
    try:
        with ex.db.transaction() as s:
            contract = s.get(Contract, contract_id)
            _check_terms(contract, req)
            awards.check_request(s, awards.for_contract(s, contract_id), job.id, contract, req.as_dict())
    except Refused as err:
        return _finish_without_run(ex, actor.label, job.id, "denied", err)
    return place(ex, job.id, actor=actor.label)


def _check_terms(contract: Contract, req: JobRequest) -> Policy:
    if contract.state != "active":
        raise Refused("contract.not_active", f"contract {contract.id} is {contract.state}")
    if contract.expires_at <= utcnow():
        raise Refused("contract.expired", f"contract {contract.id} expired at {iso(contract.expires_at)}")
    policy = Policy.from_dict(contract.policy)
    if policy.mode != "job":
        raise Refused("policy.mode_mismatch", f"the contract's policy is in {policy.mode} mode; jobs need job mode")
    policy.check_expiry()
    policy.check_purpose(contract.purpose or None)
    if excess := req.excess(policy):
        raise Refused("job.resources_not_allowed", "the contract's job terms do not allow " + ", ".join(excess))
    return policy


def _free_capacity(s: Session, pools: list[Pool], exclude: str) -> list[Resources]:
    """Each pool's capacity less what its placed and running jobs hold."""
    free = {p.id: Resources.of(p.cpu, p.memory_gb, p.accelerators) for p in pools}
    for other in s.scalars(select(Job).where(Job.state.in_(ACTIVE), Job.id != exclude)):
        if other.pool_id in free:
            r = other.request
            free[other.pool_id] = free[other.pool_id] - Resources.of(r["cpu"], r["memory_gb"], r["accelerators"])
    return [free[p.id] for p in pools]


def _job_spec(s: Session, job: Job, contract: Contract, policy: Policy) -> dict:
    """The scheduler's job shape: resources, where the data is and how big, where it may run."""
    r = job.request
    spec = {"id": job.id, "cpu": r["cpu"], "memory_gb": r["memory_gb"], "accelerators": r["accelerators"],
            "hours": r["hours"], "buyer": contract.buyer_org_id}
    region = s.get(Organization, contract.provider_org_id).region
    if region:
        asset = s.get(Asset, s.get(Component, contract.component_id).asset_id)
        spec["data"] = {"region": region, "gb": round(asset.bytes / 1e9, 6)}
    if policy.residency:
        spec["residency"] = list(policy.residency)
    return spec


def place(ex: Exchange, job_id: str, *, actor: str = "system", blocked: tuple[str, ...] = (),
          prefer: str | None = None) -> Job:
    """Place a queued job on the cheapest feasible pool and hold its most expensive outcome.

    A job that fits a feasible pool only when it is emptier waits (stays ``queued``, the reason in
    ``placement.waiting``) until ``drain`` places it; one that no pool could ever fit fails at once.
    ``prefer``: try this pool first (the queue's batch plan chose it)."""
    with ex.db.transaction() as s:
        job = s.get(Job, job_id, with_for_update=True)
        if job.state in FINISHED or job.state == "running":
            return job  # cancelled while it waited, or already taken by another placer
        contract = s.get(Contract, job.contract_id, with_for_update=True)
        policy = Policy.from_dict(contract.policy)
        blocked_all = sorted(set(job.placement.get("blocked", [])) | set(blocked))
        pools = [p for p in s.scalars(select(Pool).order_by(Pool.id)) if p.id not in blocked_all]
        spec = _job_spec(s, job, contract, policy)
        award, plan = _awarded_plan(s, job, contract, spec, blocked_all, actor)
        for some in ([p for p in pools if p.id == prefer], pools) if prefer else (pools,):
            if some and award is None:
                plan = scheduler.schedule([pool_json(p) for p in some], [spec], mode="heuristic",
                                          capacity=_free_capacity(s, some, job.id))
                if plan.placements:
                    break
        placement = dict(job.placement, blocked=blocked_all)
        placement.pop("award", None)  # set again below when the award places it
        if plan is None or not plan.placements:
            code, why = ((plan.unplaced[0].code, plan.unplaced[0].reason) if plan else
                         ("schedule.no_pools", "no pool is registered (or every pool is blocked)"))
            job.placement = placement
            if code == scheduler.CAPACITY:
                return _wait_in(s, job, contract, actor, code, why)
            return _fail_in(s, job, contract, actor, "failed", code, why)
        chosen = plan.placements[0]
        waiting = placement.pop("waiting", None)
        if waiting:  # how long it queued, for the buyer and the what-if numbers
            placement["waited_seconds"] = round((utcnow() - _parse_iso(waiting["since"])).total_seconds(), 3)
        pool = s.get(Pool, chosen.pool)
        # an award's compute is held apart (the bid's compute hold): the job's own hold is the data price
        hold = contract.price_fen + (0 if award else chosen.cost)
        left = contract_service.remaining_fen(contract) + job.hold_fen
        if hold > left:
            job.placement = placement
            return _fail_in(s, job, contract, actor, "denied", "contract.budget_exhausted",
                            f"the job may cost up to {hold} fen (data {contract.price_fen} + compute "
                            f"{hold - contract.price_fen}); the contract has {left} fen left")
        used = {"bid": award.id, "demand": award.demand_id, "price_fen": award.price_fen,
                "hold": award.hold_transfer_id} if award else None
        job.placement = dict(placement, pool=pool.id, pool_name=pool.name, region=pool.region,
                             compute_provider=pool.org_id, executor=pool.executor, cost=chosen.cost,
                             breakdown=chosen.breakdown, why=chosen.why, hold_fen=hold, runner=this_process(),
                             **({"award": used} if used else {}))
        job.pool_id, job.state = pool.id, "placed"
        _reserve(s, contract, job, hold)
        if award:
            awards.bind(award, job.id)
        audit.append(s, actor=actor, action="job.place", subject=job.id,
                     payload={"pool": pool.id, "cost": chosen.cost, "hold_fen": hold, "why": chosen.why,
                              "blocked": blocked_all, **({"award": used} if used else {})})
        return job


def _awarded_plan(s: Session, job: Job, contract: Contract, spec: dict, blocked: list[str], actor: str):
    """The demand's compute award, when it places this job: ``(bid, plan on the awarded pool)``.

    The awarded pool must pass the scheduler's filters for the job (resources, architecture,
    residency, data reach), have room now and not be blocked (down); otherwise the award is voided
    (its hold released, audited) and the job is placed as usual: ``(None, None)``. So is an award
    past the demand's deadline or the contract's expiry. An award bound to another job is left alone."""
    award = awards.for_contract(s, contract.id, lock=True)
    if award is None or not award.hold_transfer_id or awards.bound_job(award) not in (None, job.id):
        return None, None
    if not awards.usable(s, award, job.id, contract):  # past the deadline: nothing can use it any more
        awards.void(s, award, buyer_org_id=contract.buyer_org_id, actor=actor, reason="demand.deadline_passed",
                    message="the demand's deadline (or the contract's expiry) passed", job_id=job.id)
        return None, None
    pool = s.get(Pool, award.pool_id)
    if award.pool_id in blocked:
        code, why = "pool.unavailable", f"the awarded pool {award.pool_id} is down (blocked for this job)"
    else:
        plan = scheduler.schedule([pool_json(pool)], [spec], mode="heuristic",
                                  capacity=_free_capacity(s, [pool], job.id))
        if plan.placements:
            return award, plan
        code, why = plan.unplaced[0].code, plan.unplaced[0].reason
    awards.void(s, award, buyer_org_id=contract.buyer_org_id, actor=actor, reason=code,
                message=f"the job is placed as usual at its pool's price plan: {why}", job_id=job.id)
    return None, None


def _reserve(s: Session, contract: Contract, job: Job, amount: int) -> None:
    """Hold ``amount`` for the job out of the contract's hold (0: give the job's hold back).

    Both holds are voided and made again in the caller's transaction, so the buyer's reserved cash
    is the same before and after, and a failure changes nothing."""
    memo = {"contract": contract.id, "job": job.id}
    for hold_id in (contract.hold_transfer_id, job.hold_transfer_id):
        if hold_id:
            settlement.release(s, hold_id=hold_id, buyer_org_id=contract.buyer_org_id, memo=memo)
    contract.spent_fen += amount - job.hold_fen
    job.hold_fen = amount
    job.hold_transfer_id = settlement.hold(s, contract.buyer_org_id, amount, memo) if amount else None
    left = contract_service.remaining_fen(contract)
    contract.hold_transfer_id = settlement.hold(s, contract.buyer_org_id, left, {"contract": contract.id}) \
        if left > 0 else None


def _wait_in(s: Session, job: Job, contract: Contract, actor: str, code: str, reason: str) -> Job:
    """Every feasible pool is full now: the job waits in the queue, holding no money and no capacity."""
    if job.hold_fen:
        _reserve(s, contract, job, 0)
    before = job.placement.get("waiting")
    for key in ("pool", "pool_name", "region", "compute_provider", "executor", "cost", "breakdown", "why",
                "hold_fen", "runner", "award"):  # a bound award stays bound: it places the job again
        job.placement.pop(key, None)
    job.state, job.pool_id = "queued", None
    since = before["since"] if before else iso(utcnow())
    job.placement = dict(job.placement, waiting={"code": code, "reason": reason, "since": since})
    if not before:  # audited when it starts waiting, not on every sweep that finds no room
        audit.append(s, actor=actor, action="job.wait", subject=job.id, payload={"code": code, "reason": reason})
    return job


def _parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _fail_in(s: Session, job: Job, contract: Contract, actor: str, state: str, code: str, message: str) -> Job:
    if job.hold_fen:
        _reserve(s, contract, job, 0)
    award = awards.for_contract(s, contract.id, lock=True)
    if award is not None and awards.bound_job(award) == job.id:  # it ended before running: nothing used
        awards.void(s, award, buyer_org_id=contract.buyer_org_id, actor=actor, reason=code, message=message,
                    job_id=job.id)
    job.state, job.error_code, job.error_message, job.finished_at = state, code, message, utcnow()
    audit.append(s, actor=actor, action=f"job.{state}", subject=job.id, payload={"state": state, "code": code, "message": message})
    return job


def _finish_without_run(ex: Exchange, actor: str, job_id: str, state: str, err: SuanshuError) -> Job:
    with ex.db.transaction() as s:
        job = s.get(Job, job_id, with_for_update=True)
        contract = s.get(Contract, job.contract_id, with_for_update=True)
        return _fail_in(s, job, contract, actor, state, err.code, err.message)


# -- the queue ------------------------------------------------------------------------------------

Starter = Callable[[Exchange, str], object]  # runs a placed job (``run_in_background`` in a server)


def drain(ex: Exchange, *, start: Starter | None = None, actor: str = "system:queue") -> list[Job]:
    """Place waiting jobs where capacity has freed; ``start`` runs each one placed.

    One scheduler call over every waiting job (oldest first), against the pools' free capacity, so
    the batch gets the scheduler's rules: as many jobs as fit, then fair share between buyers
    (counting the jobs each already runs: a buyer with k jobs placed or running and more waiting goes
    after any buyer with fewer, when not all fit), then least cost. Each chosen job is then placed on its plan's pool (``place``, which
    re-checks room and money under row locks); the rest keep waiting."""
    with ex.db.transaction() as s:
        waiting = [j for j in s.scalars(select(Job).where(Job.state == "queued").order_by(Job.created_at, Job.id))
                   if j.placement.get("waiting")]
        if not waiting:
            return []
        pools = list(s.scalars(select(Pool).order_by(Pool.id)))
        specs = []
        for job in waiting:
            contract = s.get(Contract, job.contract_id)
            specs.append(_job_spec(s, job, contract, Policy.from_dict(contract.policy)))
        running: dict[str, int] = {}
        for buyer in s.scalars(select(Job.buyer_org_id).where(Job.state.in_(ACTIVE))):
            running[buyer] = running.get(buyer, 0) + 1
        plan = scheduler.schedule([pool_json(p) for p in pools], specs, capacity=_free_capacity(s, pools, ""),
                                  time_limit=QUEUE_TIME_LIMIT_S, explain=False, running=running)
    placed = []
    for chosen in plan.placements:
        job = place(ex, chosen.job, actor=actor, prefer=chosen.pool)
        if job.state == "placed":
            placed.append(job)
            if start is not None:
                start(ex, job.id)
    return placed


# -- recovery ---------------------------------------------------------------------------------------

def recover(ex: Exchange, *, actor: str = "system:recovery") -> list[Job]:
    """Jobs left ``placed`` or ``running`` by a process that died (the server, or ``job submit``).

    The attempt is recorded as ``lost`` and not charged, a sandbox the dead runner left behind is
    killed (a Ray job stopped), the job's hold goes back to the contract and the job waits in the
    queue to run again (``drain``); after ``MAX_ATTEMPTS`` attempts it fails with
    ``job.executor_lost``. Runners on other hosts are not judged from here."""
    with ex.db.transaction() as s:
        suspects = [j.id for j in s.scalars(select(Job).where(Job.state.in_(ACTIVE)).order_by(Job.id))]
    out = []
    for job_id in suspects:
        with ex.db.transaction() as s:
            job = s.get(Job, job_id, with_for_update=True)
            attempts = list(job.placement.get("attempts", []))
            runner = attempts[-1].get("runner") if job.state == "running" and attempts else job.placement.get("runner")
            if job.state not in ACTIVE or is_alive(runner) is not False:
                continue
            contract = s.get(Contract, job.contract_id, with_for_update=True)
            if job.state == "running":
                _stop_orphan(attempts[-1], job)
                _remove_copies(ex, job.id, attempts[-1])
                attempts[-1] = dict(attempts[-1], outcome="lost", charged_fen=0,
                                    error=f"the runner (pid {runner['pid']} on {runner['host']}) died")
            job.placement = dict(job.placement, attempts=attempts)
            audit.append(s, actor=actor, action="job.lost", subject=job.id,
                         payload={"state": job.state, "runner": runner, "attempt": len(attempts)})
            if len(attempts) >= MAX_ATTEMPTS:
                out.append(_fail_in(s, job, contract, actor, "failed", "job.executor_lost",
                                    f"the runner died on {len(attempts)} attempts"))
            else:
                out.append(_wait_in(s, job, contract, actor, "job.executor_lost",
                                    "its runner died; waiting to run again"))
    return out


def _remove_copies(ex: Exchange, job_id: str, attempt: dict) -> None:
    """The governed view's copies a dead runner left: the exchange's and the workspace's."""
    _view_path(ex, job_id).unlink(missing_ok=True)
    shutil.rmtree(_staged_path(ex, job_id), ignore_errors=True)
    if attempt.get("workspace"):
        shutil.rmtree(attempt["workspace"], ignore_errors=True)


def _view_path(ex: Exchange, job_id: str) -> Path:
    """The exchange's copy of a job's governed view: what the output checks read; the program cannot reach it."""
    return ex.settings.home / "jobs" / job_id / "view.parquet"


def _staged_path(ex: Exchange, job_id: str) -> Path:
    """The exchange's copy of a job's outputs: checked, then released."""
    return ex.settings.home / "jobs" / job_id / "staged"


def _stop_orphan(attempt: dict, job: Job) -> None:
    """Kill what a dead runner started: the local sandbox's process group, or the Ray job."""
    ref = attempt.get("ref") or {}
    if ref.get("kind") == "local" and is_alive(ref.get("process")):
        try:
            os.killpg(ref["process"]["pid"], signal.SIGKILL)  # the sandbox runs in its own session
        except ProcessLookupError:
            pass
    elif ref.get("kind") == "ray":
        try:
            executor_for(attempt.get("executor", "local")).stop(ref["id"])
        except Exception as err:  # noqa: BLE001  (an unreachable cluster: recorded, the job still moves on)
            log.warning("could not stop Ray job %s of %s: %r", ref.get("id"), job.id, err)


def sweep(ex: Exchange) -> None:
    """What a server runs every ``SUANSHU_JOB_SWEEP_SECONDS`` (``core.periodic.Periodic``): recover
    jobs whose runner died, then place waiting jobs, each run in a background thread here."""
    recover(ex)
    drain(ex, start=run_in_background)


# -- run -------------------------------------------------------------------------------------------

def run(ex: Exchange, job_id: str) -> Job:
    """Run a placed job to the end: execute (failing over while pools are down), check, settle."""
    _protect_home(ex)
    for _ in range(MAX_ATTEMPTS):
        started = _start(ex, job_id)
        if started is None:
            return get_job(ex, None, job_id)
        pool, policy, write_view = started
        view = _view_path(ex, job_id)
        try:
            write_view(view)
            with Workspace(_program(ex, job_id), {policy.table: view}) as ws:
                result = executor_for(pool["executor"]).run(ws, _limits(ex, job_id, policy), job_id=job_id,
                                                            should_cancel=lambda: _cancel_requested(ex, job_id),
                                                            on_start=lambda ref: _record_ref(ex, job_id, ref, ws.root))
                if result.status == "unavailable":
                    _fail_over(ex, job_id, pool, result)
                    continue
                staged = _staged_outputs(ex, job_id, ws, result, policy)
                verdict = _check_outputs(staged, result, view, policy)
                released = _release(ex, job_id, staged) if verdict.passed and result.status == "succeeded" else []
        finally:
            view.unlink(missing_ok=True)
            shutil.rmtree(_staged_path(ex, job_id), ignore_errors=True)  # released ones were moved away
        return _settle(ex, job_id, pool, result, verdict, released)
    return _finish_without_run(ex, "system", job_id, "failed",
                               Refused("job.no_pool_available", f"{MAX_ATTEMPTS} pools failed in a row"))


def _protect_home(ex: Exchange) -> None:
    """The sandboxed program runs under another uid: it must not reach the database or the vaults."""
    home = ex.settings.home
    if home.stat().st_mode & 0o077:
        home.chmod(0o700)


def run_in_background(ex: Exchange, job_id: str) -> threading.Thread:
    """For the API: the request returns at once; the job's states tell the rest."""
    thread = threading.Thread(target=_run_logged, args=(ex, job_id), name=f"job-{job_id}", daemon=True)
    thread.start()
    return thread


def _run_logged(ex: Exchange, job_id: str) -> None:
    try:
        run(ex, job_id)
    except Exception as err:  # noqa: BLE001  (a thread has no caller: record the failure on the job)
        _finish_without_run(ex, "system", job_id, "failed",
                            SuanshuError("job.internal_error", f"the exchange failed running the job: {err!r}"))
    try:  # its capacity is free again: waiting jobs may fit now
        drain(ex, start=run_in_background)
    except Exception:  # noqa: BLE001  (the periodic sweep retries)
        log.exception("draining the job queue failed")


def _program(ex: Exchange, job_id: str) -> str:
    with ex.db.transaction() as s:
        return s.get(Job, job_id).program


def _limits(ex: Exchange, job_id: str, policy: Policy) -> Limits:
    with ex.db.transaction() as s:
        r = s.get(Job, job_id).request
    return Limits(cpu=r["cpu"], memory_gb=r["memory_gb"], wall_seconds=r["hours"] * 3600,
                  max_output_bytes=policy.job.max_output_bytes, accelerators=dict(r["accelerators"]))


def _start(ex: Exchange, job_id: str):
    """placed -> running: (pool, policy, a function that writes the governed view to a Parquet
    file); None when the job will not run."""
    with ex.db.transaction() as s:
        job = s.get(Job, job_id, with_for_update=True)
        if job.state != "placed":
            return None
        contract = s.get(Contract, job.contract_id, with_for_update=True)
        if job.cancel_requested:
            _fail_in(s, job, contract, "system", "cancelled", "job.cancelled", "cancelled by the buyer")
            return None
        pool = pool_json(s.get(Pool, job.pool_id))
        policy = Policy.from_dict(contract.policy)
        component = s.get(Component, contract.component_id)
        asset = s.get(Asset, component.asset_id)
        job.state = "running"
        job.started_at = job.started_at or utcnow()
        job.placement = dict(job.placement, attempts=[*job.placement.get("attempts", []), {
            "pool": pool["id"], "executor": pool["executor"], "started_at": iso(utcnow()), "runner": this_process()}])
        audit.append(s, actor="system", action="job.start", subject=job.id,
                     payload={"pool": pool["id"], "executor": pool["executor"]})
    return pool, policy, lambda path: _write_view(ex, asset, component, policy, path)


def _write_view(ex: Exchange, asset: Asset, component: Component, policy: Policy, path: Path) -> None:
    """Only the contract's governed view (after desensitization) leaves the vault, streamed batch by
    batch into ``path``: memory holds a batch, and the query's time limit applies to each batch, so
    a large view is neither held whole nor cut off for its size."""
    sandbox, _ = component_service.open_sandbox(ex, asset, policy.table, component.sql, component.desensitize)
    sql = f"SELECT * FROM main.{component_service.quote(policy.table)}"
    path.parent.mkdir(parents=True, exist_ok=True)
    with sandbox:
        schema = sandbox.execute_arrow(f"{sql} LIMIT 0").schema
        with pq.ParquetWriter(path, schema) as writer:
            for batch in sandbox.arrow_batches(sql, VIEW_BATCH_ROWS):
                writer.write_batch(batch)


def _record_ref(ex: Exchange, job_id: str, ref: dict, workspace: Path) -> None:
    """What the executor launched and where, on the running attempt: what ``recover`` stops and
    removes if this runner dies (the workspace holds a copy of the governed view)."""
    with ex.db.transaction() as s:
        job = s.get(Job, job_id, with_for_update=True)
        attempts = list(job.placement.get("attempts", []))
        attempts[-1] = dict(attempts[-1], ref=ref, workspace=str(workspace))
        job.placement = dict(job.placement, attempts=attempts)


def _cancel_requested(ex: Exchange, job_id: str) -> bool:
    with ex.db.transaction() as s:
        return bool(s.scalar(select(Job.cancel_requested).where(Job.id == job_id)))


def _fail_over(ex: Exchange, job_id: str, pool: dict, result: RunResult) -> None:
    """Block the pool that is down and place the job again; the failed attempt is not charged."""
    with ex.db.transaction() as s:
        job = s.get(Job, job_id, with_for_update=True)
        attempts = list(job.placement.get("attempts", []))
        attempts[-1] = dict(attempts[-1], outcome="unavailable", error=result.error, charged_fen=0)
        job.placement = dict(job.placement, attempts=attempts)
        job.state = "placed"
        audit.append(s, actor="system", action="job.failover", subject=job.id,
                     payload={"pool": pool["id"], "error": result.error})
    place(ex, job_id, blocked=(pool["id"],))


def _staged_outputs(ex: Exchange, job_id: str, ws: Workspace, result: RunResult, policy: Policy) -> Path:
    """The exchange's own copy of the outputs, taken once the program has ended: what is checked
    is what is released, whatever might still write into the workspace (on a pool whose worker
    shares the exchange's files). Empty when the program did not succeed: nothing is released."""
    staged = _staged_path(ex, job_id)
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    if result.status == "succeeded":
        stage(ws.out, staged, policy.job.max_output_bytes)
    return staged


def stage(src: Path, dest: Path, budget: int) -> None:
    """Copy the regular files and links under ``src`` into ``dest`` (links as links, for the check
    to refuse; nothing else: reading a FIFO would block). Copying stops once more than ``budget``
    bytes are copied: the check then refuses the outputs for their size.

    Nothing is followed, not even ``src`` itself (``os.fwalk`` yields nothing for a link), and
    each file is opened relative to its dir's descriptor with ``O_NOFOLLOW``: the exchange copies
    as root what a program wrote, and a link must never make it read for the program."""
    copied = 0
    for root, dirs, files, root_fd in os.fwalk(src):
        here = dest / Path(root).relative_to(src)
        for name in sorted(files + dirs):
            try:
                mode = os.stat(name, dir_fd=root_fd, follow_symlinks=False).st_mode
                if stat.S_ISLNK(mode):
                    here.mkdir(parents=True, exist_ok=True)
                    (here / name).symlink_to(os.readlink(name, dir_fd=root_fd))
                elif stat.S_ISREG(mode) and copied <= budget:
                    copied += _copy_at(root_fd, name, here / name)
            except OSError:  # removed or replaced while being copied: not staged, so not released
                continue


def _copy_at(dir_fd: int, name: str, target: Path) -> int:
    """Copy the regular file ``name`` in the dir ``dir_fd`` to ``target``; its size."""
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return 0
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as out:
            shutil.copyfileobj(f, out)
    return target.stat().st_size


def _check_outputs(staged: Path, result: RunResult, view: Path, policy: Policy) -> outputs.Verdict:
    names = pq.read_schema(view).names
    hidden = [c for c in names if policy.role(c) == "hidden"]
    dims = [c for c in names if policy.role(c) == "dimension"]
    try:
        return outputs.check(staged, result.logs, outputs.Source(view, hidden, dims),
                             max_bytes=policy.job.max_output_bytes, max_row_overlap=policy.job.max_row_overlap,
                             withheld=result.withheld)
    except Exception:  # a check that cannot finish fails closed: nothing is released, the job ends
        log.exception("the output check of %s failed", view.parent.name)
        verdict = outputs.Verdict()
        verdict.refuse("job.output_check_failed", "outputs", "the outputs could not be checked, so none are released")
        return verdict


def outputs_dir(ex: Exchange, job_id: str) -> Path:
    return ex.settings.home / "jobs" / job_id / "outputs"


def _release(ex: Exchange, job_id: str, staged: Path) -> list[dict]:
    """The checked copy becomes the released outputs (the buyer downloads them from there)."""
    dest = outputs_dir(ex, job_id)
    shutil.rmtree(dest, ignore_errors=True)
    staged.rename(dest)
    return [{"name": str(path.relative_to(dest)), "bytes": path.stat().st_size,
             "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
            for path in sorted(p for p in dest.rglob("*") if p.is_file())]


# -- settle ----------------------------------------------------------------------------------------

def meter(job: Job, pool: dict, seconds: int) -> dict[str, int]:
    """Resource-seconds billed: the allocated resources x wall seconds (per accelerator type)."""
    r = job.request
    out = {"cpu": r["cpu"] * seconds, "memory_gb": r["memory_gb"] * seconds}
    out.update({kind: n * seconds for kind, n in r["accelerators"].items()})
    return out


def usage_events(job: Job, attempt: int, resource_seconds: dict[str, int], pool: dict) -> list[dict]:
    """CloudEvents-shaped usage records (deduplicated on source + id, so a retried settle adds nothing)."""
    now = iso(utcnow())
    return [{"id": f"{job.id}/{attempt}/{kind}", "source": USAGE_SOURCE, "type": "suanshu.usage.resource",
             "subject": job.contract_id, "time": now,
             "data": {"resource": kind, "seconds": secs, "job": job.id, "pool": pool["id"]}}
            for kind, secs in sorted(resource_seconds.items()) if secs]


def rate_compute(resource_seconds: dict[str, int], pool: dict) -> tuple[int, list[dict]]:
    """The pool's hourly prices applied to resource-seconds (``billing.rating``, half up per line)."""
    price = pool["price"]
    plan = {"resource_hour_fen": {"cpu": price["cpu_hour"], "memory_gb": price["memory_gb_hour"],
                                  **price["accelerator_hour"]}}
    totals = rating.Totals()
    for kind, secs in resource_seconds.items():
        totals.add("suanshu.usage.resource", {"resource": kind, "seconds": secs})
    lines = rating.rate(rating.check_plan(plan), totals)
    return sum(line.amount_fen for line in lines), [line.__dict__ for line in lines]


def _settle(ex: Exchange, job_id: str, pool: dict, result: RunResult, verdict: outputs.Verdict,
            released: list[dict]) -> Job:
    with ex.db.transaction() as s:
        job = s.get(Job, job_id, with_for_update=True)
        contract = s.get(Contract, job.contract_id, with_for_update=True)
        seconds = max(1, round(result.wall_seconds))
        resource_seconds = meter(job, pool, seconds)
        attempt = len(job.placement.get("attempts", []))
        events = usage_events(job, attempt, resource_seconds, pool)
        usage.ingest(s, events, actor="system")
        # these events are settled by the job's own charge below: stamp them so an invoice never bills them again
        s.execute(update(UsageEvent).where(UsageEvent.source == USAGE_SOURCE,
                                           UsageEvent.id.in_([e["id"] for e in events])).values(invoice_id=job.id))
        compute_fen, lines = rate_compute(resource_seconds, pool)
        transfer_fen = job.placement.get("breakdown", {}).get("transfer", 0)
        state = {"succeeded": "succeeded", "cancelled": "cancelled"}.get(result.status, "failed")
        code = None if state == "succeeded" else f"job.{result.status}"
        if not verdict.passed:  # nothing leaves: not the outputs, not the logs
            state, code = "denied", verdict.problems[0]["code"]
        data_fen = contract.price_fen if state == "succeeded" else 0
        award = job.placement.get("award")
        if award:  # the compute at the bid's price, from the bid's hold; the job's hold pays the data
            bid = s.get(Bid, award["bid"], with_for_update=True)
            compute_fen, transfer_fen = awards.rate(s, bid, seconds), 0
            award_charge = awards.charge(s, bid, amount=compute_fen, job_id=job.id, contract=contract,
                                         compute_provider_org_id=pool["org"])
            price = min(job.hold_fen, data_fen)
            charge = _sum(_charge(s, contract, job, pool, price, 0), award_charge)
            price += compute_fen
        else:
            price = min(job.hold_fen, data_fen + compute_fen + transfer_fen)
            charge = _charge(s, contract, job, pool, price, min(price, compute_fen + transfer_fen))
        job.state, job.finished_at, job.executor_ref = state, utcnow(), result.ref
        job.error_code = code
        job.error_message = "; ".join(p["message"] for p in verdict.as_dict()["problems"]) or result.error
        job.logs = result.logs if verdict.passed else "[withheld: the output check refused this job's outputs]"
        job.price_fen = price
        job.metering = {"wall_seconds": round(result.wall_seconds, 3), "billed_seconds": seconds,
                        "cpu_seconds_used": result.cpu_seconds, "resource_seconds": resource_seconds,
                        "usage_events": [e["id"] for e in events], "lines": lines}
        job.result = {"status": result.status, "exit_code": result.exit_code, "check": verdict.as_dict(),
                      "outputs": released, "sandbox": result.sandbox}
        receipt = {"job": job.id, "contract": contract.id, "component": contract.component_id,
                   "program_sha256": job.program_sha256, "state": state, "pool": pool["id"],
                   "compute_provider": pool["org"], "data_provider": contract.provider_org_id,
                   "resource_seconds": resource_seconds, "compute_fen": compute_fen, "transfer_fen": transfer_fen,
                   "data_fen": data_fen, "price_fen": price, "held_fen": job.placement.get("hold_fen", 0),
                   "data_provider_fen": charge.provider_fen if charge else 0,
                   "compute_provider_fen": charge.compute_provider_fen if charge else 0,
                   "operator_fen": charge.operator_fen if charge else 0,
                   "transfers": charge.transfers if charge else [], "outputs": released,
                   **({"award": {**award, "compute_fen": compute_fen}} if award else {}),
                   "budget_left_fen": contract_service.remaining_fen(contract), "time": iso(utcnow())}
        event = audit.append(s, actor="system", action=f"job.{state}", subject=job.id, payload=receipt)
        job.receipt = dict(receipt, audit_seq=event.seq, audit_hash=event.hash,
                           audit_leaf_index=audit.leaf_index(event), audit_tree_size=event.seq)
        return job


def _charge(s: Session, contract: Contract, job: Job, pool: dict, price: int, compute_fen: int):
    """Post ``price`` from the job's hold and split it; the rest of the hold returns to the contract."""
    if price == 0:
        _reserve(s, contract, job, 0)
        return None
    memo = {"contract": contract.id, "job": job.id}
    if contract.hold_transfer_id:
        settlement.release(s, hold_id=contract.hold_transfer_id, buyer_org_id=contract.buyer_org_id, memo=memo)
    contract.spent_fen += price - job.hold_fen
    charge = settlement.charge(
        s, hold_id=job.hold_transfer_id, buyer_org_id=contract.buyer_org_id,
        provider_org_id=contract.provider_org_id, price=price,
        remaining_after=contract_service.remaining_fen(contract), commission_bps=contract.commission_bps,
        memo=memo, compute_provider_org_id=pool["org"], compute_fen=compute_fen, ids_from=f"{job.id}/settle")
    contract.hold_transfer_id = charge.new_hold_id
    job.hold_transfer_id, job.hold_fen = None, 0
    return charge


def _sum(a: settlement.Charge | None, b: settlement.Charge | None) -> settlement.Charge | None:
    """The job's data charge and its award's compute charge, as one bill."""
    if a is None or b is None:
        return a or b
    return settlement.Charge(a.price_fen + b.price_fen, a.provider_fen + b.provider_fen, a.operator_fen + b.operator_fen,
                             a.transfers + b.transfers, a.new_hold_id, a.compute_provider_fen + b.compute_provider_fen)


# -- read and cancel -------------------------------------------------------------------------------

def _visible(actor: Actor | None, job: Job, contract: Contract) -> bool:
    return actor is None or actor.has(Role.OPERATOR) or actor.has(Role.AUDITOR) or \
        actor.org_id in (job.buyer_org_id, contract.provider_org_id)


def _get(s: Session, actor: Actor | None, job_id: str) -> Job:
    job = s.get(Job, job_id)
    if job is None or not _visible(actor, job, s.get(Contract, job.contract_id)):
        raise NotFound("job.not_found", f"no job {job_id!r}" + (f" visible to {actor.org_name}" if actor else ""))
    return job


def get_job(ex: Exchange, actor: Actor | None, job_id: str) -> Job:
    with ex.db.transaction() as s:
        return _get(s, actor, job_id)


def list_jobs(ex: Exchange, actor: Actor | None, contract_id: str | None = None, *,
              after: str | None = None, limit: int | None = None) -> list[Job]:
    """Jobs visible to ``actor`` in id (creation) order; ``after``/``limit`` give keyset pages."""
    with ex.db.transaction() as s:
        q = select(Job).join(Contract, Contract.id == Job.contract_id).order_by(Job.id)
        if actor is not None and not (actor.has(Role.OPERATOR) or actor.has(Role.AUDITOR)):
            q = q.where(or_(Job.buyer_org_id == actor.org_id, Contract.provider_org_id == actor.org_id))
        if contract_id:
            q = q.where(Job.contract_id == contract_id)
        if after:
            q = q.where(Job.id > after)
        return list(s.scalars(q.limit(limit)))


def _buyer_only(s: Session, actor: Actor | None, job_id: str) -> Job:
    job = _get(s, actor, job_id)
    if actor is not None and actor.org_id != job.buyer_org_id:
        raise Refused("job.not_buyer", "only the job's buyer receives its logs and outputs")
    return job


def logs(ex: Exchange, actor: Actor | None, job_id: str) -> str:
    with ex.db.transaction() as s:
        job = _buyer_only(s, actor, job_id)
        if job.state not in FINISHED:
            raise Conflict("job.not_finished", f"job {job_id} is {job.state}: logs are released after the check")
        return job.logs


def output_files(ex: Exchange, actor: Actor | None, job_id: str) -> list[tuple[dict, bytes]]:
    """The released outputs with their bytes; refused while running and when the check refused them."""
    with ex.db.transaction() as s:
        job = _buyer_only(s, actor, job_id)
        if job.state != "succeeded":
            raise Conflict("job.no_outputs", f"job {job_id} is {job.state}: only a succeeded job has outputs"
                           + (f" ({job.error_code})" if job.error_code else ""))
        released = list(job.result.get("outputs", []))
    base = outputs_dir(ex, job_id)
    return [(f, (base / f["name"]).read_bytes()) for f in released]


def cancel(ex: Exchange, actor: Actor | None, job_id: str) -> Job:
    """Cancel a job: at once before it runs; a running one is stopped by its runner (charged for its time)."""
    with ex.db.transaction() as s:
        job = s.get(Job, job_id, with_for_update=True)
        contract = s.get(Contract, job.contract_id, with_for_update=True) if job else None
        if job is None or not _visible(actor, job, contract):
            raise NotFound("job.not_found", f"no job {job_id!r}")
        if actor is not None and actor.org_id != job.buyer_org_id and not actor.has(Role.OPERATOR):
            raise Refused("job.not_buyer", "only the job's buyer or the operator may cancel it")
        if job.state in FINISHED:
            raise Conflict("job.finished", f"job {job_id} is already {job.state}")
        label = actor.label if actor else "local"
        if job.state in ("queued", "placed"):
            return _fail_in(s, job, contract, label, "cancelled", "job.cancelled", "cancelled before it ran")
        job.cancel_requested = True
        audit.append(s, actor=label, action="job.cancel_request", subject=job.id, payload={"state": job.state})
        return job


def job_json(job: Job) -> dict:
    return {"id": job.id, "contract": job.contract_id, "buyer": job.buyer_org_id, "state": job.state,
            "request": job.request, "program_sha256": job.program_sha256, "pool": job.pool_id,
            "placement": job.placement, "metering": job.metering, "result": job.result, "receipt": job.receipt,
            "price_fen": job.price_fen, "hold_fen": job.hold_fen,
            "error": {"code": job.error_code, "message": job.error_message} if job.error_code else None,
            "cancel_requested": job.cancel_requested, "created_at": iso(job.created_at),
            "started_at": iso(job.started_at) if job.started_at else None,
            "finished_at": iso(job.finished_at) if job.finished_at else None}
