"""Read-only views the console needs that no other service offers yet: an org's own components
in every state, its contracts with names, the query history of a contract, a provider's revenue
and a filtered audit log (the exchange's activity over time: ``market.dashboard``). Nothing here writes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import func, or_, select

from suanshu.audit.models import AuditEvent
from suanshu.core.errors import UsageError
from suanshu.core.orgs import Organization, Principal, Role
from suanshu.market import contracts as contract_service
from suanshu.market.actors import Actor
from suanshu.market.exchange import Exchange
from suanshu.market.models import Component, Contract, QueryRun
from suanshu.market.paging import window
from suanshu.market.users import User

AUDIT_PAGE = 50


def _sees_all(actor: Actor) -> bool:
    return actor.has(Role.OPERATOR) or actor.has(Role.AUDITOR)


def may_see_entry(s, actor: Actor, ev: AuditEvent) -> bool:
    """Whether the actor may read (and prove) an audit entry: the operator and auditors any; an org
    the entries any of its principals made (every API token, every console user, the local data
    dir: a receipt stays provable after its token is rotated) and those about a contract it bought
    (its jobs' receipts are made by the exchange's own runner)."""
    if _sees_all(actor) or ev.actor in (actor.label, f"local:{actor.org_name}"):
        return True
    if s.scalar(select(Principal.id).where(Principal.id == ev.actor, Principal.org_id == actor.org_id)) or \
            s.scalar(select(User.id).where(User.id == ev.actor, User.org_id == actor.org_id)):
        return True
    contract_id = ev.payload.get("contract") if isinstance(ev.payload, dict) else None
    contract = s.get(Contract, contract_id) if isinstance(contract_id, str) else None
    return contract is not None and contract.buyer_org_id == actor.org_id


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


def contract_rows(ex: Exchange, actor: Actor, *, side: str | None = None, after: str | None = None,
                  limit: int | None = None) -> list[ContractRow]:
    """Contracts the actor is party to (all of them for the operator and auditor), newest first, with
    display names and query counts; ``side`` buyer/provider/other (neither party), ``after``/``limit`` a page."""
    q = select(Contract).order_by(Contract.id.desc())
    mine = or_(Contract.buyer_org_id == actor.org_id, Contract.provider_org_id == actor.org_id)
    if not _sees_all(actor):
        q = q.where(mine)
    if side == "buyer":
        q = q.where(Contract.buyer_org_id == actor.org_id)
    elif side == "provider":
        q = q.where(Contract.provider_org_id == actor.org_id)
    elif side == "other":
        q = q.where(~mine)
    with ex.db.transaction() as s:
        page = list(s.scalars(window(q, Contract.id, after, limit, newest_first=True)))
        ids = [c.id for c in page]
        counts: dict[tuple[str, str], int] = defaultdict(int)
        if ids:  # counted by the database, for this page's contracts only
            for cid, status, n in s.execute(select(QueryRun.contract_id, QueryRun.status, func.count())
                                            .where(QueryRun.contract_id.in_(ids))
                                            .group_by(QueryRun.contract_id, QueryRun.status)):
                counts[(cid, status)] = n
        org_ids = {o for c in page for o in (c.buyer_org_id, c.provider_org_id)}
        names = {o.id: o.display_name for o in s.scalars(select(Organization).where(Organization.id.in_(org_ids)))}
        comps = {c.id: c for c in s.scalars(select(Component).where(Component.id.in_({c.component_id for c in page})))}
        return [ContractRow(c, comps[c.component_id], names[c.buyer_org_id], names[c.provider_org_id],
                            counts[(c.id, "succeeded")], counts[(c.id, "denied")]) for c in page]


def contract_detail(ex: Exchange, actor: Actor, contract_id: str, *, runs_after: str | None = None,
                    runs_limit: int | None = None) -> tuple[Contract, Component, list[QueryRun]]:
    """A contract, its component and its query runs, newest first (``runs_after``/``runs_limit``: a page)."""
    with ex.db.transaction() as s:
        contract = contract_service.get_contract(s, actor, contract_id)
        q = select(QueryRun).where(QueryRun.contract_id == contract.id).order_by(QueryRun.id.desc())
        runs = list(s.scalars(window(q, QueryRun.id, runs_after, runs_limit, newest_first=True)))
        return contract, s.get(Component, contract.component_id), runs


def contract_titles(ex: Exchange, contract_ids: set[str]) -> dict[str, str]:
    """contract id -> its component's title, for labelling a page of jobs or charges."""
    if not contract_ids:
        return {}
    with ex.db.transaction() as s:
        return dict(s.execute(select(Contract.id, Component.title).join(Component, Component.id == Contract.component_id)
                              .where(Contract.id.in_(contract_ids))).all())


def revenue(ex: Exchange, actor: Actor) -> dict:
    """A provider's earnings from answered queries: per component and per day (Asia/Shanghai), summed
    in SQL (the provider's share is in each query's receipt)."""
    from suanshu.market.dashboard import local_day

    earned = func.sum(QueryRun.receipt["provider_fen"].as_integer())
    sold = (select().select_from(QueryRun).join(Contract, Contract.id == QueryRun.contract_id)
            .where(Contract.provider_org_id == actor.org_id, QueryRun.status == "succeeded"))
    with ex.db.transaction() as s:
        day = local_day(QueryRun.created_at, s.bind.dialect.name)
        by_component = dict(s.execute(sold.add_columns(Contract.component_id, earned).group_by(Contract.component_id)).all())
        by_day = sorted(s.execute(sold.add_columns(day, earned).group_by(day)).all())
        titles = {c.id: c.title for c in s.scalars(select(Component).where(Component.org_id == actor.org_id))}
    return {"total_fen": sum(int(v or 0) for v in by_component.values()),
            "components": sorted(((titles.get(k, k), int(v or 0)) for k, v in by_component.items()), key=lambda x: -x[1]),
            "days": [(d, int(v or 0)) for d, v in by_day]}


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
