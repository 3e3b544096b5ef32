"""Cursor pagination for every list route: ``?limit=&cursor=`` in, ``{"items", "next_cursor"}`` out.

Ids are UUIDv7 with a type prefix, so id order is creation order and a keyset page (``id > last``)
is stable while rows are added. The cursor is the last id of a page, base64url-wrapped so clients
treat it as opaque (its form may change; a bad one is 422 ``request.bad_cursor``). A route::

    @router.get("/things", response_model=Page[ThingOut])
    def list_things(ex: ExchangeDep, actor: ActorDep, page: PageDep, state: str | None = None):
        return page.of(service.list_things(ex, actor, state=state, after=page.after, limit=page.fetch),
                       thing_json)
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel, Field

from suanshu.core.errors import UsageError

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_ID = re.compile(r"^[a-z]{2,8}_[0-9a-f]{32}$")
T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last page")


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(f"v1:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    version, _, last_id = raw.partition(":")
    if version != "v1" or not _ID.match(last_id):
        raise UsageError("request.bad_cursor", "this cursor is not one the API gave out; start again without it")
    return last_id


@dataclass(frozen=True)
class PageParams:
    after: str | None
    limit: int

    @property
    def fetch(self) -> int:
        """Ask the service for one more row than the page holds: it tells whether a next page exists."""
        return self.limit + 1

    def of(self, rows: Sequence, to_json: Callable, *, key: Callable = lambda r: r.id) -> dict:
        shown = list(rows[:self.limit])
        more = len(rows) > self.limit
        return {"items": [to_json(r) for r in shown], "next_cursor": encode_cursor(key(shown[-1])) if more else None}


async def page_params(  # no I/O: async, so no threadpool hop (api/deps.py)
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"page size, at most {MAX_LIMIT}")] = DEFAULT_LIMIT,
) -> PageParams:
    return PageParams(decode_cursor(cursor) if cursor else None, limit)


PageDep = Annotated[PageParams, Depends(page_params)]
