"""One compute-to-data job over a large governed view: wall time and the exchange's peak memory.

    uv run python bench/job_large_view.py [--rows 2000000]

Builds an exchange in a temp dir (SQLite, the local executor), ingests a generated table of
``--rows`` rows (city, fee, a hidden mobile column), publishes a job component, and runs one job
whose program reads the view and writes the mean fee. The job runs in a child process of its own,
so its peak RSS is the job's (input stream, program launch, output checks), not the ingest's.
There is no peer: compare two versions of the code by running this with each one's ``src`` on
``PYTHONPATH``. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

REGION = "湖南-长沙"
PROGRAM = """
import os, pyarrow.compute as pc, pyarrow.parquet as pq
data = os.environ["SUANSHU_DATA"]
t = pq.read_table(os.path.join(data, os.listdir(data)[0]), columns=["fee"])
open(os.path.join(os.environ["SUANSHU_OUTPUT"], "mean_fee.txt"), "w").write(str(pc.mean(t["fee"])))
"""


def _exchange(home: Path):
    from suanshu.core.settings import load_settings
    from suanshu.market.exchange import Exchange

    return Exchange.open(load_settings(home, f"sqlite:///{home}/state.db"))


def prepare(home: Path, rows: int) -> str:
    """The exchange, its table and a submitted job; returns the job's id."""
    from suanshu.market import assets, components, contracts, jobs, orgs, pools, settlement

    rng = random.Random(7)
    source = home.parent / "subscribers.parquet"
    pq.write_table(pa.table({"city": [("长沙", "湘潭", "株洲", "岳阳", "衡阳")[i % 5] for i in range(rows)],
                             "fee": [rng.randint(50, 400) for _ in range(rows)],
                             "mobile": [f"138{rng.randint(0, 99_999_999):08d}" for _ in range(rows)]}), source)
    ex = _exchange(home)
    orgs.ensure_operator(ex)
    for org, roles, region in (("telco", ["provider"], REGION), ("bank", ["buyer"], "北京"),
                               ("hpc", ["compute"], REGION)):
        orgs.create_org(ex, None, org, roles, region=region)
    settlement.deposit(ex, orgs.local_actor(ex, orgs.OPERATOR_ORG), "bank", 10_000_000)
    provider = orgs.local_actor(ex, "telco")
    assets.add_asset(ex, provider, source, name="subscribers")
    policy = {"mode": "job", "columns": {"city": "dimension", "fee": "aggregate", "mobile": "hidden"},
              "job": {"max_cpu": 2, "max_memory_gb": 4, "max_hours": 1, "max_output_bytes": 65536,
                      "max_row_overlap": 0.05}}
    components.publish(ex, provider, components.ComponentSpec(
        name="fees", asset="subscribers", sql=None, policy=policy, price_fen=500, desensitize={}))
    contract = contracts.request(ex, orgs.local_actor(ex, "bank"), "fees", 1_000_000, purpose="bench")
    pools.register(ex, orgs.local_actor(ex, "hpc"), {
        "name": "cpu", "kind": "general", "arch": "x86_64", "region": REGION, "cpu": 8, "memory_gb": 32,
        "price": {"cpu_hour": 36_000, "memory_gb_hour": 3_600, "accelerator_hour": {}},
        "transfer_fen_per_gb": {REGION: 0}, "executor": "local"})
    job = jobs.submit(ex, orgs.local_actor(ex, "bank"), contract.id, PROGRAM,
                      {"cpu": 1, "memory_gb": 4, "hours": 0.1, "accelerators": {}})
    ex.close()
    return job.id


def run(home: Path, job_id: str) -> dict:
    from suanshu.market import jobs

    ex = _exchange(home)
    started = time.perf_counter()
    job = jobs.run(ex, job_id)
    wall = time.perf_counter() - started
    ex.close()
    return {"state": job.state, "error": job.error_code, "wall_s": round(wall, 2), "peak_rss_mb": _peak_rss_mb()}


def _peak_rss_mb() -> int:
    """This process's own high-water mark. Not ``ru_maxrss``: Linux carries that across exec, so a
    child would report its parent's peak (here, generating the table)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--run", nargs=2, metavar=("HOME", "JOB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        print(json.dumps(run(Path(args.run[0]), args.run[1])))
        return
    with tempfile.TemporaryDirectory(prefix="suanshu-bench-job-") as tmp:
        home = Path(tmp) / "home"
        job_id = prepare(home, args.rows)
        child = subprocess.run([sys.executable, __file__, "--run", str(home), job_id],
                               capture_output=True, text=True, check=True)
        result = json.loads(child.stdout.strip().splitlines()[-1])
    print(json.dumps({"bench": "job_large_view", "rows": args.rows, **result}, ensure_ascii=False))


if __name__ == "__main__":
    main()
