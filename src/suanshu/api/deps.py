"""Request dependencies: the exchange and the acting principal (bearer token)."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import Depends, Request
from pydantic import BaseModel, Field

from suanshu.core.errors import UsageError
from suanshu.market import orgs
from suanshu.market.actors import Actor
from suanshu.market.exchange import Exchange


# Dependencies are async: FastAPI runs a sync one in the threadpool, and a thread hop (waking a
# worker, handing the GIL over and back) cost more CPU than the work. ``actor`` does read the
# database, but one indexed lookup (~0.1 ms on SQLite, one loopback round trip on PostgreSQL)
# stalls the event loop less than the hop would cost it (measured: bench/api_load.py).
async def exchange(request: Request) -> Exchange:
    return request.app.state.exchange


async def actor(request: Request, ex: Annotated[Exchange, Depends(exchange)]) -> Actor:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return orgs.authenticate(ex, token.strip() if scheme.lower() == "bearer" else None)


async def unique_keys(request: Request) -> None:
    """A JSON body may not repeat a key: JSON parsers keep the last one, so a policy with "city"
    twice would silently take one role for it (422 ``request.duplicate_key``). The body is read
    once: FastAPI reuses what the request cached."""
    if not _read_as_json(request.headers.get("content-type")):
        return
    body = await request.body()
    try:
        json.loads(body, object_pairs_hook=_no_repeats)
    except ValueError:
        return  # not JSON: FastAPI says so itself (request.malformed)


def _read_as_json(content_type: str | None) -> bool:
    """Whether FastAPI reads the body as JSON: no content type at all, or application/json or
    application/*+json in any case."""
    if not content_type:
        return True
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


def _no_repeats(pairs: list[tuple[str, object]]) -> dict:
    seen = set()
    for key, _value in pairs:
        if key in seen:
            raise UsageError("request.duplicate_key", f"the body repeats the key {key!r}: say each once")
        seen.add(key)
    return dict(pairs)


# The largest integer a column holds (BIGINT). Money and counts in request bodies are bounded by
# it, so an absurd number is 422 request.invalid rather than a driver overflow (a 500).
MAX_INT = 2**63 - 1

ExchangeDep = Annotated[Exchange, Depends(exchange)]
ActorDep = Annotated[Actor, Depends(actor)]


class ErrorBody(BaseModel):
    code: str = Field(examples=["auth.role_required"], description="Stable, dotted; scripts may depend on it")
    message: str
    details: dict | None = None


class ErrorOut(BaseModel):
    error: ErrorBody


# Documented on every API route (app.include_router): the shape of every error the API answers.
ERROR_RESPONSES: dict[int | str, dict] = {
    # errors are JSON even on routes whose success is HTML or text
    status: {"model": ErrorOut, "description": text,
             "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}}
    for status, text in [
        (400, "Unreadable request: a body that is not the JSON or form it says it is (request.malformed)"),
        (401, "No token, or an unknown or revoked one (auth.*)"),
        (403, "Refused: a role the token lacks (auth.role_required) or a rule"),
        (404, "Not found, or another org's (existence is not revealed)"),
        (409, "Conflict with the current state (exists, wrong state, in flight)"),
        (422, "Bad input (request.invalid and domain codes)"),
        (503, "The vault store cannot be reached (vault.unavailable): nothing was done, try again"),
    ]
}
