"""The console's door to listing review (``market.review``): submit, the queue, decisions, and
the provider's resubmit/delist."""

from __future__ import annotations

from suanshu.market import review
from suanshu.market.actors import Actor
from suanshu.market.components import ComponentSpec
from suanshu.market.exchange import Exchange


def submit(ex: Exchange, actor: Actor, spec: ComponentSpec) -> str:
    """'review' when the component waits for the operator, 'listed' when it is listed at once."""
    component = review.submit(ex, actor, spec)
    return "listed" if component.state == "listed" else "review"


def queue(ex: Exchange, actor: Actor, *, after: str | None = None, limit: int | None = None) -> list:
    return review.queue(ex, actor, after=after, limit=limit)


def decide(ex: Exchange, actor: Actor, component_id: str, approve: bool, reason: str) -> None:
    if approve:
        review.approve(ex, actor, component_id, note=reason)
    else:
        review.reject(ex, actor, component_id, reason=reason)


def last_reason(ex: Exchange, actor: Actor, component_id: str) -> str:
    """Why the component was last rejected or delisted."""
    moves = [d for d in review.decisions(ex, actor, component_id) if d["action"] in ("reject", "delist")]
    return moves[-1]["reason"] if moves else ""


def move(ex: Exchange, actor: Actor, component_id: str, action: str) -> None:
    """Provider: resubmit a rejected or draft version, or delist a listed one."""
    if action == "resubmit":
        review.resubmit(ex, actor, component_id)
    elif action == "delist":
        review.delist(ex, actor, component_id)
