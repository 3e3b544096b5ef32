"""Catalog search, DCAT export and import (issue 8). Thin: every route calls a market service."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from suanshu.api.deps import ActorDep, ExchangeDep
from suanshu.api.pagination import Page, PageDep
from suanshu.market import catalog, registration, search

router = APIRouter(tags=["catalog"])


@router.get("/catalog/search")
async def catalog_search(ex: ExchangeDep, actor: ActorDep, q: str = "", region: str | None = None,
                         grade: str | None = Query(None, description="highest grade wanted, e.g. general-2"),
                         mode: str | None = Query(None, description="aggregate | dp | extract | job"),
                         price_min: int | None = Query(None, description="fen"),
                         price_max: int | None = Query(None, description="fen"),
                         limit: int = 20, offset: int = 0, external: bool = True) -> dict:
    """Ranked search over listed components and imported listings (Chinese segmentation, synonyms)."""
    call = partial(search.search, ex, q, region=region, grade=grade, mode=mode, price_min=price_min,
                   price_max=price_max, limit=limit, offset=offset, include_external=external)
    # The index is almost always current: then a search costs ~40 µs, less than a threadpool hop,
    # and runs inline. A due sync (a full rebuild takes seconds on a big catalog) goes to a thread.
    return (call() if search.is_current(ex) else await run_in_threadpool(call)).as_dict()


class RegistrationIn(BaseModel):
    source_legality_statement: str = Field(min_length=10, max_length=2000,
                                           description="The provider's statement that the source is lawful")


@router.get("/components/{ref}/registration")
def get_registration(ref: str, ex: ExchangeDep, actor: ActorDep) -> dict:
    """The registration record (登记) of a listed component, created on first request."""
    return registration.registration_json(registration.ensure(ex, actor, ref))


@router.post("/components/{ref}/registration", status_code=201)
def register(ref: str, body: RegistrationIn, ex: ExchangeDep, actor: ActorDep) -> dict:
    """Provider: register a listed component with its own source-legality statement (before anyone asks)."""
    return registration.registration_json(registration.ensure(ex, actor, ref,
                                                              statement=body.source_legality_statement))


@router.get("/components/{ref}/certificate", response_class=HTMLResponse)
def certificate(ref: str, request: Request, ex: ExchangeDep, actor: ActorDep) -> HTMLResponse:
    """The signed registration certificate, printable HTML, with a link to the audit proof."""
    reg = registration.ensure(ex, actor, ref)
    return HTMLResponse(registration.certificate_html(ex, reg, base_url=str(request.base_url)))


class JSONLDResponse(JSONResponse):
    media_type = "application/ld+json"  # so the OpenAPI document names the type the route answers


@router.get("/catalog/dcat", response_class=JSONLDResponse)
def dcat(request: Request, ex: ExchangeDep) -> JSONLDResponse:
    """The catalog as W3C DCAT (JSON-LD), each policy an ODRL offer: open to dataspace connectors, no token."""
    return JSONLDResponse(catalog.export_dcat(ex, base_url=str(request.base_url)))


@router.post("/catalog/import", status_code=201)
def import_catalog(body: dict, ex: ExchangeDep, actor: ActorDep) -> dict:
    """Operator: import another exchange's DCAT catalog as read-only listings (shown in search with their source)."""
    return catalog.import_dcat(ex, actor, body)


@router.get("/catalog/external", response_model=Page[dict])
def external(ex: ExchangeDep, actor: ActorDep, page: PageDep, source: str | None = None):
    """Imported listings, by source catalog."""
    return page.of(catalog.list_external(ex, source, after=page.after, limit=page.fetch), catalog.external_json)
