"""Numbers typed into console forms and links: read as text, so bad input gets a page with a
stable error code and the user's values, never a bare validation error."""

from __future__ import annotations

import math

from suanshu.core.errors import UsageError


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


def usable_key(key: str) -> bool:
    """A form's own key (see ``web.contracts.run_query``): printable ASCII of at most 200 characters."""
    return bool(key) and key.isascii() and key.isprintable() and len(key) <= 200
