"""Live dispatch to a local Ray cluster (issue 6): Suanshu's job path against submitting to Ray directly.

    uv run python bench/ray_dispatch.py [--jobs 10]

Starts one Ray head on loopback (``compute.executors.ray.local_cluster``: 2 CPUs, 1 NPU), builds a
small exchange in a temp dir (the test world of tests/compute: one provider, one buyer, one Ray pool)
and prints JSON lines:

- ``ray_dispatch.submit``: jobs/s *dispatched*: Ray's ``submit_job`` alone, against Suanshu's
  ``jobs.submit`` (contract checks, placement by the scheduler, hold in the ledger, audit) followed by
  the same ``submit_job``. Nothing waits for the jobs to finish here.
- ``ray_dispatch.end_to_end``: one trivial job at a time, submit to finished: Ray directly (submit,
  poll status, read logs) against Suanshu (``jobs.submit`` + ``jobs.run``: materialise the governed
  view, upload, run, collect, check outputs, meter, settle, audit). The difference is Suanshu's
  per-job overhead. Wall times on a shared 2-core machine: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from compute.conftest import build_job_world, pool_spec  # noqa: E402  (the tests' small exchange)

from suanshu.compute.executors import Workspace  # noqa: E402
from suanshu.compute.executors.ray import POLL_S, TERMINAL, local_cluster  # noqa: E402
from suanshu.core.settings import load_settings  # noqa: E402
from suanshu.market import jobs, pools  # noqa: E402
from suanshu.market.exchange import Exchange  # noqa: E402

PROGRAM = "import os\nprint('working dir:', os.getcwd())\n"
REQUEST = {"cpu": 1, "memory_gb": 1, "hours": 0.1}


def emit(**row) -> None:
    print(json.dumps(row, ensure_ascii=False), flush=True)


def direct_submit(client, ws: Workspace, tag: str) -> str:
    return client.submit_job(entrypoint="python -I program.py", submission_id=tag,
                             runtime_env={"working_dir": str(ws.code), "env_vars": {"SUANSHU_DATA": "data"}},
                             entrypoint_num_cpus=1)


def wait(client, submission: str) -> str:
    while (state := str(client.get_job_status(submission).value)) not in TERMINAL:
        time.sleep(POLL_S)
    logs = client.get_job_logs(submission)
    if state != "SUCCEEDED":
        raise RuntimeError(f"{submission}: {state}: {client.get_job_info(submission).message}\n{logs[-2000:]}")
    return state


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=10)
    n = ap.parse_args().jobs
    from ray.job_submission import JobSubmissionClient

    with tempfile.TemporaryDirectory() as tmp, \
            local_cluster(num_cpus=2, resources={"NPU": 1}, log_path=f"{tmp}/ray.log") as address:
        tmp = Path(tmp)
        ex = Exchange.open(load_settings(tmp / "home", f"sqlite:///{tmp / 'home' / 'suanshu.db'}"))
        world = build_job_world(ex, tmp, budget_fen=900_000)
        pools.register(ex, world.actor("hpc"), pool_spec("ray-pool", address))
        bank, client = world.actor("bank"), JobSubmissionClient(address)
        ws = Workspace(PROGRAM, {})
        run_tag = int(time.time())

        # dispatch: submissions per second, no waiting; one warm-up (the first upload of the package),
        # then the two paths interleaved so load changes hit both alike
        ids = [direct_submit(client, ws, f"warm-{run_tag}")]
        direct_s = suanshu_s = 0.0
        for i in range(n):
            t = time.perf_counter()
            ids.append(direct_submit(client, ws, f"direct-{run_tag}-{i}"))
            direct_s += time.perf_counter() - t
            t = time.perf_counter()
            job = jobs.submit(ex, bank, world.contract_id, PROGRAM, REQUEST)
            ids.append(direct_submit(client, ws, f"suanshu-{run_tag}-{i}"))
            suanshu_s += time.perf_counter() - t
            jobs.cancel(ex, bank, job.id)  # release the hold (not timed): this measures dispatch only
        emit(bench="ray_dispatch.submit", jobs=n, ray_direct_jobs_per_s=round(n / direct_s, 1),
             suanshu_jobs_per_s=round(n / suanshu_s, 1),
             suanshu_overhead_ms_per_job=round(1000 * (suanshu_s - direct_s) / n, 1),
             load_average=round(os.getloadavg()[0], 2))
        for sid in ids:
            wait(client, sid)

        # end to end, one job at a time
        direct, through = [], []
        for i in range(n):
            t = time.perf_counter()
            wait(client, direct_submit(client, ws, f"e2e-{run_tag}-{i}"))
            direct.append(time.perf_counter() - t)
            t = time.perf_counter()
            job = jobs.run(ex, jobs.submit(ex, bank, world.contract_id, PROGRAM, REQUEST).id)
            through.append(time.perf_counter() - t)
            assert job.state == "succeeded", (job.error_code, job.error_message)
        emit(bench="ray_dispatch.end_to_end", jobs=n, ray_direct_median_s=round(statistics.median(direct), 3),
             suanshu_median_s=round(statistics.median(through), 3),
             suanshu_overhead_median_s=round(statistics.median(b - a for a, b in zip(direct, through)), 3),
             ray_direct_jobs_per_s=round(n / sum(direct), 2), suanshu_jobs_per_s=round(n / sum(through), 2),
             load_average=round(os.getloadavg()[0], 2))
        ws.cleanup()
        ex.close()


if __name__ == "__main__":
    main()
