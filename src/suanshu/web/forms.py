"""Numbers typed into console forms and links: read as text, so bad input gets a page with a
stable error code and the user's values, never a bare validation error."""

from __future__ import annotations

import math
from collections.abc import Callable

from fastapi import Request

from suanshu.api.idempotency import Idempotency
from suanshu.core import idempotency as store
from suanshu.core.errors import SuanshuError, UsageError


def whole(text: str, code: str, what: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise UsageError(code, f"{what}: not a whole number: {text!r}") from None


def decimal(text: str, code: str, what: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise UsageError(code, f"{what}: not a number: {text!r}") from None
    if not math.isfinite(value):
        raise UsageError(code, f"{what}: not a number: {text!r}")
    return value


def page_number(text: str, most: int = 100_000) -> int:
    """A page number from a link; anything else (``abc``, ``-3``) is the first page."""
    try:
        return min(max(1, int(text)), most)
    except ValueError:
        return 1


def once(request: Request, actor, scope: str, key: str, payload: dict, work: Callable[[], dict]) -> tuple[dict, bool]:
    """``work`` once per form: a form carries a key of its own (new with each rendering), run through
    the stored outcome the API's Idempotency-Key uses, so a reload, a resent page or a double click
    replays the first outcome (and its refusal) instead of doing the work again. Returns the
    outcome and whether it was a replay; a form without a usable key just runs."""
    scoped = f"{scope}:{key}"
    if not key or not store.well_formed(scoped):
        return work(), False
    stored, replayed = Idempotency(request.app.state.exchange, actor, scoped, "POST", request.url.path).once(
        payload, work)
    if "error" in stored.response:  # refused the first time: the same refusal
        raise SuanshuError(stored.response["error"]["code"], stored.response["error"]["message"], status=stored.status)
    return stored.response, replayed
