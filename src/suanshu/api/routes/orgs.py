from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from suanshu.api.deps import ActorDep, ExchangeDep
from suanshu.api.pagination import Page, PageDep
from suanshu.market import orgs

router = APIRouter(tags=["orgs"])
RoleName = Literal["provider", "buyer", "compute", "operator", "auditor"]


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


class MeOut(OrgOut):
    token_roles: list[str] = Field(description="The roles this token (or console user) acts with")


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


@router.get("/orgs", response_model=Page[OrgOut])
def list_orgs(ex: ExchangeDep, actor: ActorDep, page: PageDep, role: RoleName | None = None):
    """Every org's public profile (names, roles, regions); `role` keeps the orgs holding it."""
    return page.of(orgs.list_orgs(ex, role=role, after=page.after, limit=page.fetch), org_out)


@router.get("/orgs/{ref}", response_model=OrgOut)
def get_org(ref: str, ex: ExchangeDep, actor: ActorDep):
    """One org's public profile, by id or name."""
    return org_out(orgs.get_org(ex, ref))


@router.get("/me", response_model=MeOut)
def me(ex: ExchangeDep, actor: ActorDep):
    """The org the token acts for, and the roles this token holds there."""
    return org_out(orgs.get_org(ex, actor.org_id)) | {"token_roles": sorted(actor.roles)}
