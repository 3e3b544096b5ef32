from __future__ import annotations

from fastapi import APIRouter, Body

from suanshu.api.deps import ActorDep, ExchangeDep
from suanshu.api.pagination import Page, PageDep
from suanshu.market import pools

router = APIRouter(tags=["pools"])

EXAMPLE = {"name": "ascend-910b", "kind": "ai", "arch": "aarch64", "region": "湖南-湘潭", "cpu": 6144,
           "memory_gb": 49152, "accelerators": {"ascend-910b": 256},
           "price": {"cpu_hour": 5, "memory_gb_hour": 1, "accelerator_hour": {"ascend-910b": 1200}},
           "transfer_fen_per_gb": {"湖南-湘潭": 0, "湖南-长沙": 15}}


@router.post("/pools", status_code=201)
def register(ex: ExchangeDep, actor: ActorDep, spec: dict = Body(examples=[EXAMPLE])) -> dict:
    """Compute provider: register a pool (prices in fen)."""
    return pools.pool_json(pools.register(ex, actor, spec))


@router.get("/pools", response_model=Page[dict])
def list_pools(ex: ExchangeDep, actor: ActorDep, page: PageDep):
    """Every pool on the exchange, by region."""
    return page.of(pools.list_pools(ex, after=page.after, limit=page.fetch), pools.pool_json)
