"""Keyset pages over sortable ids (UUIDv7, so id order is creation order).

Services take ``after`` (the last id the caller saw) and ``limit``; adapters turn ``after`` into an
opaque cursor (``api/pagination.py``). Keyset rather than OFFSET: a page never shifts when rows
are added, and the cost does not grow with the page number.
"""

from __future__ import annotations

from sqlalchemy import Select


def window(query: Select, id_column, after: str | None, limit: int | None) -> Select:
    if after:
        query = query.where(id_column > after)
    return query.limit(limit) if limit else query
