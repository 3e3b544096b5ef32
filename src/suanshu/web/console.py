"""The console's landing page: what is on the exchange right now (zh-CN first)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select

from suanshu.audit import log
from suanshu.core.clock import local
from suanshu.core.money import format_fen
from suanshu.core.orgs import Organization
from suanshu.market.models import Component, Contract, QueryRun

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.filters["yuan"] = format_fen
templates.env.filters["local"] = local
router = APIRouter(include_in_schema=False)


def overview(ex) -> dict:
    with ex.db.transaction() as s:
        orgs = {o.id: o for o in s.scalars(select(Organization))}
        listed = list(s.scalars(select(Component).where(Component.state == "listed").order_by(Component.id)))
        stats = {
            "orgs": len(orgs),
            "components": len(listed),
            "contracts": s.scalar(select(func.count()).select_from(Contract)),
            "queries": s.scalar(select(func.count()).where(QueryRun.status == "succeeded")),
            "denied": s.scalar(select(func.count()).where(QueryRun.status == "denied")),
            "gmv_fen": s.scalar(select(func.coalesce(func.sum(QueryRun.price_fen), 0))),
        }
        audit = log.verify(s)
    return {"orgs": orgs, "listed": listed, "stats": stats, "audit": audit}


@router.get("/", response_class=HTMLResponse)
def home(request: Request):
    return templates.TemplateResponse(request, "home.html", overview(request.app.state.exchange))
