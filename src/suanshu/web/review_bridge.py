"""The console's one door to listing review: submit, the queue, approve and reject.

The operator review workflow is the service ``market.review`` (the API helper's); until it is
installed, a component is listed when it passes the compliance gate (``components.publish``)
and the queue is empty. Keeping the choice here means the views never change when it lands.
"""

from __future__ import annotations

import importlib

from suanshu.market import components, search
from suanshu.market.actors import Actor
from suanshu.market.components import ComponentSpec
from suanshu.market.exchange import Exchange


def _review():
    try:
        return importlib.import_module("suanshu.market.review")
    except ImportError:
        return None


def available() -> bool:
    return _review() is not None


def submit(ex: Exchange, actor: Actor, spec: ComponentSpec) -> str:
    """'review' when the component waits for the operator, 'listed' when it is listed at once."""
    review = _review()
    if review is None:
        components.publish(ex, actor, spec)
        return "listed"
    component = review.submit(ex, actor, spec)
    return "listed" if component.state == "listed" else "review"


def queue(ex: Exchange, actor: Actor) -> list:
    review = _review()
    return [] if review is None else list(review.queue(ex, actor))


def decide(ex: Exchange, actor: Actor, component_id: str, approve: bool, reason: str) -> None:
    review = _review()
    if review is None:
        return
    if approve:
        review.approve(ex, actor, component_id, note=reason)
        search.invalidate(ex)  # the catalog shows a new listing at once, not at the next 2 s refresh
    else:
        review.reject(ex, actor, component_id, reason=reason)


def last_reason(ex: Exchange, actor: Actor, component_id: str) -> str:
    """Why the component was last rejected or delisted (empty when there is no review service)."""
    review = _review()
    if review is None:
        return ""
    moves = [d for d in review.decisions(ex, actor, component_id) if d["action"] in ("reject", "delist")]
    return moves[-1]["reason"] if moves else ""


def move(ex: Exchange, actor: Actor, component_id: str, action: str) -> None:
    """Provider: resubmit a rejected or draft version, or delist a listed one."""
    review = _review()
    if review is None:
        return
    if action == "resubmit":
        review.resubmit(ex, actor, component_id)
    elif action == "delist":
        review.delist(ex, actor, component_id)
        search.invalidate(ex)
