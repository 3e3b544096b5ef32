from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from suanshu.api.deps import ActorDep, ExchangeDep
from suanshu.market import orgs

router = APIRouter(tags=["orgs"])


class OrgIn(BaseModel):
    name: str = Field(examples=["hunan-meteo"])
    roles: list[str] = Field(examples=[["provider"]])
    display_name: str = ""
    region: str = ""


class OrgOut(BaseModel):
    id: str
    name: str
    display_name: str
    roles: list[str]
    region: str


class OrgCreated(OrgOut):
    token: str = Field(description="The org's first API token; shown once, stored hashed")


def org_out(o) -> dict:
    return {"id": o.id, "name": o.name, "display_name": o.display_name, "roles": o.roles, "region": o.region}


@router.post("/orgs", status_code=201, response_model=OrgCreated)
def create_org(body: OrgIn, ex: ExchangeDep, actor: ActorDep):
    """Operator only: register an org with roles."""
    org, token = orgs.create_org(ex, actor, body.name, body.roles, display_name=body.display_name,
                                 region=body.region)
    return org_out(org) | {"token": token}


@router.get("/orgs", response_model=list[OrgOut])
def list_orgs(ex: ExchangeDep, actor: ActorDep):
    """Every org's public profile (names, roles, regions)."""
    return [org_out(o) for o in orgs.list_orgs(ex)]


@router.get("/me", response_model=OrgOut)
def me(ex: ExchangeDep, actor: ActorDep):
    """The org the token acts for."""
    return next(org_out(o) for o in orgs.list_orgs(ex) if o.id == actor.org_id)
