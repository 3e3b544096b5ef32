"""Buyer: the catalog (Chinese full-text search through ``market.search``), a component's page
(schema, a policy-safe sample, the policy in plain words, price) and signing a contract."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse

from suanshu.core.errors import SuanshuError
from suanshu.core.money import parse_amount
from suanshu.core.orgs import Organization, Role
from suanshu.market import components, contracts, previews, search
from suanshu.web import errors, forms, words
from suanshu.web.auth import Posted, User, need
from suanshu.web.render import numbered_pages, page

router = APIRouter(include_in_schema=False)
MODES = ("", "aggregate", "dp", "extract", "job")
PER_PAGE = 20


@router.get("/catalog")
def catalog(request: Request, who: User, q: str = "", mode: str = "", region: str = "",
            page_text: str = Query("1", alias="page")):
    ex = request.app.state.exchange
    page_no = forms.page_number(page_text)
    try:  # ranked by relevance, so pages are offsets into the ranking (search has no stable key to page by)
        result = search.search(ex, q, mode=mode if mode in MODES else None, region=region, limit=PER_PAGE,
                               offset=(page_no - 1) * PER_PAGE, include_external=False)
        hits, total, terms, error = [h.as_dict() for h in result.hits], result.total, result.terms, None
    except SuanshuError as err:
        hits, total, terms, error = [], 0, [], errors.box(err)
    return page(request, "catalog.html", q=q, mode=mode, region=region, hits=hits, total=total, terms=terms,
                modes=MODES, mode_names=words.mode_names(), error=error,
                pages=numbered_pages(request, total, PER_PAGE, page_no))


def _component_page(request: Request, component_id: str, status: int = 200, **extra):
    ex = request.app.state.exchange
    who = request.state.user
    with ex.db.transaction() as s:
        comp = components.get_component(s, who.actor, component_id)
        provider = s.get(Organization, comp.org_id)
    sample = previews.component_sample(ex, comp.id, who.actor)
    return page(request, "component.html", status_code=status, c=comp, provider=provider, sample=sample,
                words=words.policy_words(comp.policy, comp.price_fen), own=comp.org_id == who.actor.org_id,
                **extra)


@router.get("/catalog/{component_id}")
def component(request: Request, who: User, component_id: str):
    try:
        return _component_page(request, component_id)
    except SuanshuError as err:
        return page(request, "message.html", status_code=err.http_status, error=errors.box(err))


@router.post("/catalog/{component_id}/sign")
def sign(request: Request, who: Posted, component_id: str, budget: Annotated[str, Form()] = "",
         purpose: Annotated[str, Form()] = "", days: Annotated[str, Form()] = "365"):
    need(who, Role.BUYER)
    ex = request.app.state.exchange
    try:
        contract = contracts.request(ex, who.actor, component_id, parse_amount(budget), purpose=purpose.strip(),
                                     days=forms.whole(days, "contract.bad_term", "days"))
    except SuanshuError as err:
        return _component_page(request, component_id, status=err.http_status, error=errors.box(err),
                               form={"budget": budget, "purpose": purpose, "days": days})
    return RedirectResponse(f"/contracts/{contract.id}?signed=1", status_code=303)
