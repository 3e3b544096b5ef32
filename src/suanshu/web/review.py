"""Operator: the listing review queue, each entry with its scan grade and the gate's findings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from suanshu.core.errors import SuanshuError
from suanshu.core.orgs import Organization, Role
from suanshu.vault.models import ScanReport
from suanshu.web import errors, review_bridge, words
from suanshu.web.auth import Posted, User, need
from suanshu.web.i18n import _
from suanshu.web.render import keyset_page, page

router = APIRouter(include_in_schema=False)
REVIEW_PAGE = 10  # each entry carries its scan findings: fewer per page


def _queue_page(request: Request, who, status: int = 200, **extra):
    ex = request.app.state.exchange
    # oldest first, a page at a time: the queue is worked in the order components were submitted
    pending, pages = keyset_page(request, "after", lambda after, n: review_bridge.queue(ex, who.actor, after=after,
                                                                                       limit=n), limit=REVIEW_PAGE)
    entries = []
    with ex.db.transaction() as s:
        for comp in pending:
            scan = s.scalar(select(ScanReport).where(ScanReport.asset_id == comp.asset_id))
            entries.append({"c": comp, "org": s.get(Organization, comp.org_id), "scan": scan.report if scan else None,
                            "words": words.policy_words(comp.policy, comp.price_fen)})
    return page(request, "review.html", status_code=status, entries=entries, pages=pages, **extra)


@router.get("/review")
def queue(request: Request, who: User, done: str = ""):
    need(who, Role.OPERATOR)
    notice = {"approved": _("Approved: the component is listed."), "rejected": _("Rejected: the provider sees your reason.")}.get(done)
    return _queue_page(request, who, notice=notice)


@router.post("/review/{component_id}")
def decide(request: Request, who: Posted, component_id: str, decision: Annotated[str, Form()],
           reason: Annotated[str, Form()] = ""):
    need(who, Role.OPERATOR)
    try:
        review_bridge.decide(request.app.state.exchange, who.actor, component_id, decision == "approve", reason.strip())
    except SuanshuError as err:
        return _queue_page(request, who, status=err.http_status, error=errors.box(err))
    return RedirectResponse(f"/review?done={'approved' if decision == 'approve' else 'rejected'}", status_code=303)
