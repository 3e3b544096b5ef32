"""Demands (场景需求/RFQ), bids, acceptance, notifications, pool offers and auctions (issue 8). Thin."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field, StrictInt

from suanshu.api.deps import MAX_INT, ActorDep, ExchangeDep
from suanshu.api.idempotency import IdempotencyDep
from suanshu.api.pagination import Page, PageDep
from suanshu.market import auction, demands
from suanshu.market.components import ComponentSpec

router = APIRouter(tags=["demands"])


class DemandIn(BaseModel):
    title: str = Field(examples=["长沙 2023 年逐时天气 + 500 卡时训练产量模型"])
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    region: str = ""
    compute: dict | None = Field(None, description="The scheduler's job shape (cpu, memory_gb, accelerators, hours, "
                                 "arch, residency, data, nodes); id optional",
                                 examples=[{"cpu": 64, "memory_gb": 512, "accelerators": {"ascend-910b": 8}, "hours": 60}])
    purpose: str = ""
    budget_fen: StrictInt = Field(gt=0, le=MAX_INT)
    deadline: datetime = Field(description="UTC ISO-8601")


class NewComponentIn(BaseModel):
    name: str
    asset: str
    sql: str | None = None
    policy: dict
    price_fen: StrictInt = Field(ge=0, le=MAX_INT)
    desensitize: dict = Field(default_factory=dict)
    title: str = ""
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    source_legality_statement: str = Field("", description="数据来源合法性声明 (required, as for POST /components)")


class BidIn(BaseModel):
    price_fen: StrictInt = Field(ge=0, le=MAX_INT, description="data: per query; compute: for the whole job")
    component: str | None = None
    pool: str | None = None
    new_component: NewComponentIn | None = Field(None, description="publish a component now and bid with it")
    note: str = ""


class AcceptIn(BaseModel):
    bids: list[str] = Field(description="at most one data bid and the compute auction's winner")


class OfferIn(BaseModel):
    floor_fen: StrictInt | None = Field(None, ge=0, le=MAX_INT)
    ceiling_fen: StrictInt | None = Field(None, ge=0, le=MAX_INT)
    ready_hours: int = Field(0, ge=0, le=MAX_INT)
    enabled: bool = True


class AuctionIn(BaseModel):
    job: dict
    deadline_hours: float | None = Field(None, gt=0)


@router.post("/demands", status_code=201)
def post_demand(body: DemandIn, ex: ExchangeDep, actor: ActorDep, idem: IdempotencyDep):
    """Buyer: publish a demand; matching providers and compute providers are notified, pools bid."""
    spec = demands.DemandSpec(title=body.title, description=body.description, tags=tuple(body.tags),
                              region=body.region, compute=body.compute, purpose=body.purpose,
                              budget_fen=body.budget_fen, deadline=body.deadline)
    return idem.run(body.model_dump(mode="json"), lambda: demands.demand_json(demands.post(ex, actor, spec)),
                    status=201)


@router.get("/demands", response_model=Page[dict])
def list_demands(ex: ExchangeDep, actor: ActorDep, page: PageDep, state: str | None = None, mine: bool = False):
    """Open demands (a public board), plus closed ones the caller posted or bid on; newest first."""
    return page.of(demands.list_demands(ex, actor, state=state, mine=mine, after=page.after, limit=page.fetch),
                   demands.demand_json)


@router.get("/demands/{demand_id}")
def show_demand(demand_id: str, ex: ExchangeDep, actor: ActorDep) -> dict:
    """A demand with its bids side by side (the buyer sees all; a bidder its own) and its auction."""
    return demands.board_json(demands.show(ex, actor, demand_id))


@router.post("/demands/{demand_id}/bids", status_code=201)
def bid(demand_id: str, body: BidIn, ex: ExchangeDep, actor: ActorDep, idem: IdempotencyDep):
    """Provider or compute provider: bid a listed component (or a new one) or a pool, at a price."""
    new = ComponentSpec(**{**body.new_component.model_dump(), "tags": tuple(body.new_component.tags)}) \
        if body.new_component else None
    return idem.run(body.model_dump(), lambda: demands.bid_json(demands.bid(
        ex, actor, demand_id, price_fen=body.price_fen, component=body.component, pool=body.pool, note=body.note,
        new_component=new)), status=201)


@router.post("/demands/{demand_id}/accept")
def accept(demand_id: str, body: AcceptIn, ex: ExchangeDep, actor: ActorDep, idem: IdempotencyDep):
    """Buyer: accept bids; the contract and the holds are created in one transaction (both or neither)."""
    return idem.run(body.model_dump(), lambda: demands.accept(ex, actor, demand_id, body.bids))


@router.get("/notifications", response_model=Page[dict])
def notifications(ex: ExchangeDep, actor: ActorDep, page: PageDep, unread: bool = False):
    """The caller's org's inbox, newest first."""
    return page.of(demands.notifications(ex, actor, unread=unread, after=page.after, limit=page.fetch),
                   demands.notification_json)


@router.post("/notifications/{notification_id}/read")
def read_notification(notification_id: str, ex: ExchangeDep, actor: ActorDep) -> dict:
    return demands.notification_json(demands.mark_read(ex, actor, notification_id))


@router.put("/pools/{pool}/offer")
def set_offer(pool: str, body: OfferIn, ex: ExchangeDep, actor: ActorDep) -> dict:
    """Compute provider: the pool's auction terms (floor, ceiling, hours until it can start)."""
    o = auction.set_offer(ex, actor, pool, floor_fen=body.floor_fen, ceiling_fen=body.ceiling_fen,
                          ready_hours=body.ready_hours, enabled=body.enabled)
    return {"pool": o.pool_id, "floor_fen": o.floor_fen, "ceiling_fen": o.ceiling_fen,
            "ready_hours": o.ready_hours, "enabled": o.enabled}


@router.post("/auctions", status_code=201)
def run_auction(body: AuctionIn, ex: ExchangeDep, actor: ActorDep) -> dict:
    """Buyer or operator: a reverse auction for a job shape over every pool's standing offer; audited bid by bid."""
    a, _ = auction.run(ex, actor, body.job, deadline_hours=body.deadline_hours)
    return auction.auction_json(a)


@router.get("/auctions/{auction_id}")
def get_auction(auction_id: str, ex: ExchangeDep, actor: ActorDep) -> dict:
    """The org that asked, the operator and auditors see every bid; a compute provider whose pool bid sees
    its own bids (and the winner and price only if it won); other orgs get 404 auction.not_found."""
    return auction.view(ex, actor, auction_id)
