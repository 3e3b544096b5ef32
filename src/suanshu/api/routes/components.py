from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from suanshu.api.deps import ActorDep, ExchangeDep
from suanshu.api.idempotency import IdempotencyDep
from suanshu.market import components

router = APIRouter(tags=["components"])


class ComponentIn(BaseModel):
    name: str = Field(examples=["hourly_weather"])
    asset: str = Field(description="Asset id or name in the caller's vault")
    sql: str | None = Field(None, description="Projection over the asset; default all columns")
    policy: dict = Field(examples=[{"mode": "aggregate", "columns": {"city": "dimension"}, "min_group_size": 10}])
    price_fen: int = Field(ge=0)
    desensitize: dict = Field(default_factory=dict, examples=[{"phone": {"method": "mask"}}])
    title: str = ""
    description: str = ""
    tags: list[str] = Field(default_factory=list)


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


@router.post("/components", status_code=201, response_model=ComponentOut)
def publish(body: ComponentIn, ex: ExchangeDep, actor: ActorDep, idem: IdempotencyDep):
    """Provider: publish a component; the compliance gate refuses personal information in clear."""
    spec = components.ComponentSpec(name=body.name, asset=body.asset, sql=body.sql, policy=body.policy,
                                    price_fen=body.price_fen, desensitize=body.desensitize, title=body.title,
                                    description=body.description, tags=tuple(body.tags))
    return idem.run(body.model_dump(), lambda: components.component_json(components.publish(ex, actor, spec)),
                    status=201)


@router.get("/components", response_model=list[ComponentOut])
def catalog(ex: ExchangeDep, actor: ActorDep):
    """The catalog of listed components."""
    return [components.component_json(c) for c in components.catalog(ex)]


@router.get("/components/{ref}", response_model=ComponentOut)
def get_component(ref: str, ex: ExchangeDep, actor: ActorDep):
    with ex.db.transaction() as s:
        return components.component_json(components.get_component(s, actor, ref))
