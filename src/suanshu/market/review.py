"""Listing review (DESIGN §3): draft -> in_review -> listed -> delisted, with the operator deciding.

A provider submits a component: it is built and passes the automatic compliance gate first
(``components.publish``), then waits ``in_review`` (or stays a ``draft`` when asked). The operator
approves (-> ``listed``, buyers can sign for it) or rejects with a reason (-> ``rejected``; the
provider may fix it by publishing a new version, or resubmit the same one). A listed version is
immutable: changing anything publishes a new version, and contracts pin the version they signed.
Delisting (operator, or the provider for its own) stops new contracts; signed ones keep their
frozen terms. Every transition is an audit entry whose subject is the component id, which is
also where the reasons live (``decisions``).

Registration (登记): a submission must carry the provider's source-legality statement
(数据来源合法性声明); approving registers the listed version (``registration.register``) in the
same transaction as the listing, so no listed version exists without its registration record
and its ``component.register`` audit entry.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from suanshu.audit import log as audit
from suanshu.audit.models import AuditEvent
from suanshu.core import text
from suanshu.core.clock import iso, utcnow
from suanshu.core.errors import Conflict, NotFound, UsageError
from suanshu.core.orgs import Role
from suanshu.market import components, registration, search
from suanshu.market.actors import Actor
from suanshu.market.components import ComponentSpec
from suanshu.market.exchange import Exchange
from suanshu.market.models import Component
from suanshu.market.paging import window
from suanshu.vault.models import ScanReport

MAX_STATEMENT = 2000  # characters of a source-legality statement

# state -> the states an action may move it from
_FROM = {"approve": ("in_review",), "reject": ("in_review",), "delist": ("listed",),
         "resubmit": ("draft", "rejected")}
_TO = {"approve": "listed", "reject": "rejected", "delist": "delisted", "resubmit": "in_review"}
REVIEW_ACTIONS = tuple(f"component.{a}" for a in ("submit", "draft", "list", *_FROM))


def submit(ex: Exchange, actor: Actor, spec: ComponentSpec, *, draft: bool = False) -> Component:
    """Provider: build and gate a new version, then queue it for review (or keep it a draft).

    The source-legality statement is required even for a draft: a draft is queued later as it is.
    """
    actor.require(Role.PROVIDER)  # who asks comes before what is missing
    statement = spec.source_legality_statement.strip()
    if not statement:
        raise UsageError("component.no_legality_statement",
                         "state the data's source and its legality (数据来源合法性声明): how the data was obtained "
                         "and on what authorization; the registration certificate carries it")
    if len(statement) > MAX_STATEMENT:
        raise UsageError("component.bad_legality_statement",
                         f"the source-legality statement is {len(statement)} characters; at most {MAX_STATEMENT}")
    return components.publish(ex, actor, spec, state="draft" if draft else "in_review")


def queue(ex: Exchange, actor: Actor, *, after: str | None = None, limit: int | None = None) -> list[Component]:
    """Operator: components waiting for review, oldest first."""
    actor.require(Role.OPERATOR)
    q = select(Component).where(Component.state == "in_review").order_by(Component.id)
    with ex.db.transaction() as s:
        return list(s.scalars(window(q, Component.id, after, limit)))


def scan_summary(s: Session, comp: Component) -> dict | None:
    """What the operator weighs: the source table's grade and findings (masked samples only)."""
    scan = s.scalar(select(ScanReport).where(ScanReport.asset_id == comp.asset_id))
    if scan is None:
        return None
    report = scan.report
    return {"grade": report.get("grade"), "findings_total": report.get("findings_total", 0),
            "findings": report.get("findings", [])[:50],
            "columns": [{"name": c.get("name"), "pi": c.get("pi"), "types": [t.get("type") for t in c.get("types", [])]}
                        for c in report.get("columns", [])]}


def queue_entries(ex: Exchange, actor: Actor, *, after: str | None = None, limit: int | None = None) -> list[dict]:
    """Operator: the queue as JSON, each component with its gate verdict and its source's scan."""
    pending = queue(ex, actor, after=after, limit=limit)
    with ex.db.transaction() as s:
        return [components.component_json(c) | {"scan": scan_summary(s, c)} for c in pending]


def approve(ex: Exchange, actor: Actor, component_id: str, *, note: str = "") -> Component:
    """Operator: list a component waiting for review."""
    actor.require(Role.OPERATOR)
    return _move(ex, actor, component_id, "approve", note)


def reject(ex: Exchange, actor: Actor, component_id: str, *, reason: str) -> Component:
    """Operator: send a component back to its provider with a reason (required)."""
    actor.require(Role.OPERATOR)
    if not reason.strip():
        raise UsageError("review.reason_required", "say why it is rejected: the provider sees the reason")
    text.check_length("reason", reason.strip(), text.NOTE)
    return _move(ex, actor, component_id, "reject", reason.strip())


def resubmit(ex: Exchange, actor: Actor, component_id: str) -> Component:
    """Provider: queue its own draft or rejected version for review."""
    actor.require(Role.PROVIDER)
    return _move(ex, actor, component_id, "resubmit", "")


def delist(ex: Exchange, actor: Actor, component_id: str, *, reason: str = "") -> Component:
    """Operator, or the provider for its own: no new contracts; signed ones keep their terms."""
    actor.require(Role.OPERATOR, Role.PROVIDER)
    return _move(ex, actor, component_id, "delist", reason.strip())


def _move(ex: Exchange, actor: Actor, component_id: str, action: str, reason: str) -> Component:
    with ex.db.transaction() as s:
        comp = s.get(Component, component_id)
        # operators act on any component; a provider only on its own (others' answer 404)
        if comp is None or not (actor.has(Role.OPERATOR) or comp.org_id == actor.org_id):
            raise NotFound("component.not_found", f"no component {component_id!r} visible to {actor.org_name}")
        if comp.state not in _FROM[action]:
            raise Conflict(f"review.not_{_FROM[action][0]}",
                           f"component {comp.name} v{comp.version} is {comp.state}; "
                           f"{action} needs {' or '.join(_FROM[action])}")
        before, comp.state = comp.state, _TO[action]
        if action == "approve":
            comp.listed_at = utcnow()
        audit.append(s, actor=actor.label, action=f"component.{action}", subject=comp.id,
                     payload={"org": comp.org_id, "name": comp.name, "version": comp.version, "from": before,
                              "to": comp.state, "reason": reason})
        if action == "approve":
            # listed and registered together: a refusal (no statement) leaves it in review
            registration.register(s, comp, actor_label=actor.label)
    if action in ("approve", "delist"):
        search.invalidate(ex)  # the catalog shows the change at once, not at its next refresh
    return comp


def decisions(ex: Exchange, actor: Actor, component_id: str) -> list[dict]:
    """The component's review history (who moved it, when, why), for its provider and the operator."""
    with ex.db.transaction() as s:
        comp = s.get(Component, component_id)
        if comp is None or not (actor.has(Role.OPERATOR) or comp.org_id == actor.org_id):
            raise NotFound("component.not_found", f"no component {component_id!r} visible to {actor.org_name}")
        rows = s.scalars(select(AuditEvent).where(AuditEvent.subject == component_id,
                                                  AuditEvent.action.in_(REVIEW_ACTIONS)).order_by(AuditEvent.seq))
        return [{"action": e.action.removeprefix("component."), "actor": e.actor, "time": iso(e.time),
                 "reason": (e.payload or {}).get("reason", "")} for e in rows]
