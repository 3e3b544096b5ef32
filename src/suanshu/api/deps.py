"""Request dependencies: the exchange and the acting principal (bearer token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from suanshu.market import orgs
from suanshu.market.actors import Actor
from suanshu.market.exchange import Exchange


def exchange(request: Request) -> Exchange:
    return request.app.state.exchange


def actor(request: Request, ex: Annotated[Exchange, Depends(exchange)]) -> Actor:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return orgs.authenticate(ex, token.strip() if scheme.lower() == "bearer" else None)


ExchangeDep = Annotated[Exchange, Depends(exchange)]
ActorDep = Annotated[Actor, Depends(actor)]
