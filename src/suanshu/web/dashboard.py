"""Operator: the exchange's dashboard (GMV, contracts, queries, compute, compliance findings over time).

The numbers come from ``market.dashboard``, which aggregates per Beijing day in SQL; this view
only shapes them into charts and a table."""

from __future__ import annotations

from fastapi import APIRouter, Request

from suanshu.core.orgs import Role
from suanshu.market import dashboard as service
from suanshu.web.auth import User, need
from suanshu.web.i18n import _
from suanshu.web.render import page

router = APIRouter(include_in_schema=False)
WINDOWS = (7, 30, 90, 365)


def _yuan(fen: list[int]) -> list[float]:
    return [v / 100 for v in fen]


@router.get("/dashboard")
def dashboard(request: Request, who: User, days: str = "90"):
    need(who, Role.OPERATOR)
    ex = request.app.state.exchange
    days = int(days) if days in {str(w) for w in WINDOWS} else 90  # anything else: the default window
    act = service.activity(ex, who.actor, days=days)
    pools = service.pools_now(ex, who.actor)
    x, v = act.days, act.series
    charts = {
        "gmv": {"type": "bar", "x": x, "stack": "gmv", "series": [
            {"name": _("queries (yuan)"), "data": _yuan(v["query_fen"])},
            {"name": _("jobs (yuan)"), "data": _yuan(v["job_fen"])},
            {"name": _("invoices (yuan)"), "data": _yuan(v["invoice_fen"])}]},
        "trade": {"type": "bar", "x": x, "series": [
            {"name": _("contracts"), "data": v["contracts"]}, {"name": _("answered queries"), "data": v["queries"]},
            {"name": _("refused queries"), "data": v["denied"]}, {"name": _("jobs"), "data": v["jobs"]}]},
        "utilisation": {"type": "line", "x": x, "series": [
            {"name": _("CPU utilisation (%)"), "data": [round(100 * u, 2) for u in act.utilisation]}]},
        "findings": {"type": "bar", "x": x, "series": [{"name": _("findings in new tables"), "data": v["findings"]}]},
        "grades": {"type": "pie", "x": [g for g, _n in act.grades],
                   "series": [{"name": _("tables"), "data": [n for _g, n in act.grades]}]},
        "compute": {"type": "bar", "x": [r["pool"].name for r in pools],
                    "series": [{"name": _("CPU in use (%)"), "data": [round(100 * r["utilisation"], 1) for r in pools]}]},
    }
    return page(request, "dashboard.html", act=act, pools=pools, charts=charts, days=days, windows=WINDOWS)
