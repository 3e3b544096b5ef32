"""Catalog search, DCAT export and import (issue 8). Thin: every route calls a market service."""

from __future__ import annotations

from fastapi import APIRouter, Query

from suanshu.api.deps import ActorDep, ExchangeDep
from suanshu.market import search

router = APIRouter(tags=["catalog"])


@router.get("/catalog/search")
def catalog_search(ex: ExchangeDep, actor: ActorDep, q: str = "", region: str | None = None,
                   grade: str | None = Query(None, description="highest grade wanted, e.g. general-2"),
                   mode: str | None = Query(None, description="aggregate | dp | extract | job"),
                   price_min: int | None = Query(None, description="fen"),
                   price_max: int | None = Query(None, description="fen"),
                   limit: int = 20, offset: int = 0, external: bool = True) -> dict:
    """Ranked search over listed components and imported listings (Chinese segmentation, synonyms)."""
    return search.search(ex, q, region=region, grade=grade, mode=mode, price_min=price_min, price_max=price_max,
                         limit=limit, offset=offset, include_external=external).as_dict()
