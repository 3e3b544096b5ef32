"""Operator: the exchange's dashboard (GMV, contracts, queries, compute, compliance findings)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from suanshu.core.orgs import Role
from suanshu.market import workspace
from suanshu.web.auth import User, need
from suanshu.web.i18n import _
from suanshu.web.render import page

router = APIRouter(include_in_schema=False)


@router.get("/dashboard")
def dashboard(request: Request, who: User):
    need(who, Role.OPERATOR)
    ex = request.app.state.exchange
    act = workspace.activity(ex)
    pools = workspace.pool_usage(ex, who.actor)
    days, series = act["days"], act["series"]
    charts = {
        "gmv": {"type": "bar", "x": days, "series": [{"name": _("GMV (yuan)"), "data": [v / 100 for v in series["gmv_fen"]]}]},
        "trade": {"type": "bar", "x": days, "series": [
            {"name": _("contracts"), "data": series["contracts"]}, {"name": _("answered queries"), "data": series["queries"]},
            {"name": _("refused queries"), "data": series["denied"]}]},
        "findings": {"type": "bar", "x": days, "series": [{"name": _("findings in new tables"), "data": series["findings"]}]},
        "grades": {"type": "pie", "x": [g for g, _n in act["grades"]], "series": [{"name": _("tables"), "data": [n for _g, n in act["grades"]]}]},
        "compute": {"type": "bar", "x": [r["pool"].name for r in pools],
                    "series": [{"name": _("CPU in use (%)"), "data": [round(100 * r["utilisation"], 1) for r in pools]}]},
    }
    return page(request, "dashboard.html", act=act, pools=pools, charts=charts)
