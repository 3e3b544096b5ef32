"""API tokens of the caller's org: create (a subset of the caller's roles), list, revoke."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from suanshu.api.deps import ActorDep, ExchangeDep
from suanshu.api.pagination import Page, PageDep
from suanshu.market import orgs

router = APIRouter(tags=["tokens"])


class TokenIn(BaseModel):
    name: str = Field(examples=["nightly-report"])
    roles: list[str] | None = Field(None, description="A subset of the caller's roles; default all of them")


class TokenOut(BaseModel):
    id: str
    name: str
    roles: list[str]
    created_at: str
    revoked_at: str | None


class TokenCreated(TokenOut):
    token: str = Field(description="The secret; shown once, stored as SHA-256")


@router.post("/tokens", status_code=201, response_model=TokenCreated)
def create_token(body: TokenIn, ex: ExchangeDep, actor: ActorDep):
    principal, token = orgs.create_token(ex, actor, body.name, body.roles)
    return orgs.token_json(principal) | {"token": token}


@router.get("/tokens", response_model=Page[TokenOut])
def list_tokens(ex: ExchangeDep, actor: ActorDep, page: PageDep):
    """The caller's org's tokens (never the secrets)."""
    return page.of(orgs.list_tokens(ex, actor, after=page.after, limit=page.fetch), orgs.token_json)


@router.delete("/tokens/{token_id}", response_model=TokenOut)
def revoke_token(token_id: str, ex: ExchangeDep, actor: ActorDep):
    """Revoke at once; revoking again answers the same."""
    return orgs.token_json(orgs.revoke_token(ex, actor, token_id))
