from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, StrictInt

from suanshu.api.deps import MAX_INT, ActorDep, ExchangeDep
from suanshu.api.idempotency import IdempotencyDep
from suanshu.api.pagination import Page, PageDep
from suanshu.market import contracts, queries

router = APIRouter(tags=["contracts"])


class ContractIn(BaseModel):
    component: str = Field(description="Component id, or the name of a listed component")
    budget_fen: StrictInt = Field(gt=0, le=MAX_INT, description="Held in escrow at signing")
    purpose: str = ""
    days: int = Field(365, ge=1, le=contracts.MAX_DAYS)


class ContractOut(BaseModel):
    id: str
    buyer: str
    provider: str
    component: str
    component_version: int
    state: str
    price_fen: int
    budget_fen: int
    spent_fen: int
    commission_bps: int
    policy: dict
    purpose: str
    created_at: str
    expires_at: str


class OwnTableIn(BaseModel):
    columns: list[str]
    rows: list[list] = Field(description=f"At most {queries.MAX_OWN_ROWS} rows")


class QueryIn(BaseModel):
    sql: str = Field(examples=["SELECT city, count(*) AS n FROM hourly_weather GROUP BY city"])
    own: dict[str, OwnTableIn] = Field(default_factory=dict, description=(
        "The buyer's own tables, by name, for the policy's join role: the query may join one of them "
        "on a join column with an equality; its rows are fingerprinted in the receipt"))


class QueryOut(BaseModel):
    columns: list[str]
    rows: list[list]
    receipt: dict


@router.post("/contracts", status_code=201, response_model=ContractOut)
def sign(body: ContractIn, ex: ExchangeDep, actor: ActorDep, idem: IdempotencyDep):
    """Buyer: sign for a listed component; policy and price are frozen and the budget is held."""
    return idem.run(body.model_dump(), lambda: contracts.contract_json(contracts.request(
        ex, actor, body.component, body.budget_fen, purpose=body.purpose, days=body.days)), status=201)


@router.get("/contracts", response_model=Page[ContractOut])
def list_contracts(ex: ExchangeDep, actor: ActorDep, page: PageDep,
                   state: Literal["active", "expired", "terminated"] | None = None,
                   side: Literal["buyer", "provider"] | None = None,
                   component: Annotated[str | None, Query(description="Component id")] = None):
    """Contracts the caller is party to (the operator and the auditor see all)."""
    return page.of(contracts.list_contracts(ex, actor, state=state, side=side, component=component,
                                            after=page.after, limit=page.fetch), contracts.contract_json)


@router.get("/contracts/{contract_id}", response_model=ContractOut)
def get_contract(contract_id: str, ex: ExchangeDep, actor: ActorDep):
    with ex.db.read() as s:
        return contracts.contract_json(contracts.get_contract(s, actor, contract_id))


@router.post("/contracts/{contract_id}/queries", response_model=QueryOut)
def run_query(contract_id: str, body: QueryIn, ex: ExchangeDep, actor: ActorDep, idem: IdempotencyDep):
    """Buyer: run SQL under the contract's frozen policy; charged per answered query, refusals are free."""

    def work() -> dict:
        own = {name: queries.own_table(name, t.columns, t.rows) for name, t in body.own.items()}
        result = queries.run(ex, actor, contract_id, body.sql, own=own or None)
        return {"columns": result.columns, "rows": result.rows, "receipt": result.receipt}

    return idem.run(body.model_dump(), work)


class QueryRunOut(BaseModel):
    id: str
    contract: str
    status: str = Field(description="succeeded | denied")
    error_code: str | None
    sql: str | None = Field(description="The buyer's only")
    query_sha256: str
    rows_out: int
    suppressed_groups: int
    price_fen: int
    created_at: str
    receipt: dict | None = Field(description="The buyer's only")


@router.get("/contracts/{contract_id}/queries", response_model=Page[QueryRunOut])
def list_queries(contract_id: str, ex: ExchangeDep, actor: ActorDep, page: PageDep,
                 status: Literal["succeeded", "denied"] | None = None):
    """The contract's governed queries, answered and refused, oldest first."""
    contract, runs = contracts.list_query_runs(ex, actor, contract_id, status=status, after=page.after,
                                               limit=page.fetch)
    return page.of(runs, lambda r: contracts.query_run_json(r, contract, actor))

