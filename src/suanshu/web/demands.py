"""Demands (场景需求/RFQ): the buyer posts one (data wanted and, optionally, compute needs) and
compares bids side by side — data bids, and the pools' bids of the compute reverse auction — then
accepts a data bid and/or the auction's winner in one step (contract and holds together, as the
API does); providers and compute providers read their inbox of matching demands and bid from it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from suanshu.core.clock import SHANGHAI
from suanshu.core.errors import SuanshuError, UsageError
from suanshu.core.money import parse_amount
from suanshu.core.orgs import Role
from suanshu.market import components, demands, workspace
from suanshu.web import errors
from suanshu.web.auth import Posted, User, need
from suanshu.web.i18n import _
from suanshu.web.render import page

router = APIRouter(include_in_schema=False)
NOTICES = {  # market.demands.NOTICES in the page's language
    "demand.match": lambda: _("A new demand matches your components or pools: %(title)s"),
    "bid.received": lambda: _("%(bidder)s bid on your demand “%(title)s”"),
    "bid.accepted": lambda: _("Your bid on the demand “%(title)s” won"),
    "bid.rejected": lambda: _("Your bid on the demand “%(title)s” was not chosen"),
    "bid.lapsed": lambda: _("The demand “%(title)s” passed its deadline; your bid lapsed"),
    "demand.expired": lambda: _("Your demand “%(title)s” passed its deadline and closed"),
}


def notice_text(n) -> str:
    """A notification in the viewer's language; a row stored as plain text is shown as it is."""
    found = demands.notice(n)
    return NOTICES[found[0]]() % found[1] if found else n.message


def _deadline(text: str) -> datetime:
    """The form's datetime-local value is Beijing time; storage is UTC."""
    try:
        return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).astimezone(UTC)
    except ValueError:
        raise UsageError("demand.invalid", f"not a date and time: {text!r}") from None


def _number(text: str, what: str, *, whole: bool = False) -> int | float | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text) if not whole else int(text)
    except ValueError:
        raise UsageError("demand.invalid", f"{what}: not a number: {text!r}") from None
    return int(value) if value == int(value) else value


def _compute(cpu: str, memory_gb: str, accelerator: str, accelerators: str, hours: str, data_region: str,
             data_gb: str, residency: str) -> dict | None:
    """The form's compute fields as the scheduler's job shape; None when the demand needs no compute."""
    if not any(x.strip() for x in (cpu, memory_gb, accelerator, accelerators, hours, data_region, data_gb)):
        return None
    job: dict = {"cpu": _number(cpu, "CPU", whole=True) or 0, "memory_gb": _number(memory_gb, "memory", whole=True) or 0,
                 "hours": _number(hours, "hours")}
    if job["hours"] is None:
        raise UsageError("demand.invalid", "compute needs say how many hours the job runs")
    if accelerator.strip():
        job["accelerators"] = {accelerator.strip(): _number(accelerators, "accelerators", whole=True) or 1}
    if data_region.strip():
        job["data"] = {"region": data_region.strip(), "gb": _number(data_gb, "data size") or 0}
    regions = [r.strip() for r in residency.replace("，", ",").split(",") if r.strip()]
    if regions:
        job["residency"] = regions
    return job


def _bid_choices(ex, who) -> dict:
    """What the signed-in org can bid with: its listed components and its pools."""
    actor = who.actor
    listed = components.list_components(ex, actor, state="listed", org=actor.org_id) \
        if actor.has(Role.PROVIDER) else []
    pools = [r["pool"] for r in workspace.pool_usage(ex, actor)] if actor.has(Role.COMPUTE) else []
    return {"listed": listed, "pools": pools}


def _demands(request: Request, who, status: int = 200, **extra):
    ex = request.app.state.exchange
    mine = [d for d in demands.list_demands(ex, who.actor, mine=True) if d.buyer_org_id == who.actor.org_id]
    inbox = [(n, notice_text(n)) for n in demands.notifications(ex, who.actor)]
    return page(request, "demands.html", status_code=status, mine=mine, inbox=inbox, **({"form": {}} | extra))


@router.get("/demands")
def demand_list(request: Request, who: User):
    need(who, Role.BUYER, Role.PROVIDER, Role.COMPUTE)
    return _demands(request, who)


@router.post("/demands")
def post_demand(request: Request, who: Posted, title: Annotated[str, Form()] = "", budget: Annotated[str, Form()] = "",
                deadline: Annotated[str, Form()] = "", description: Annotated[str, Form()] = "",
                tags: Annotated[str, Form()] = "", region: Annotated[str, Form()] = "",
                purpose: Annotated[str, Form()] = "", cpu: Annotated[str, Form()] = "",
                memory_gb: Annotated[str, Form()] = "", accelerator: Annotated[str, Form()] = "",
                accelerators: Annotated[str, Form()] = "", hours: Annotated[str, Form()] = "",
                data_region: Annotated[str, Form()] = "", data_gb: Annotated[str, Form()] = "",
                residency: Annotated[str, Form()] = ""):
    need(who, Role.BUYER)
    form = {"title": title, "budget": budget, "deadline": deadline, "description": description, "tags": tags,
            "region": region, "purpose": purpose, "cpu": cpu, "memory_gb": memory_gb, "accelerator": accelerator,
            "accelerators": accelerators, "hours": hours, "data_region": data_region, "data_gb": data_gb,
            "residency": residency}
    try:
        spec = demands.DemandSpec(title=title, description=description, region=region.strip(),
                                  tags=tuple(t.strip() for t in tags.replace("，", ",").split(",") if t.strip()),
                                  budget_fen=parse_amount(budget), deadline=_deadline(deadline),
                                  purpose=purpose.strip(),
                                  compute=_compute(cpu, memory_gb, accelerator, accelerators, hours, data_region,
                                                   data_gb, residency))
        demand = demands.post(request.app.state.exchange, who.actor, spec)
    except SuanshuError as err:  # the form again, as typed, with the message
        return _demands(request, who, err.http_status, error=errors.box(err), form=form)
    return RedirectResponse(f"/demands/{demand.id}", status_code=303)


def _board(request: Request, who, demand_id: str, status: int = 200, **extra):
    """The demand's page; a refusal to show it is the message page."""
    ex = request.app.state.exchange
    try:
        board = demands.show(ex, who.actor, demand_id)
    except SuanshuError as err:
        return page(request, "message.html", status_code=err.http_status, error=errors.box(err))
    is_buyer = board.demand.buyer_org_id == who.actor.org_id
    return page(request, "demand.html", status_code=status, board=board, d=board.demand, is_buyer=is_buyer,
                contracts=(board.demand.awarded or {}).get("contracts", []),
                compute_held=next((b for b in board.bids if b.kind == "compute" and b.state == "accepted"), None),
                **({} if is_buyer else _bid_choices(ex, who)), **({"bid_form": {}} | extra))


@router.get("/demands/{demand_id}")
def demand_page(request: Request, who: User, demand_id: str):
    return _board(request, who, demand_id)


@router.post("/demands/{demand_id}/bids")
def bid(request: Request, who: Posted, demand_id: str, price: Annotated[str, Form()] = "",
        offer: Annotated[str, Form()] = "", note: Annotated[str, Form()] = ""):
    """``offer`` is ``component:ID`` or ``pool:ID``, from the bid form's one select."""
    need(who, Role.PROVIDER, Role.COMPUTE)
    kind, _sep, ref = offer.partition(":")
    try:
        if kind not in ("component", "pool") or not ref:
            raise UsageError("bid.invalid", "choose one of your components or pools")
        demands.bid(request.app.state.exchange, who.actor, demand_id, price_fen=parse_amount(price), note=note,
                    **{kind: ref})
    except SuanshuError as err:
        return _board(request, who, demand_id, err.http_status, error=errors.box(err),
                      bid_form={"price": price, "offer": offer, "note": note})
    return RedirectResponse(f"/demands/{demand_id}", status_code=303)


@router.post("/demands/{demand_id}/accept")
def accept(request: Request, who: Posted, demand_id: str, bid: Annotated[list[str] | None, Form()] = None):
    """``bid``: the chosen data bid and/or the auction's winning pool bid: one transaction for all."""
    need(who, Role.BUYER)
    try:
        demands.accept(request.app.state.exchange, who.actor, demand_id, bid or [])
    except SuanshuError as err:
        return _board(request, who, demand_id, err.http_status, error=errors.box(err))
    return RedirectResponse(f"/demands/{demand_id}", status_code=303)
