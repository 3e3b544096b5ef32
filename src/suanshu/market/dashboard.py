"""The exchange's activity per day, aggregated in the database (the operator's dashboard).

Every series is one ``GROUP BY`` day statement, so the cost is a scan of the rows in the window
and what crosses into Python is one row per day, not one per contract or query. Days are
Asia/Shanghai calendar days; money is integer fen summed by the database.

Shanghai has kept UTC+8 without daylight saving since 1991, so on SQLite (which has no zone
database) a fixed ``+8 hours`` gives the same day as PostgreSQL's ``AT TIME ZONE 'Asia/Shanghai'``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from suanshu.core.clock import SHANGHAI, utcnow
from suanshu.core.errors import UsageError
from suanshu.core.orgs import Role
from suanshu.market.actors import Actor
from suanshu.market.exchange import Exchange
from suanshu.market.models import Component, Contract, QueryRun
from suanshu.vault.models import Asset, ScanReport

SERIES = ("gmv_fen", "query_fen", "job_fen", "invoice_fen", "contracts", "queries", "denied", "jobs", "cpu_seconds",
          "findings", "assets")
MAX_DAYS = 3660


@dataclass(frozen=True)
class Activity:
    days: list[str]  # "YYYY-MM-DD", Beijing calendar days with any activity, ascending
    series: dict[str, list[int]]  # name -> one value per day (SERIES)
    totals: dict[str, int]  # over the window
    grades: list[tuple[str, int]]  # scanned tables per grade (all time)
    listed: int
    assets: int
    cpu_capacity: int  # CPUs of every pool now: the denominator of utilisation
    utilisation: list[float] = field(default_factory=list)  # per day: CPU-seconds used / (capacity x 86,400)


def local_day(column, dialect: str):
    """The Asia/Shanghai calendar day of a UTC timestamp column, as 'YYYY-MM-DD', in SQL."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("Asia/Shanghai", column), "YYYY-MM-DD")
    return func.date(column, "+8 hours")  # SQLite: stored as UTC text without a zone


def _per_day(s: Session, column, measures: dict, where=()) -> dict[str, dict[str, int]]:
    day = local_day(column, s.bind.dialect.name).label("day")
    rows = s.execute(select(day, *(m.label(name) for name, m in measures.items())).where(*where).group_by(day))
    return {r.day: {name: int(getattr(r, name) or 0) for name in measures} for r in rows}


def activity(ex: Exchange, actor: Actor, *, days: int = 90, today: date | None = None) -> Activity:
    """The last ``days`` Beijing days of trade (GMV, contracts, queries, jobs), compute use and compliance
    findings; operator and auditor only."""
    actor.require(Role.OPERATOR, Role.AUDITOR)
    if not 1 <= days <= MAX_DAYS:
        raise UsageError("dashboard.bad_window", f"days must be 1 to {MAX_DAYS}")
    from suanshu.billing.models import Invoice
    from suanshu.compute.models import Job, Pool

    today = today or utcnow().astimezone(SHANGHAI).date()
    start = datetime.combine(today - timedelta(days=days - 1), datetime.min.time(), SHANGHAI)
    merged: dict[str, dict[str, int]] = {}

    def fold(part: dict[str, dict[str, int]]) -> None:
        for d, values in part.items():
            merged.setdefault(d, {}).update(values)

    answered = QueryRun.status == "succeeded"
    with ex.db.transaction() as s:
        fold(_per_day(s, QueryRun.created_at, {
            "queries": func.sum(case((answered, 1), else_=0)),
            "denied": func.sum(case((QueryRun.status == "denied", 1), else_=0)),
            "query_fen": func.sum(case((answered, QueryRun.price_fen), else_=0))}, [QueryRun.created_at >= start]))
        fold(_per_day(s, Contract.created_at, {"contracts": func.count()}, [Contract.created_at >= start]))
        fold(_per_day(s, Job.created_at, {
            "jobs": func.count(), "job_fen": func.sum(Job.price_fen),
            "cpu_seconds": func.sum(Job.metering[("resource_seconds", "cpu")].as_integer())}, [Job.created_at >= start]))
        fold(_per_day(s, Invoice.created_at, {"invoice_fen": func.sum(Invoice.total_fen)}, [Invoice.created_at >= start]))
        fold(_per_day(s, ScanReport.created_at, {"findings": func.sum(ScanReport.findings_total), "assets": func.count()},
                      [ScanReport.created_at >= start]))
        grades = [(g, int(n)) for g, n in s.execute(select(ScanReport.grade, func.count()).group_by(ScanReport.grade)
                                                    .order_by(ScanReport.grade))]
        listed = s.scalar(select(func.count()).select_from(Component).where(Component.state == "listed"))
        assets = s.scalar(select(func.count()).select_from(Asset))
        capacity = int(s.scalar(select(func.coalesce(func.sum(Pool.cpu), 0))))
    order = sorted(merged)
    for d in order:
        v = merged[d]
        v["gmv_fen"] = v.get("query_fen", 0) + v.get("job_fen", 0) + v.get("invoice_fen", 0)
    series = {key: [merged[d].get(key, 0) for d in order] for key in SERIES}
    utilisation = [round(c / (capacity * 86_400), 4) if capacity else 0.0 for c in series["cpu_seconds"]]
    return Activity(days=order, series=series, totals={k: sum(v) for k, v in series.items()}, grades=grades,
                    listed=listed, assets=assets, cpu_capacity=capacity, utilisation=utilisation)


def pools_now(ex: Exchange, actor: Actor) -> list[dict]:
    """Every pool with the CPUs its placed and running jobs hold now and what its jobs earned, one
    ``GROUP BY pool`` over the jobs; operator and auditor only."""
    actor.require(Role.OPERATOR, Role.AUDITOR)
    from suanshu.compute.models import Job, Pool

    busy = case((Job.state.in_(("placed", "running")), Job.request["cpu"].as_integer()), else_=0)
    with ex.db.transaction() as s:
        per_pool = {r.pool_id: r for r in s.execute(
            select(Job.pool_id, func.count().label("jobs"), func.sum(busy).label("busy_cpu"),
                   func.sum(Job.receipt["compute_provider_fen"].as_integer()).label("earned_fen"))
            .where(Job.pool_id.is_not(None)).group_by(Job.pool_id))}
        pools = list(s.scalars(select(Pool).order_by(Pool.region, Pool.name)))
    out = []
    for p in pools:
        r = per_pool.get(p.id)
        busy_cpu = int(r.busy_cpu or 0) if r else 0
        out.append({"pool": p, "jobs": r.jobs if r else 0, "busy_cpu": busy_cpu,
                    "utilisation": busy_cpu / p.cpu if p.cpu else 0.0, "earned_fen": int(r.earned_fen or 0) if r else 0})
    return out
