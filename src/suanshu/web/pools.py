"""Compute provider: pools, their utilisation now and their earnings."""

from __future__ import annotations

from fastapi import APIRouter, Request

from suanshu.core.orgs import Role
from suanshu.market import workspace
from suanshu.web.auth import User, need
from suanshu.web.i18n import _
from suanshu.web.render import page

router = APIRouter(include_in_schema=False)


@router.get("/pools")
def pools(request: Request, who: User):
    need(who, Role.COMPUTE, Role.OPERATOR)
    rows = workspace.pool_usage(request.app.state.exchange, who.actor)
    names = [r["pool"].name for r in rows]
    charts = {
        "util": {"type": "bar", "x": names, "series": [{"name": _("CPU in use (%)"),
                                                         "data": [round(100 * r["utilisation"], 1) for r in rows]}]},
        "earned": {"type": "bar", "x": names, "series": [{"name": _("earned (yuan)"),
                                                           "data": [r["earned_fen"] / 100 for r in rows]}]},
    }
    return page(request, "pools.html", rows=rows, charts=charts)
