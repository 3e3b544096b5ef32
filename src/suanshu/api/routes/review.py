"""The operator's review queue (decisions: POST /components/{id}/approve|reject|delist)."""

from __future__ import annotations

from fastapi import APIRouter

from suanshu.api.deps import ActorDep, ExchangeDep
from suanshu.api.pagination import Page, PageDep
from suanshu.api.routes.components import ReviewEntryOut
from suanshu.market import review

router = APIRouter(tags=["review"])


@router.get("/review", response_model=Page[ReviewEntryOut])
def review_queue(ex: ExchangeDep, actor: ActorDep, page: PageDep):
    """Operator: components waiting for review, oldest first, each with the gate's verdict and the scan."""
    return page.of(review.queue_entries(ex, actor, after=page.after, limit=page.fetch), lambda e: e,
                   key=lambda e: e["id"])
