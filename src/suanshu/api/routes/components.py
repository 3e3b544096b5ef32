from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, StrictInt

from suanshu.api.deps import MAX_INT, ActorDep, ExchangeDep
from suanshu.api.idempotency import IdempotencyDep
from suanshu.api.pagination import Page, PageDep
from suanshu.market import components, review

router = APIRouter(tags=["components"])
STATES = Literal["draft", "in_review", "listed", "rejected", "delisted"]


class ComponentIn(BaseModel):
    name: str = Field(examples=["hourly_weather"])
    asset: str = Field(description="Asset id or name in the caller's vault")
    sql: str | None = Field(None, description="Projection over the asset; default all columns")
    policy: dict = Field(examples=[{"mode": "aggregate", "columns": {"city": "dimension"}, "min_group_size": 10}])
    price_fen: StrictInt = Field(ge=0, le=MAX_INT)
    desensitize: dict = Field(default_factory=dict, examples=[{"phone": {"method": "mask"}}])
    title: str = ""
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    source_legality_statement: str = Field("", description="数据来源合法性声明: how the data was obtained and on "
                                           "what authorization; required (component.no_legality_statement), "
                                           "carried by the registration made at approval")
    draft: bool = Field(False, description="Keep it a draft instead of submitting it for review")


class ComponentOut(BaseModel):
    id: str
    org: str
    name: str
    version: int
    title: str
    description: str
    tags: list[str]
    state: str
    asset: str
    price_fen: int
    policy: dict
    columns: list[dict]
    desensitize: dict
    gate: dict
    listed_at: str | None
    source_legality_statement: str = ""


class DecisionOut(BaseModel):
    action: str = Field(examples=["reject"])
    actor: str
    time: str
    reason: str


class ReviewEntryOut(ComponentOut):
    scan: dict | None = Field(description="The source asset's scan: grade, findings_total, findings, columns")


@router.post("/components", status_code=201, response_model=ComponentOut)
def publish(body: ComponentIn, ex: ExchangeDep, actor: ActorDep, idem: IdempotencyDep):
    """Provider: publish a new version; it must pass the compliance gate (no personal information in
    clear), then waits `in_review` for the operator (or stays a `draft` with `"draft": true`)."""
    spec = components.ComponentSpec(name=body.name, asset=body.asset, sql=body.sql, policy=body.policy,
                                    price_fen=body.price_fen, desensitize=body.desensitize, title=body.title,
                                    description=body.description, tags=tuple(body.tags),
                                    source_legality_statement=body.source_legality_statement)
    return idem.run(body.model_dump(),
                    lambda: components.component_json(review.submit(ex, actor, spec, draft=body.draft)), status=201)


@router.get("/components", response_model=Page[ComponentOut])
def list_components(ex: ExchangeDep, actor: ActorDep, page: PageDep,
                    state: Annotated[STATES | None, Query()] = None,
                    org: Annotated[str | None, Query(description="Provider org id")] = None,
                    name: str | None = None):
    """Listed components, plus the caller's own in any state (the operator sees every state)."""
    return page.of(components.list_components(ex, actor, state=state, org=org, name=name, after=page.after,
                                              limit=page.fetch), components.component_json)


@router.get("/components/{ref}", response_model=ComponentOut)
async def get_component(ref: str, ex: ExchangeDep, actor: ActorDep):
    """By id, or the newest listed version of a name."""
    # async: two indexed reads; inline on the loop they cost less than the threadpool hop (see deps)
    with ex.db.read() as s:
        return components.component_json(components.get_component(s, actor, ref))


@router.get("/components/{component_id}/history", response_model=list[DecisionOut])
def history(component_id: str, ex: ExchangeDep, actor: ActorDep):
    """Provider (own) and operator: every review move with who, when and why."""
    return review.decisions(ex, actor, component_id)


class ReasonIn(BaseModel):
    reason: str = Field("", description="Required to reject; shown to the provider")


@router.post("/components/{component_id}/approve", response_model=ComponentOut)
def approve(component_id: str, ex: ExchangeDep, actor: ActorDep, body: ReasonIn | None = None):
    """Operator: in_review -> listed."""
    return components.component_json(review.approve(ex, actor, component_id, note=body.reason if body else ""))


@router.post("/components/{component_id}/reject", response_model=ComponentOut)
def reject(component_id: str, body: ReasonIn, ex: ExchangeDep, actor: ActorDep):
    """Operator: in_review -> rejected, with a reason."""
    return components.component_json(review.reject(ex, actor, component_id, reason=body.reason))


@router.post("/components/{component_id}/submit", response_model=ComponentOut)
def resubmit(component_id: str, ex: ExchangeDep, actor: ActorDep):
    """Provider: its draft or rejected version -> in_review."""
    return components.component_json(review.resubmit(ex, actor, component_id))


@router.post("/components/{component_id}/delist", response_model=ComponentOut)
def delist(component_id: str, ex: ExchangeDep, actor: ActorDep, body: ReasonIn | None = None):
    """Operator, or the provider for its own: listed -> delisted (signed contracts keep their terms)."""
    return components.component_json(review.delist(ex, actor, component_id, reason=body.reason if body else ""))
