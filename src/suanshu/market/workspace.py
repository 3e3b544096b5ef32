"""Read-only views the console needs that no other service offers yet: an org's own components
in every state, its contracts with names, the query history of a contract, a provider's revenue,
the exchange's activity over time and a filtered audit log. Nothing here writes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select

from suanshu.audit.models import AuditEvent
from suanshu.core.clock import SHANGHAI
from suanshu.core.errors import UsageError
from suanshu.core.orgs import Organization, Role
from suanshu.market import contracts as contract_service
from suanshu.market.actors import Actor
from suanshu.market.exchange import Exchange
from suanshu.market.models import Component, Contract, QueryRun
from suanshu.vault.models import Asset, ScanReport

AUDIT_PAGE = 50


def _sees_all(actor: Actor) -> bool:
    return actor.has(Role.OPERATOR) or actor.has(Role.AUDITOR)


def my_components(ex: Exchange, actor: Actor) -> list[Component]:
    """The actor's org's components, every version and state, newest first."""
    with ex.db.transaction() as s:
        return list(s.scalars(select(Component).where(Component.org_id == actor.org_id)
                              .order_by(Component.created_at.desc())))


@dataclass(frozen=True)
class ContractRow:
    contract: Contract
    component: Component
    buyer: str
    provider: str
    queries: int
    denied: int


def contract_rows(ex: Exchange, actor: Actor) -> list[ContractRow]:
    """Contracts the actor is party to (all of them for the operator), with display names."""
    with ex.db.transaction() as s:
        q = select(Contract).order_by(Contract.created_at.desc())
        if not _sees_all(actor):
            q = q.where(or_(Contract.buyer_org_id == actor.org_id, Contract.provider_org_id == actor.org_id))
        names = {o.id: o.display_name for o in s.scalars(select(Organization))}
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for cid, status in s.execute(select(QueryRun.contract_id, QueryRun.status)):
            counts[(cid, status)] += 1
        return [ContractRow(c, s.get(Component, c.component_id), names[c.buyer_org_id], names[c.provider_org_id],
                            counts[(c.id, "succeeded")], counts[(c.id, "denied")]) for c in s.scalars(q)]


def contract_detail(ex: Exchange, actor: Actor, contract_id: str) -> tuple[Contract, Component, list[QueryRun]]:
    with ex.db.transaction() as s:
        contract = contract_service.get_contract(s, actor, contract_id)
        runs = list(s.scalars(select(QueryRun).where(QueryRun.contract_id == contract.id)
                              .order_by(QueryRun.created_at.desc())))
        return contract, s.get(Component, contract.component_id), runs


def _day(dt: datetime) -> str:
    return dt.astimezone(SHANGHAI).strftime("%Y-%m-%d")


def revenue(ex: Exchange, actor: Actor) -> dict:
    """A provider's earnings from answered queries: per component and per day (Asia/Shanghai)."""
    by_component: dict[str, int] = defaultdict(int)
    by_day: dict[str, int] = defaultdict(int)
    with ex.db.transaction() as s:
        rows = s.execute(select(QueryRun, Contract).join(Contract, Contract.id == QueryRun.contract_id)
                         .where(Contract.provider_org_id == actor.org_id, QueryRun.status == "succeeded"))
        for run, contract in rows:
            earned = int(run.receipt.get("provider_fen", 0))
            by_component[contract.component_id] += earned
            by_day[_day(run.created_at)] += earned
        titles = {c.id: c.title for c in s.scalars(select(Component).where(Component.org_id == actor.org_id))}
    return {"total_fen": sum(by_component.values()),
            "components": sorted(((titles.get(k, k), v) for k, v in by_component.items()), key=lambda x: -x[1]),
            "days": sorted(by_day.items())}


def activity(ex: Exchange) -> dict:
    """The exchange per day (Asia/Shanghai): GMV, contracts signed, queries answered and refused,
    and compliance findings in newly scanned assets."""
    days: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    with ex.db.transaction() as s:
        for run in s.scalars(select(QueryRun)):
            d = days[_day(run.created_at)]
            d["queries" if run.status == "succeeded" else "denied"] += 1
            d["gmv_fen"] += run.price_fen
        for contract in s.scalars(select(Contract)):
            days[_day(contract.created_at)]["contracts"] += 1
        for scan in s.scalars(select(ScanReport)):
            days[_day(scan.created_at)]["findings"] += scan.findings_total
        grades: dict[str, int] = defaultdict(int)
        for grade in s.scalars(select(ScanReport.grade)):
            grades[grade] += 1
        listed = len(list(s.scalars(select(Component.id).where(Component.state == "listed"))))
        assets = len(list(s.scalars(select(Asset.id))))
    order = sorted(days)
    series = {key: [days[d][key] for d in order] for key in ("gmv_fen", "contracts", "queries", "denied", "findings")}
    return {"days": order, "series": series, "totals": {k: sum(v) for k, v in series.items()},
            "grades": sorted(grades.items()), "listed": listed, "assets": assets}


def audit_events(ex: Exchange, actor: Actor, *, action: str = "", who: str = "", subject: str = "",
                 before: int | None = None, limit: int = AUDIT_PAGE) -> list[AuditEvent]:
    """The audit log, newest first, filtered by action prefix, actor and subject; auditors and operators."""
    actor.require(Role.AUDITOR, Role.OPERATOR)
    if not 1 <= limit <= 500:
        raise UsageError("audit.bad_limit", "limit must be 1 to 500")
    with ex.db.transaction() as s:
        q = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit)
        if action:
            q = q.where(AuditEvent.action.startswith(action.strip(), autoescape=True))
        if who:
            q = q.where(AuditEvent.actor.contains(who.strip(), autoescape=True))
        if subject:
            q = q.where(AuditEvent.subject == subject.strip())
        if before is not None:
            q = q.where(AuditEvent.seq < before)
        return list(s.scalars(q))


def audit_actions(ex: Exchange) -> list[str]:
    with ex.db.transaction() as s:
        return sorted(set(s.scalars(select(AuditEvent.action).distinct())))


def pool_usage(ex: Exchange, actor: Actor | None) -> list[dict]:
    """Pools (the actor's own, or all for the operator) with what jobs hold on them now and have earned."""
    from suanshu.compute.models import Job, Pool

    with ex.db.transaction() as s:
        q = select(Pool).order_by(Pool.region, Pool.name)
        if actor is not None and not _sees_all(actor):
            q = q.where(Pool.org_id == actor.org_id)
        pools = list(s.scalars(q))
        jobs = list(s.scalars(select(Job).where(Job.pool_id.in_([p.id for p in pools])))) if pools else []
    out = []
    for p in pools:
        mine = [j for j in jobs if j.pool_id == p.id]
        busy_cpu = sum(int(j.request.get("cpu", 0)) for j in mine if j.state in ("placed", "running"))
        earned = sum(int(j.receipt.get("compute_provider_fen", 0)) for j in mine)
        out.append({"pool": p, "jobs": len(mine), "running": sum(j.state == "running" for j in mine),
                    "busy_cpu": busy_cpu, "utilisation": busy_cpu / p.cpu if p.cpu else 0.0, "earned_fen": earned})
    return out
