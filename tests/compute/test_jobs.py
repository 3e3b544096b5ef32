"""Compute-to-data jobs on the embedded (local) executor: the whole path on SQLite and PostgreSQL.

Submit under a job-mode contract -> placed on a feasible pool with the cost held -> the program runs in
the sandbox over the governed view -> outputs checked -> metered -> charged and split -> audited.
"""

from __future__ import annotations

import io

import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from suanshu.audit import log as audit
from suanshu.audit.models import AuditEvent
from suanshu.billing.models import UsageEvent
from suanshu.compute.executors import local
from suanshu.core.errors import Conflict, UsageError
from suanshu.ledger import engine as ledger
from suanshu.market import jobs, pools, settlement

from .conftest import PRICE_FEN, REGION, pool_spec

AGGREGATE = """
import os, pyarrow.parquet as pq
t = pq.read_table(os.path.join(os.environ["SUANSHU_DATA"], "fees.parquet"))
g = t.group_by("city").aggregate([("fee", "mean"), ("fee", "count")]).sort_by("city")
pq.write_table(g, os.path.join(os.environ["SUANSHU_OUTPUT"], "by_city.parquet"))
print("cities:", g.num_rows)
"""
REQUEST = {"cpu": 1, "memory_gb": 1, "hours": 0.05}


def balances(ex) -> dict[str, int]:
    return {f"{b.org}/{b.code}": b.available_fen for b in settlement.balances(ex, None)}


def held(ex, org: str) -> int:
    return next(b.held_fen for b in settlement.balances(ex, None) if b.org == org and b.code == "cash")


def test_a_job_runs_next_to_the_data_and_is_billed_three_ways(job_world):
    ex, bank = job_world.ex, job_world.actor("bank")
    before = balances(ex)
    job = jobs.submit(ex, bank, job_world.contract_id, AGGREGATE, REQUEST)
    assert job.state == "placed" and job.placement["region"] == REGION
    assert job.hold_fen == PRICE_FEN + job.placement["cost"] > PRICE_FEN
    assert held(ex, "bank") == 50_000  # the job's hold is carved out of the contract's, not added

    job = jobs.run(ex, job.id)
    assert job.state == "succeeded", job.error_message
    assert job.result["sandbox"]["network"].startswith("unshare")
    [(meta, body)] = jobs.output_files(ex, bank, job.id)
    assert meta["name"] == "by_city.parquet"
    table = pq.read_table(io.BytesIO(body))
    assert table.column("city").to_pylist() == ["Changsha", "Xiangtan", "Zhuzhou"]
    assert table.column("fee_count").to_pylist() == [60, 45, 40]
    assert "cities: 3" in jobs.logs(ex, bank, job.id)

    receipt = job.receipt
    seconds = job.metering["billed_seconds"]
    assert receipt["resource_seconds"] == {"cpu": seconds, "memory_gb": seconds}
    assert receipt["price_fen"] == PRICE_FEN + receipt["compute_fen"] == job.price_fen
    assert receipt["compute_fen"] == seconds * (10 + 1)  # 36,000 fen per cpu-hour, 3,600 per GB-hour
    assert (receipt["data_provider_fen"] + receipt["compute_provider_fen"] + receipt["operator_fen"]
            == receipt["price_fen"])
    after = balances(ex)
    assert after["telco/cash"] - before["telco/cash"] == receipt["data_provider_fen"]
    assert after["hpc/cash"] - before["hpc/cash"] == receipt["compute_provider_fen"] > 0
    assert held(ex, "bank") == 50_000 - receipt["price_fen"]  # the rest of the job's hold went back
    with ex.db.transaction() as s:
        events = list(s.scalars(select(UsageEvent).where(UsageEvent.subject == job_world.contract_id)))
        assert {(e.type, e.data["resource"], e.data["seconds"]) for e in events} == {
            ("suanshu.usage.resource", "cpu", seconds), ("suanshu.usage.resource", "memory_gb", seconds)}
        assert all(e.invoice_id == job.id for e in events)  # settled by the job: never invoiced again
        actions = [a for a, in s.execute(select(AuditEvent.action).where(AuditEvent.subject == job.id)
                                         .order_by(AuditEvent.seq))]
        assert actions == ["job.submit", "job.place", "job.start", "job.succeeded"]
        assert audit.verify(s).ok and ledger.verify(s).ok


@pytest.mark.parametrize(("program", "code"), [
    # prints a hidden column's values
    ("""
import os, pyarrow.parquet as pq
t = pq.read_table(os.path.join(os.environ["SUANSHU_DATA"], "fees.parquet"))
print(t.column("mobile").to_pylist()[:3])
""", "job.output_hidden_value"),
    # writes the raw rows (without the hidden column) to a CSV
    ("""
import os, pyarrow.parquet as pq, pyarrow.csv as pc
t = pq.read_table(os.path.join(os.environ["SUANSHU_DATA"], "fees.parquet"))
pc.write_csv(t.select(["city", "fee"]), os.path.join(os.environ["SUANSHU_OUTPUT"], "rows.csv"))
""", "job.output_raw_rows"),
    # too large
    ("""
import os
open(os.path.join(os.environ["SUANSHU_OUTPUT"], "big.bin"), "wb").write(b"x" * 70000)
""", "job.output_too_large"),
    # empties its copy of the data first, so a check that read the workspace would find nothing
    ("""
import os, pyarrow.parquet as pq
path = os.path.join(os.environ["SUANSHU_DATA"], "fees.parquet")
t = pq.read_table(path)
pq.write_table(t.slice(0, 0), path)
print(t.column("mobile").to_pylist()[:3])
""", "job.output_hidden_value"),
], ids=["hidden-value", "raw-rows", "too-large", "data-copy-emptied"])
def test_outputs_that_leak_are_refused_and_withheld(job_world, program, code):
    ex, bank = job_world.ex, job_world.actor("bank")
    job = jobs.run(ex, jobs.submit(ex, bank, job_world.contract_id, program, REQUEST).id)
    assert (job.state, job.error_code) == ("denied", code), job.error_message
    assert "withheld" in jobs.logs(ex, bank, job.id)
    assert not (ex.settings.home / "jobs" / job.id / "view.parquet").exists()  # the check's copies are gone
    assert not (ex.settings.home / "jobs" / job.id / "staged").exists()
    with pytest.raises(Conflict) as err:
        jobs.output_files(ex, bank, job.id)
    assert err.value.code == "job.no_outputs"
    # no data fee for a refused job; the compute it used is charged
    assert job.receipt["data_fen"] == 0 and job.price_fen == job.receipt["compute_fen"]


def test_the_sandbox_has_no_network_and_the_time_limit_kills(job_world):
    ex, bank = job_world.ex, job_world.actor("bank")
    if not local.network_isolation()[0]:
        pytest.skip(f"no network namespace here: {local.network_isolation()[1]}")
    probe = """
import socket
s = socket.socket()
s.settimeout(3)
try:
    s.connect(("127.0.0.1", 9))
    print("network: open")
except OSError as e:
    print("network: errno", e.errno)
import os
try:
    print("data dir:", os.listdir(%r))
except OSError as e:
    print("data dir: errno", e.errno)
""" % str(ex.settings.home)
    job = jobs.run(ex, jobs.submit(ex, bank, job_world.contract_id, probe, REQUEST).id)
    assert job.state == "succeeded", job.error_message
    logs = jobs.logs(ex, bank, job.id)
    assert "network: errno 101" in logs  # ENETUNREACH: no interface is up
    if job.result["sandbox"]["user"].startswith("uid") and "per job" in job.result["sandbox"]["user"]:
        # EACCES: another uid, and the data dir is 0700; ENOENT where it lies under a temp dir,
        # which the job sees as an empty tmpfs of its own
        assert "data dir: errno 13" in logs or "data dir: errno 2\n" in logs, logs

    spin = "while True:\n    pass\n"
    job = jobs.run(ex, jobs.submit(ex, bank, job_world.contract_id, spin, dict(REQUEST, hours=0.0008)).id)
    assert (job.state, job.error_code) == ("failed", "job.timeout")
    assert job.metering["billed_seconds"] <= 4


def test_terms_residency_and_budget_refuse_before_anything_runs(job_world):
    ex, bank = job_world.ex, job_world.actor("bank")
    before = held(ex, "bank")
    too_big = jobs.submit(ex, bank, job_world.contract_id, AGGREGATE, dict(REQUEST, cpu=4))
    assert (too_big.state, too_big.error_code) == ("denied", "job.resources_not_allowed")
    npu = jobs.submit(ex, bank, job_world.contract_id, AGGREGATE, dict(REQUEST, accelerators={"ascend-910b": 1}))
    assert (npu.state, npu.error_code) == ("failed", "schedule.no_pool_with_accelerator")
    assert held(ex, "bank") == before  # nothing held for jobs that never ran
    with pytest.raises(UsageError):
        jobs.submit(ex, bank, job_world.contract_id, "def (:", REQUEST)


def test_cancel_before_running_releases_the_hold(job_world):
    ex, bank = job_world.ex, job_world.actor("bank")
    job = jobs.submit(ex, bank, job_world.contract_id, AGGREGATE, REQUEST)
    assert held(ex, "bank") == 50_000
    job = jobs.cancel(ex, bank, job.id)
    assert job.state == "cancelled" and job.hold_fen == 0 and held(ex, "bank") == 50_000
    assert jobs.run(ex, job.id).state == "cancelled"  # a cancelled job never starts
    with pytest.raises(Conflict):
        jobs.cancel(ex, bank, job.id)


def test_residency_keeps_the_job_in_its_regions(settings, tmp_path):
    from suanshu.market.exchange import Exchange

    from .conftest import JOB_POLICY, build_job_world

    ex = Exchange.open(settings)
    world = build_job_world(ex, tmp_path, policy={**JOB_POLICY, "residency": [REGION]})
    hpc = world.actor("hpc")
    pools.register(ex, hpc, pool_spec("cheap-elsewhere", region="贵州-贵安", cpu_hour=100))
    pools.register(ex, hpc, pool_spec("in-region", cpu_hour=50_000))
    job = jobs.submit(ex, world.actor("bank"), world.contract_id, AGGREGATE, REQUEST)
    assert job.placement["pool_name"] == "in-region"  # the cheaper pool is outside the allowed regions
    ex.close()


def test_outputs_are_staged_as_the_exchanges_own_copy(tmp_path):
    """What is checked is what is released: a copy taken when the program ended, of regular
    files and links only (a FIFO would block the copy), that stops once over the size cap."""
    import os

    src, dest = tmp_path / "out", tmp_path / "staged"
    (src / "sub").mkdir(parents=True)
    dest.mkdir()
    (src / "a.csv").write_text("x,y\n1,2\n")
    (src / "sub" / "b.txt").write_text("hello")
    (src / "link").symlink_to("/etc/hostname")
    (src / "dirlink").symlink_to(src / "sub")
    os.mkfifo(src / "pipe")
    jobs.stage(src, dest, budget=1000)
    (src / "a.csv").write_text("changed after the check")  # a writer left behind changes nothing now
    assert (dest / "a.csv").read_text() == "x,y\n1,2\n" and (dest / "sub" / "b.txt").read_text() == "hello"
    assert (dest / "link").is_symlink() and (dest / "dirlink").is_symlink()  # for the check to refuse
    assert not (dest / "pipe").exists()

    big, capped = tmp_path / "big", tmp_path / "capped"
    big.mkdir()
    capped.mkdir()
    for i in range(5):
        (big / f"{i}.bin").write_bytes(b"x" * 600)
    jobs.stage(big, capped, budget=1000)
    copied = sum(p.stat().st_size for p in capped.iterdir())
    assert 1000 < copied <= 1000 + 600  # past the cap, then no more: the check refuses it for its size


def test_an_output_check_that_cannot_finish_releases_nothing(tmp_path, monkeypatch):
    """A check that raises must not leave the job running with its hold: it fails closed."""
    import pyarrow as pa

    from suanshu.compute import outputs
    from suanshu.compute.executors import RunResult
    from suanshu.policy.model import Policy

    view = tmp_path / "view.parquet"
    pq.write_table(pa.table({"city": ["a"], "fee": [1.0]}), view)
    policy = Policy.from_dict({"mode": "job", "table": "t", "columns": {"city": "dimension", "fee": "aggregate"},
                               "job": {}})

    def broken(*_a, **_k):
        raise ValueError("an output the check did not foresee")

    monkeypatch.setattr(outputs, "check", broken)
    verdict = jobs._check_outputs(tmp_path, RunResult("succeeded", 0, "", 1.0), view, policy)
    assert not verdict.passed and [p["code"] for p in verdict.problems] == ["job.output_check_failed"]
