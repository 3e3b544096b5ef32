"""Jobs that wait for capacity, fair share when the queue drains, and recovery from a dead runner.

Real parts only: SQLite/PostgreSQL, the sandboxed local executor, a real runner process killed with
SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from suanshu.audit.models import AuditEvent
from suanshu.compute.executors import is_alive
from suanshu.market import contracts, jobs, orgs, pools, settlement
from suanshu.market.exchange import Exchange

from .conftest import build_job_world, pool_spec

QUICK = "open(__import__('os').environ['SUANSHU_OUTPUT'] + '/n.txt', 'w').write('ok')\n"
SLEEPER = "import time\ntime.sleep(600)\n"
ONE_CPU = {"cpu": 1, "memory_gb": 1, "hours": 0.05}


@pytest.fixture
def small_world(settings, tmp_path):
    """One pool with room for two 1-cpu jobs; two buyers (bank, insurer) with job-mode contracts."""
    ex = Exchange.open(settings)
    world = build_job_world(ex, tmp_path)
    spec = dict(pool_spec("tiny"), cpu=2)
    pools.register(ex, world.actor("hpc"), spec)
    orgs.create_org(ex, None, "insurer", ["buyer"], region="上海")
    settlement.deposit(ex, orgs.local_actor(ex, orgs.OPERATOR_ORG), "insurer", 1_000_000)
    world.insurer_contract = contracts.request(ex, world.actor("insurer"), "fees", 50_000, purpose="risk").id
    yield world
    ex.close()


def actions(ex, job_id: str) -> list[str]:
    with ex.db.transaction() as s:
        return list(s.scalars(select(AuditEvent.action).where(AuditEvent.subject == job_id).order_by(AuditEvent.seq)))


def held(ex, org: str) -> int:
    return next(b.held_fen for b in settlement.balances(ex, None) if b.org == org and b.code == "cash")


def test_a_job_waits_while_its_pools_are_full_and_runs_when_room_frees(small_world):
    ex, bank = small_world.ex, small_world.actor("bank")
    first = jobs.submit(ex, bank, small_world.contract_id, QUICK, {**ONE_CPU, "cpu": 2})
    assert first.state == "placed"
    waiting = jobs.submit(ex, bank, small_world.contract_id, QUICK, ONE_CPU)
    assert waiting.state == "queued" and waiting.hold_fen == 0 and waiting.pool_id is None
    assert waiting.placement["waiting"]["code"] == "schedule.capacity_exhausted"
    assert "capacity exhausted" in waiting.placement["waiting"]["reason"]
    assert jobs.drain(ex) == []  # still full: it keeps waiting, and is audited once
    assert jobs.run(ex, waiting.id).state == "queued"  # a runner leaves a waiting job alone

    assert jobs.run(ex, first.id).state == "succeeded"
    [placed] = jobs.drain(ex)
    assert placed.id == waiting.id and placed.state == "placed" and placed.hold_fen > 0
    assert "waiting" not in placed.placement and placed.placement["waited_seconds"] >= 0
    assert jobs.run(ex, waiting.id).state == "succeeded"
    assert actions(ex, waiting.id) == ["job.submit", "job.wait", "job.place", "job.start", "job.succeeded"]
    spent = sum(jobs.get_job(ex, None, j).price_fen for j in (first.id, waiting.id))
    assert held(ex, "bank") == 50_000 - spent


def test_a_job_no_pool_could_ever_fit_fails_at_once(small_world):
    ex, bank = small_world.ex, small_world.actor("bank")
    job = jobs.submit(ex, bank, small_world.contract_id, QUICK, {**ONE_CPU, "accelerators": {"ascend-910b": 1}})
    assert job.state == "failed" and job.error_code == "schedule.no_pool_with_accelerator"


def test_a_waiting_job_can_be_cancelled(small_world):
    ex, bank = small_world.ex, small_world.actor("bank")
    jobs.submit(ex, bank, small_world.contract_id, QUICK, {**ONE_CPU, "cpu": 2})
    waiting = jobs.submit(ex, bank, small_world.contract_id, QUICK, ONE_CPU)
    assert jobs.cancel(ex, bank, waiting.id).state == "cancelled"
    assert jobs.drain(ex) == []


def test_the_queue_drains_with_fair_share_between_buyers(small_world):
    ex, bank, insurer = small_world.ex, small_world.actor("bank"), small_world.actor("insurer")
    running = [jobs.submit(ex, bank, small_world.contract_id, QUICK, ONE_CPU) for _ in range(2)]
    assert [j.state for j in running] == ["placed", "placed"]  # the pool is full
    bank_next = jobs.submit(ex, bank, small_world.contract_id, QUICK, ONE_CPU)
    insurer_first = jobs.submit(ex, insurer, small_world.insurer_contract, QUICK, ONE_CPU)
    assert bank_next.state == insurer_first.state == "queued"

    jobs.run(ex, running[0].id)  # one slot frees; the bank still runs one job, the insurer none
    [placed] = jobs.drain(ex)
    assert placed.id == insurer_first.id
    assert jobs.get_job(ex, None, bank_next.id).state == "queued"


RUNNER = textwrap.dedent("""
    import sys
    from suanshu.core.settings import load_settings
    from suanshu.market import jobs
    from suanshu.market.exchange import Exchange
    ex = Exchange.open(load_settings(sys.argv[1], sys.argv[2]), upgrade=False)
    jobs.run(ex, sys.argv[3])
""")


def test_a_job_whose_runner_died_is_recovered_and_runs_again(small_world, settings):
    ex, bank = small_world.ex, small_world.actor("bank")
    job = jobs.submit(ex, bank, small_world.contract_id, SLEEPER, ONE_CPU)
    assert held(ex, "bank") == 50_000
    runner = subprocess.Popen([sys.executable, "-c", RUNNER, str(settings.home), settings.database_url, job.id])
    try:
        deadline = time.monotonic() + 120  # the runner starts, materialises the data, launches the sandbox
        while "ref" not in (jobs.get_job(ex, None, job.id).placement.get("attempts") or [{}])[-1]:
            assert runner.poll() is None and time.monotonic() < deadline, "the runner did not start the job"
            time.sleep(0.2)
        assert jobs.recover(ex) == []  # its runner is alive: nothing to do
    finally:
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait()
    sandbox = jobs.get_job(ex, None, job.id).placement["attempts"][-1]["ref"]["process"]
    assert is_alive(sandbox)  # the program outlives its runner (its own session) ...

    workspace = Path(jobs.get_job(ex, None, job.id).placement["attempts"][-1]["workspace"])
    view = settings.home / "jobs" / job.id / "view.parquet"
    assert workspace.is_dir() and view.exists()  # the dead runner left the view's copies behind

    [lost] = jobs.recover(ex)
    assert lost.state == "queued" and lost.placement["waiting"]["code"] == "job.executor_lost"
    attempt = lost.placement["attempts"][-1]
    assert attempt["outcome"] == "lost" and attempt["charged_fen"] == 0
    assert not workspace.exists() and not view.exists()  # removed with the orphan
    assert lost.hold_fen == 0 and held(ex, "bank") == 50_000  # the job's hold went back to the contract
    deadline = time.monotonic() + 30
    while is_alive(sandbox) and time.monotonic() < deadline:  # ... until the sweep kills it
        time.sleep(0.1)
    assert not is_alive(sandbox)

    with ex.db.transaction() as s:  # run it again with a quick program (same job, new attempt)
        from suanshu.compute.models import Job

        s.get(Job, job.id).program = QUICK
    [again] = jobs.drain(ex)
    done = jobs.run(ex, again.id)
    assert done.state == "succeeded" and len(done.placement["attempts"]) == 2
    assert done.receipt["price_fen"] == 50_000 - held(ex, "bank")  # charged once, for the attempt that ran
    assert actions(ex, job.id) == ["job.submit", "job.place", "job.start", "job.lost", "job.wait",
                                   "job.place", "job.start", "job.succeeded"]


def test_job_sweep_runs_what_the_queue_places(small_world, settings):
    from typer.testing import CliRunner

    from suanshu.cli.main import app as cli_app

    ex, bank = small_world.ex, small_world.actor("bank")
    first = jobs.submit(ex, bank, small_world.contract_id, QUICK, {**ONE_CPU, "cpu": 2})
    waiting = jobs.submit(ex, bank, small_world.contract_id, QUICK, ONE_CPU)
    jobs.run(ex, first.id)
    env = {"SUANSHU_HOME": str(settings.home), "SUANSHU_DATABASE_URL": settings.database_url}
    result = CliRunner().invoke(cli_app, ["job", "sweep", "--format", "json"], env=env)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["recovered"] == [] and [(j["id"], j["state"]) for j in out["ran"]] == [(waiting.id, "succeeded")]
