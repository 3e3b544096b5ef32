"""Limits on the free text people write into the exchange: titles, descriptions, purposes, reasons.

Every such field is shown on pages and in lists, stored and audited; a limit keeps one field from
filling a page or a log. One code for all of them (``text.too_long``), the field named in the message."""

from __future__ import annotations

from suanshu.core.errors import UsageError

TITLE = 200  # a title, a tag's name
NOTE = 2_000  # a purpose, a reason, a statement
BODY = 10_000  # a description
TAGS = 20


def check_length(field: str, text: str, most: int) -> None:
    if len(text) > most:
        raise UsageError("text.too_long", f"the {field} is {len(text):,} characters long; at most {most:,}")


def check_tags(tags: list[str]) -> None:
    if len(tags) > TAGS:
        raise UsageError("text.too_long", f"{len(tags)} tags; at most {TAGS}")
    for tag in tags:
        check_length("tag", tag, TITLE)
