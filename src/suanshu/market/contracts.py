"""Contracts (合约): a buyer signs for one listed component version.

Policy and price are copied into the contract at signing, so a later version of the
component never changes what was agreed. The budget is held in the ledger at once.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from suanshu.audit import log as audit
from suanshu.core import text
from suanshu.core.clock import iso, utcnow
from suanshu.core.errors import NotFound, Refused, UsageError
from suanshu.core.ids import new_id
from suanshu.core.money import format_fen
from suanshu.core.orgs import Organization, Role
from suanshu.market import components as component_service
from suanshu.market import settlement
from suanshu.market.actors import Actor
from suanshu.market.exchange import Exchange
from suanshu.market.models import Contract, QueryRun
from suanshu.market.paging import window
from suanshu.policy.model import Policy

MAX_DAYS = 3660


def request(ex: Exchange, actor: Actor, component_ref: str, budget_fen: int, *,
            purpose: str = "", days: int = 365) -> Contract:
    actor.require(Role.BUYER)
    if budget_fen <= 0:
        raise UsageError("contract.bad_budget", "the budget must be more than ¥0.00")
    if not 1 <= days <= MAX_DAYS:
        raise UsageError("contract.bad_term", f"the term must be 1 to {MAX_DAYS} days")
    text.check_length("purpose", purpose, text.NOTE)
    with ex.db.transaction() as s:
        comp = component_service.get_component(s, actor, component_ref)
        if comp.state != "listed":
            raise Refused("contract.component_not_listed", f"component {comp.name} is {comp.state}, not listed")
        if comp.org_id == actor.org_id:
            raise Refused("contract.own_component", "an org cannot buy its own component")
        if budget_fen < comp.price_fen:
            raise UsageError("contract.budget_below_price",
                             f"the budget must cover at least one query ({format_fen(comp.price_fen)})")
        terms = Policy.from_dict(comp.policy)
        terms.check_expiry()
        terms.check_purpose(purpose or None)
        contract_id, now = new_id("ctr"), utcnow()
        hold_id = settlement.hold(s, actor.org_id, budget_fen, {"contract": contract_id})
        contract = Contract(
            id=contract_id, buyer_org_id=actor.org_id, provider_org_id=comp.org_id, component_id=comp.id,
            component_version=comp.version, policy=dict(comp.policy), price_fen=comp.price_fen,
            commission_bps=ex.settings.commission_bps, budget_fen=budget_fen, spent_fen=0,
            hold_transfer_id=hold_id, purpose=purpose, state="active", created_at=now,
            # the contract ends no later than the policy it carries
            expires_at=min(now + timedelta(days=days), terms.expiry or now + timedelta(days=days)))
        s.add(contract)
        s.flush()
        audit.append(s, actor=actor.label, action="contract.sign", subject=contract_id,
                     payload={"buyer": actor.org_id, "provider": comp.org_id, "component": comp.id,
                              "version": comp.version, "policy": contract.policy, "price_fen": comp.price_fen,
                              "commission_bps": contract.commission_bps, "budget_fen": budget_fen,
                              "hold": hold_id, "purpose": purpose, "expires_at": contract.expires_at})
    return contract


def contract_json(c: Contract) -> dict:
    return {"id": c.id, "buyer": c.buyer_org_id, "provider": c.provider_org_id, "component": c.component_id,
            "component_version": c.component_version, "state": c.state, "price_fen": c.price_fen,
            "budget_fen": c.budget_fen, "spent_fen": c.spent_fen, "commission_bps": c.commission_bps,
            "policy": c.policy, "purpose": c.purpose, "created_at": iso(c.created_at),
            "expires_at": iso(c.expires_at)}


def get_contract(s: Session, actor: Actor, contract_id: str) -> Contract:
    """Visible to its buyer, its provider and the operator; to anyone else it does not exist."""
    contract = s.get(Contract, contract_id)
    if contract is None or not (actor.has(Role.OPERATOR) or actor.has(Role.AUDITOR)
                                or actor.org_id in (contract.buyer_org_id, contract.provider_org_id)):
        raise NotFound("contract.not_found", f"no contract {contract_id!r} visible to {actor.org_name}")
    return contract


def buyer_of(ex: Exchange, contract_id: str) -> Actor:
    """Local mode: act as the buyer of a contract (whoever holds the data dir may)."""
    with ex.db.transaction() as s:
        contract = s.get(Contract, contract_id)
        if contract is None:
            raise NotFound("contract.not_found", f"no contract {contract_id!r}; see `suanshu contract list ORG`")
        return Actor.of_org(s.get(Organization, contract.buyer_org_id))


def list_contracts(ex: Exchange, actor: Actor, *, state: str | None = None, side: str | None = None,
                   component: str | None = None, after: str | None = None,
                   limit: int | None = None) -> list[Contract]:
    """Contracts the actor is party to (``side``: buyer or provider), or all for operator and auditor."""
    q = select(Contract).order_by(Contract.id)
    if not (actor.has(Role.OPERATOR) or actor.has(Role.AUDITOR)):
        q = q.where(or_(Contract.buyer_org_id == actor.org_id, Contract.provider_org_id == actor.org_id))
    if side not in (None, "buyer", "provider"):
        raise UsageError("contract.bad_side", "side is buyer or provider")
    if side:
        q = q.where((Contract.buyer_org_id if side == "buyer" else Contract.provider_org_id) == actor.org_id)
    if state:
        q = q.where(Contract.state == state)
    if component:
        q = q.where(Contract.component_id == component)
    with ex.db.transaction() as s:
        return list(s.scalars(window(q, Contract.id, after, limit)))


def remaining_fen(contract: Contract) -> int:
    return contract.budget_fen - contract.spent_fen


def list_query_runs(ex: Exchange, actor: Actor, contract_id: str, *, status: str | None = None,
                    after: str | None = None, limit: int | None = None) -> tuple[Contract, list[QueryRun]]:
    """The governed queries under a contract, for those who may see the contract (else 404)."""
    q = select(QueryRun).where(QueryRun.contract_id == contract_id).order_by(QueryRun.id)
    if status:
        q = q.where(QueryRun.status == status)
    with ex.db.transaction() as s:
        contract = get_contract(s, actor, contract_id)
        return contract, list(s.scalars(window(q, QueryRun.id, after, limit)))


def query_run_json(run: QueryRun, contract: Contract, actor: Actor) -> dict:
    """The buyer sees its SQL; the provider, operator and auditor see its hash (a buyer's questions are its own)."""
    mine = actor.org_id == contract.buyer_org_id
    return {"id": run.id, "contract": run.contract_id, "status": run.status, "error_code": run.error_code,
            "sql": run.sql if mine else None, "query_sha256": run.query_sha256, "rows_out": run.rows_out,
            "suppressed_groups": run.suppressed_groups, "price_fen": run.price_fen,
            "created_at": iso(run.created_at), "receipt": run.receipt if mine else None}

