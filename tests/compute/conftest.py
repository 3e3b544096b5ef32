"""A small exchange for compute-to-data jobs, and one real local Ray cluster per test session."""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from suanshu.market import assets, components, contracts, orgs, pools, settlement
from suanshu.market.exchange import Exchange

REGION = "湖南-长沙"
CITIES = {"Changsha": 60, "Xiangtan": 45, "Zhuzhou": 40}
JOB_POLICY = {"mode": "job", "columns": {"city": "dimension", "fee": "aggregate", "mobile": "hidden"},
              "job": {"max_cpu": 2, "max_memory_gb": 2, "max_hours": 1, "accelerators": {"ascend-910b": 1},
                      "max_output_bytes": 65536, "max_row_overlap": 0.05}}
PRICE_FEN = 500  # the data's price per released job


def pool_spec(name: str, executor: str = "local", *, region: str = REGION, cpu_hour: int = 360,
              npu: int = 0) -> dict:
    spec = {"name": name, "kind": "ai" if npu else "general", "arch": "x86_64", "region": region, "cpu": 8,
            "memory_gb": 32, "price": {"cpu_hour": cpu_hour, "memory_gb_hour": 36, "accelerator_hour": {}},
            "transfer_fen_per_gb": {REGION: 0}, "executor": executor}
    if npu:
        spec["accelerators"] = {"ascend-910b": npu}
        spec["price"]["accelerator_hour"] = {"ascend-910b": 3600}
    return spec


@dataclass
class JobWorld:
    ex: Exchange
    contract_id: str
    source_csv: Path

    def actor(self, org: str):
        return orgs.local_actor(self.ex, org)


def build_job_world(ex: Exchange, tmp: Path, *, policy: dict | None = None, budget_fen: int = 50_000) -> JobWorld:
    orgs.ensure_operator(ex)
    orgs.create_org(ex, None, "telco", ["provider"], region=REGION)
    orgs.create_org(ex, None, "bank", ["buyer"], region="北京")
    orgs.create_org(ex, None, "hpc", ["compute"], region=REGION)
    settlement.deposit(ex, orgs.local_actor(ex, orgs.OPERATOR_ORG), "bank", 1_000_000)
    rng = random.Random(7)
    lines = ["city,fee,mobile"]
    for city, n in CITIES.items():
        lines += [f"{city},{rng.randint(50, 400)},138{rng.randint(0, 99_999_999):08d}" for _ in range(n)]
    source = tmp / "subscribers.csv"
    source.write_text("\n".join(lines) + "\n")
    provider = orgs.local_actor(ex, "telco")
    assets.add_asset(ex, provider, source, name="subscribers")
    components.publish(ex, provider, components.ComponentSpec(
        name="fees", asset="subscribers", sql=None, policy=policy or JOB_POLICY, price_fen=PRICE_FEN,
        desensitize={}))
    contract = contracts.request(ex, orgs.local_actor(ex, "bank"), "fees", budget_fen, purpose="risk")
    return JobWorld(ex, contract.id, source)


@pytest.fixture
def job_world(settings, tmp_path):
    ex = Exchange.open(settings)
    world = build_job_world(ex, tmp_path)
    pools.register(ex, world.actor("hpc"), pool_spec("cpu-local"))
    yield world
    ex.close()


# -- a real local Ray cluster -----------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):
    """``ray start --head --block`` on loopback with 1 CPU and 1 NPU; yields the dashboard address.

    Started once per session (it takes tens of seconds); stopped by signalling the process we started
    and its process group (never ``ray stop``, which would stop any other cluster on the machine)."""
    ray_bin = shutil.which("ray", path=str(Path(sys.executable).parent))
    if ray_bin is None:
        pytest.fail("ray is not installed: `uv sync --inexact --all-groups` installs ray[default] (dev group)")
    gcs, dashboard = free_port(), free_port()
    log = (tmp_path_factory.mktemp("ray") / "ray.log").open("w")
    env = dict(os.environ, RAY_agent_register_timeout_ms="300000", RAY_USAGE_STATS_ENABLED="0")
    proc = subprocess.Popen(
        [ray_bin, "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={gcs}",
         "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}", "--num-cpus=1",
         '--resources={"NPU": 1}', "--disable-usage-stats"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    address = f"http://127.0.0.1:{dashboard}"
    try:
        _wait_for_job_server(address, proc)
        yield address
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=30)
                break
            except subprocess.TimeoutExpired:
                continue
        log.close()


def _wait_for_job_server(address: str, proc: subprocess.Popen, timeout_s: float = 300.0) -> None:
    from ray.job_submission import JobSubmissionClient

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"ray start exited with {proc.returncode}")
        try:
            JobSubmissionClient(address).list_jobs()
            return
        except Exception:  # noqa: BLE001  (not up yet)
            time.sleep(1)
    pytest.fail(f"the Ray job server at {address} did not come up in {timeout_s:.0f} s")
