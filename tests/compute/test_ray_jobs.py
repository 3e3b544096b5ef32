"""Jobs on a real local Ray cluster (Job Submission API): execution with an NPU, failover, cancellation.

One cluster for the whole session (``ray_cluster`` in conftest: 1 CPU, ``{"NPU": 1}``, loopback).
SQLite only: the backends are covered by test_jobs.py; here the executor is under test.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import time

import pytest

from suanshu.compute.executors.ray import ray_resources
from suanshu.market import jobs, pools
from suanshu.market.exchange import Exchange

from .conftest import PRIVATE_TMP, build_job_world, pool_spec

pytestmark = pytest.mark.ray

NPU_PROGRAM = """
import os, pyarrow.parquet as pq
t = pq.read_table(os.path.join(os.environ["SUANSHU_DATA"], "fees.parquet"))
open(os.path.join(os.environ["SUANSHU_OUTPUT"], "mean_fee.txt"), "w").write(str(round(sum(t.column("fee").to_pylist()) / t.num_rows, 2)))
print("rows", t.num_rows)
"""
REQUEST = {"cpu": 1, "memory_gb": 1, "hours": 0.05, "accelerators": {"ascend-910b": 1}}


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
def world(settings, tmp_path):
    ex = Exchange.open(settings)
    yield build_job_world(ex, tmp_path)
    ex.close()


def _closed_port() -> str:
    from suanshu.compute.executors.ray import _free_port

    return f"http://127.0.0.1:{_free_port()}"  # nothing listens there: a pool that is down


def test_accelerators_map_to_ray_resources():
    assert ray_resources({"ascend-910b": 2, "nvidia-h100": 1, "cambricon-mlu370": 4}) == (
        1, {"NPU": 2.0, "cambricon-mlu370": 4.0})


def test_cluster_ports_are_free_and_outside_ray_workers_and_the_ephemeral_range(monkeypatch):
    """A port the kernel may give an outgoing connection before Ray binds it left a cluster
    without its job agent; Ray's workers take 10002-19999. A port in use is passed over."""
    import random
    import socket
    from pathlib import Path

    from suanshu.compute.executors.ray import _free_port

    ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = {_free_port() for _ in range(50)}
    assert all(20000 <= p < ephemeral for p in ports) and len(ports) > 40
    with socket.socket() as taken:
        taken.bind(("", _free_port()))
        taken.listen()
        busy = taken.getsockname()[1]
        free = _free_port()
        draws = iter([busy, busy, free])
        monkeypatch.setattr(random, "randrange", lambda *a: next(draws))
        assert _free_port() == free


def test_a_pool_that_is_down_is_blocked_and_the_job_fails_over_to_ray(world, ray_cluster):
    ex, hpc, bank = world.ex, world.actor("hpc"), world.actor("bank")
    down = pools.register(ex, hpc, pool_spec("npu-down", _closed_port(), npu=8, cpu_hour=1_000))
    live = pools.register(ex, hpc, pool_spec("npu-ray", ray_cluster, npu=1))
    job = jobs.submit(ex, bank, world.contract_id, NPU_PROGRAM, REQUEST)
    assert job.pool_id == down.id  # the cheaper pool first
    first_hold = job.hold_fen

    job = jobs.run(ex, job.id)
    assert job.state == "succeeded", (job.error_code, job.error_message, job.placement.get("attempts"))
    assert job.pool_id == live.id and job.placement["blocked"] == [down.id]
    failed, ok = job.placement["attempts"]
    assert (failed["pool"], failed["outcome"], failed["charged_fen"]) == (down.id, "unavailable", 0)
    assert ok["pool"] == live.id
    assert job.placement["hold_fen"] > first_hold  # re-held at the live pool's (higher) price
    assert job.executor_ref.startswith(job.id)  # the Ray submission id
    assert job.result["sandbox"]["outputs"].startswith("written to the exchange's file system")
    logs = jobs.logs(ex, bank, job.id)
    assert f"Running entrypoint for job {job.executor_ref}" in logs and "rows 145" in logs  # Ray ran it
    [(meta, body)] = jobs.output_files(ex, bank, job.id)
    assert meta["name"] == "mean_fee.txt" and float(body) > 0
    # billed once, on the pool that ran it, per accelerator type
    seconds = job.metering["billed_seconds"]
    assert job.receipt["pool"] == live.id
    assert job.receipt["resource_seconds"] == {"cpu": seconds, "memory_gb": seconds, "ascend-910b": seconds}


def test_with_two_clusters_on_one_host_a_job_fails_over_to_the_second(world, ray_cluster, second_ray_cluster):
    """The flake this guards: with Ray's fixed agent port, a second cluster on the host came up (its job
    server answered) but had no job agent, refused every submission ("No available agent"), was
    blocked like a down pool, and the job failed with schedule.no_pools."""
    ex, hpc, bank = world.ex, world.actor("hpc"), world.actor("bank")
    down = pools.register(ex, hpc, pool_spec("npu-down", _closed_port(), npu=8, cpu_hour=1_000))
    second = pools.register(ex, hpc, pool_spec("npu-ray-2", second_ray_cluster, npu=1, cpu_hour=20_000))
    pools.register(ex, hpc, pool_spec("npu-ray", ray_cluster, npu=1))
    job = jobs.run(ex, jobs.submit(ex, bank, world.contract_id, NPU_PROGRAM, REQUEST).id)
    assert job.state == "succeeded", (job.error_code, job.error_message, job.placement.get("attempts"))
    assert job.pool_id == second.id and job.placement["blocked"] == [down.id]
    assert [(a["pool"], a.get("charged_fen")) for a in job.placement["attempts"]] == [(down.id, 0), (second.id, None)]
    assert job.receipt["pool"] == second.id and job.receipt["price_fen"] > 0
    [(meta, body)] = jobs.output_files(ex, bank, job.id)
    assert meta["name"] == "mean_fee.txt" and float(body) > 0


REMOTE_PROGRAM = """
import os, pyarrow.parquet as pq
t = pq.read_table(os.path.join(os.environ["SUANSHU_DATA"], "fees.parquet"))
out = os.environ["SUANSHU_OUTPUT"]
print("output dir", out)
os.makedirs(os.path.join(out, "by_city"))
open(os.path.join(out, "mean_fee.txt"), "w").write(str(round(sum(t.column("fee").to_pylist()) / t.num_rows, 2)))
counts = {}
for c in t.column("city").to_pylist():
    counts[c] = counts.get(c, 0) + 1
open(os.path.join(out, "by_city", "counts.csv"), "w").write("city,n\\n" + "".join(f"{c},{n}\\n" for c, n in sorted(counts.items())))
"""


@pytest.fixture
def remote_pool(world, second_ray_cluster, hidden_workspaces, monkeypatch):
    if not PRIVATE_TMP:
        pytest.skip("a cluster that does not see the exchange's workspaces needs root and unshare here")
    monkeypatch.setattr(tempfile, "tempdir", str(hidden_workspaces))  # the exchange's workspaces go there
    return pools.register(world.ex, world.actor("hpc"), pool_spec("npu-remote", second_ray_cluster, npu=1))


def test_outputs_of_a_ray_pool_that_does_not_share_our_files_come_back_through_ray(world, remote_pool):
    ex, bank = world.ex, world.actor("bank")
    job = jobs.run(ex, jobs.submit(ex, bank, world.contract_id, REMOTE_PROGRAM, REQUEST).id)
    assert job.state == "succeeded", (job.error_code, job.error_message, job.logs)
    assert job.pool_id == remote_pool.id
    assert job.result["sandbox"]["outputs"].startswith("through Ray")
    worker_out = re.search(r"output dir (\S+)", jobs.logs(ex, bank, job.id)).group(1)
    assert worker_out.startswith("/tmp/suanshu-out-")  # the worker's own dir, not ours
    assert not os.path.exists(worker_out)  # packed, then removed from the worker
    files = dict((meta["name"], body) for meta, body in jobs.output_files(ex, bank, job.id))
    assert sorted(files) == ["by_city/counts.csv", "mean_fee.txt"] and float(files["mean_fee.txt"]) > 0
    assert files["by_city/counts.csv"].decode().splitlines() == ["city,n", "Changsha,60", "Xiangtan,45", "Zhuzhou,40"]
    assert job.receipt["data_fen"] > 0 and job.receipt["pool"] == remote_pool.id


def test_outputs_from_a_remote_ray_pool_are_checked_before_release(world, remote_pool):
    ex, bank = world.ex, world.actor("bank")
    leak = ("import os, pyarrow.parquet as pq\n"
            "t = pq.read_table(os.path.join(os.environ['SUANSHU_DATA'], 'fees.parquet'))\n"
            "open(os.path.join(os.environ['SUANSHU_OUTPUT'], 'm.txt'), 'w').write(' '.join(t.column('mobile').to_pylist()))\n")
    job = jobs.run(ex, jobs.submit(ex, bank, world.contract_id, leak, REQUEST).id)
    assert (job.state, job.error_code) == ("denied", "job.output_hidden_value")
    assert job.result["outputs"] == [] and not jobs.outputs_dir(ex, job.id).exists()  # nothing released
    assert job.receipt["data_fen"] == 0
    # over the contract's 64 KiB: left on the pool (not moved), refused by size
    big = "import os\nopen(os.path.join(os.environ['SUANSHU_OUTPUT'], 'big.bin'), 'wb').write(b'x' * 200_000)\n"
    job = jobs.run(ex, jobs.submit(ex, bank, world.contract_id, big, REQUEST).id)
    assert (job.state, job.error_code) == ("denied", "job.output_too_large")
    assert job.result["check"]["files"] == [{"bytes": 200_000}]  # counted; a refused output's name stays in
    assert job.result["outputs"] == [] and not jobs.outputs_dir(ex, job.id).exists()


def test_cancelling_a_running_ray_job_stops_it(world, ray_cluster, tmp_path):
    """The exchange's state, and the program itself: it must not run on, unmetered, on the cluster."""
    from .test_ray_driver import _alive, _wait

    ex, bank = world.ex, world.actor("bank")
    pools.register(ex, world.actor("hpc"), pool_spec("npu-ray", ray_cluster, npu=1))
    pid_file = tmp_path / "program.pid"  # this cluster shares the exchange's file system
    job = jobs.submit(ex, bank, world.contract_id, f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
                      "print('started', flush=True)\ntime.sleep(600)\n", REQUEST)
    runner = threading.Thread(target=jobs.run, args=(ex, job.id))
    runner.start()
    deadline = time.monotonic() + 120
    while jobs.get_job(ex, bank, job.id).state != "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert jobs.cancel(ex, bank, job.id).cancel_requested
    runner.join(timeout=120)
    job = jobs.get_job(ex, bank, job.id)
    assert (job.state, job.error_code) == ("cancelled", "job.cancelled")
    assert job.receipt["data_fen"] == 0 and job.hold_fen == 0  # the hold is resolved
    if pid_file.exists():  # cancelled before it started, or it started: either way nothing runs now
        assert _wait(lambda: not _alive(int(pid_file.read_text() or 0))), "the cancelled program still runs"


def test_a_ray_job_whose_runner_died_is_stopped_and_requeued(world, ray_cluster, settings):
    import os
    import signal
    import subprocess
    import sys

    from ray.job_submission import JobSubmissionClient

    from .test_queue import RUNNER

    ex, bank = world.ex, world.actor("bank")
    pools.register(ex, world.actor("hpc"), pool_spec("npu-ray", ray_cluster, npu=1))
    job = jobs.submit(ex, bank, world.contract_id, "import time\ntime.sleep(600)\n", REQUEST)
    runner = subprocess.Popen([sys.executable, "-c", RUNNER, str(settings.home), settings.database_url, job.id])
    try:
        deadline = time.monotonic() + 120
        while "ref" not in (jobs.get_job(ex, None, job.id).placement.get("attempts") or [{}])[-1]:
            assert runner.poll() is None and time.monotonic() < deadline, "the runner did not submit the job"
            time.sleep(0.2)
    finally:
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait()
    ref = jobs.get_job(ex, None, job.id).placement["attempts"][-1]["ref"]
    assert ref["kind"] == "ray"

    [lost] = jobs.recover(ex)
    assert lost.state == "queued" and lost.placement["waiting"]["code"] == "job.executor_lost"
    assert lost.placement["attempts"][-1]["charged_fen"] == 0 and lost.hold_fen == 0
    client = JobSubmissionClient(ray_cluster)
    deadline = time.monotonic() + 60
    while str(client.get_job_status(ref["id"]).value) not in ("STOPPED", "FAILED", "SUCCEEDED"):
        assert time.monotonic() < deadline, "the orphaned Ray job was not stopped"
        time.sleep(0.5)
    assert str(client.get_job_status(ref["id"]).value) == "STOPPED"
    assert jobs.cancel(ex, bank, job.id).state == "cancelled"  # leaves the queue; nothing held
