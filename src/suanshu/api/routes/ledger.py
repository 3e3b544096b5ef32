from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field, StrictInt

from suanshu.api.deps import MAX_INT, ActorDep, ExchangeDep
from suanshu.api.idempotency import IdempotencyDep
from suanshu.market import billing, settlement

router = APIRouter(tags=["ledger"])


class UsageVoidIn(BaseModel):
    source: str = Field(description="The event's CloudEvents source, as stored")
    id: str = Field(description="The event's CloudEvents id, as stored")
    reason: str = Field(description="Why it is voided (required, at most 2,000 characters); kept in the audit log")


class UsageEventOut(BaseModel):
    source: str
    id: str
    type: str
    subject: str = Field(description="The contract")
    time: str = Field(description="UTC ISO-8601")
    data: Any = Field(description="The event's quantities, as stored")
    invoice_id: str | None
    voided: bool
    voided_at: str | None
    voided_by: str | None
    void_reason: str | None


class DepositIn(BaseModel):
    org: str = Field(description="Org name")
    amount_fen: StrictInt = Field(gt=0, le=MAX_INT)
    reference: str = ""


@router.post("/ledger/deposits", status_code=201)
def deposit(body: DepositIn, ex: ExchangeDep, actor: ActorDep, idem: IdempotencyDep) -> dict:
    """Operator: record money received from outside for an org. Send an ``Idempotency-Key``."""

    def work() -> dict:
        tid = settlement.deposit(ex, actor, body.org, body.amount_fen, body.reference)
        return {"transfer": tid, "org": body.org, "amount_fen": body.amount_fen}

    return idem.run(body.model_dump(), work, status=201)


@router.get("/ledger/balances")
def balances(ex: ExchangeDep, actor: ActorDep) -> dict:
    """The caller's accounts (every account for the operator and auditors)."""
    rows = settlement.balances(ex, actor)
    return {"accounts": [r.__dict__ for r in rows]}


@router.post("/contracts/{contract_id}/cancel")
def cancel_contract(contract_id: str, ex: ExchangeDep, actor: ActorDep, idem: IdempotencyDep) -> dict:
    """Buyer or operator: end an active contract; its hold is voided (unspent budget released)."""
    return idem.run({"contract": contract_id}, lambda: billing.cancel_contract(ex, actor, contract_id))


@router.post("/usage/void", response_model=UsageEventOut)
def void_usage(body: UsageVoidIn, ex: ExchangeDep, actor: ActorDep) -> dict:
    """Operator: void a stored usage event no invoice has taken (one that rating refuses:
    ``billing.bad_usage_event``), with a reason; the row and an audit entry stay, invoices skip it.
    Voiding it again returns it unchanged; once invoiced it is 409 ``usage.already_invoiced``."""
    return billing.void_usage(ex, actor, body.source, body.id, reason=body.reason)
