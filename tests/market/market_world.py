"""A small real exchange for the market tests: providers with listed components, pools, a buyer.

Everything goes through the services (ingest, scan, compliance gate, publish), on the backend
under test; data come from the demo's seeded generators.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from suanshu.core.orgs import OPERATOR_ORG
from suanshu.demo import datasets
from suanshu.demo.story import COMPONENTS, POOLS
from suanshu.market import assets, components, orgs, pools, settlement
from suanshu.market.components import ComponentSpec
from suanshu.market.exchange import Exchange

WEATHER = COMPONENTS["hunan-meteo"]
CROPS = COMPONENTS["hunan-agri-data"]
LAND = COMPONENTS["hunan-geo-institute"]


@dataclass
class World:
    ex: Exchange
    tokens: dict[str, str]
    components: dict[str, str]  # component name -> id
    pools: dict[str, str]  # pool name -> id

    def actor(self, org: str):
        return orgs.local_actor(self.ex, org)


def build_world(ex: Exchange, tmp: Path, *, deposit_fen: int = 2_000_000) -> World:
    tokens: dict[str, str] = {}
    for name, roles, region, display in [
        ("meteo", ["provider"], "湖南-长沙", "湖南省气象数据中心"),
        ("agri", ["provider"], "湖南-株洲", "湖南农业大数据平台"),
        ("geo", ["provider"], "北京", "地理信息研究院"),
        ("insurer", ["buyer"], "湖南-长沙", "某农业保险公司"),
        ("changsha-hpc", ["compute"], "湖南-长沙", "长沙超算中心"),
        ("xiangjiang-ai", ["compute"], "湖南-湘潭", "湘江智算中心"),
    ]:
        _, tokens[name] = orgs.create_org(ex, None, name, roles, region=region, display_name=display)
    tmp.mkdir(parents=True, exist_ok=True)
    files = {"weather_hourly": datasets.write_csv(datasets.meteorology_hourly(rows=1500), tmp / "weather.csv"),
             "crop_yield": tmp / "crops.parquet", "land_parcels": tmp / "land.parquet"}
    pq.write_table(datasets.crop_yield(rows=300), files["crop_yield"])
    pq.write_table(datasets.land_parcels(rows=300), files["land_parcels"])
    comp_ids = {}
    for org, spec in [("meteo", WEATHER), ("agri", CROPS), ("geo", LAND)]:
        actor = orgs.local_actor(ex, org)
        assets.add_asset(ex, actor, files[spec["asset"]], name=spec["asset"])
        comp = components.publish(ex, actor, ComponentSpec(**{k: v for k, v in spec.items()}))
        comp_ids[spec["name"]] = comp.id
    pool_ids = {}
    for org, specs in POOLS.items():
        for spec in specs:
            pool_ids[spec["name"]] = pools.register(ex, orgs.local_actor(ex, org), spec).id
    settlement.deposit(ex, orgs.local_actor(ex, OPERATOR_ORG), "insurer", deposit_fen, "test funds")
    return World(ex, tokens, comp_ids, pool_ids)


@pytest.fixture
def fresh_ex(settings):
    """A migrated exchange with its operator, on the backend under test."""
    ex = Exchange.open(settings)
    orgs.ensure_operator(ex)
    yield ex
    ex.close()


@pytest.fixture
def world(fresh_ex, tmp_path):
    return build_world(fresh_ex, tmp_path / "src")
