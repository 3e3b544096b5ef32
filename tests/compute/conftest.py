"""A small exchange for compute-to-data jobs, and one real local Ray cluster per test session."""

from __future__ import annotations

import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from suanshu.compute.executors.ray import local_cluster
from suanshu.market import assets, components, contracts, orgs, pools, settlement
from suanshu.market.exchange import Exchange

REGION = "湖南-长沙"
CITIES = {"Changsha": 60, "Xiangtan": 45, "Zhuzhou": 40}
JOB_POLICY = {"mode": "job", "columns": {"city": "dimension", "fee": "aggregate", "mobile": "hidden"},
              "job": {"max_cpu": 2, "max_memory_gb": 2, "max_hours": 1, "accelerators": {"ascend-910b": 1},
                      "max_output_bytes": 65536, "max_row_overlap": 0.05}}
PRICE_FEN = 500  # the data's price per released job


def pool_spec(name: str, executor: str = "local", *, region: str = REGION, cpu_hour: int = 36_000,
              npu: int = 0) -> dict:
    spec = {"name": name, "kind": "ai" if npu else "general", "arch": "x86_64", "region": region, "cpu": 8,
            "memory_gb": 32, "price": {"cpu_hour": cpu_hour, "memory_gb_hour": 3_600, "accelerator_hour": {}},
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

def _cluster(tmp_path_factory, name: str, **kwargs):
    pytest.importorskip("ray", reason="ray[default] is in the dev group: uv sync --inexact --all-groups")
    log = tmp_path_factory.mktemp(name) / "ray.log"
    try:
        with local_cluster(num_cpus=1, resources={"NPU": 1}, log_path=str(log), **kwargs) as address:
            yield address
    except RuntimeError as err:
        pytest.fail(f"{err}; log: {log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):
    """One real Ray head on loopback (1 CPU, 1 NPU) for the session: it takes tens of seconds to start."""
    yield from _cluster(tmp_path_factory, "ray")


# a cluster that does not see the exchange's files needs a mount namespace of its own (root, unshare)
PRIVATE_TMP = hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("unshare") is not None


@pytest.fixture(scope="session")
def hidden_workspaces(tmp_path_factory):
    """A directory the second cluster sees empty; tests that put the exchange's workspaces here
    (``tempfile.tempdir``) get a pool that shares no files with the exchange."""
    return tmp_path_factory.mktemp("hidden-workspaces")


@pytest.fixture(scope="session")
def second_ray_cluster(tmp_path_factory, ray_cluster, hidden_workspaces):
    """Another Ray head on the same host while the first runs (as when other sessions run Ray too),
    which, where the host allows it, cannot see ``hidden_workspaces``. Yields the pool's executor
    address, naming its Ray Client server."""
    from suanshu.compute.executors.ray import _free_port

    client = _free_port()
    hide = hidden_workspaces if PRIVATE_TMP else None
    for address in _cluster(tmp_path_factory, "ray2", client_port=client, hide=hide):
        yield f"{address}#client=127.0.0.1:{client}"
