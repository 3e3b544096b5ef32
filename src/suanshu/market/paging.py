"""Keyset pages over sortable ids (UUIDv7, so id order is creation order).

Services take ``after`` (the last id the caller saw) and ``limit``; adapters turn ``after`` into an
opaque cursor (``api/pagination.py``). Keyset rather than OFFSET: a page never shifts when rows
are added, and the cost does not grow with the page number.
"""

from __future__ import annotations

from sqlalchemy import Select, select, tuple_


def window(query: Select, id_column, after: str | None, limit: int | None, *, newest_first: bool = False) -> Select:
    """The page after ``after`` of a query ordered by id (``newest_first``: by id descending)."""
    if after:
        query = query.where(id_column < after if newest_first else id_column > after)
    return query.limit(limit) if limit else query


def window_sorted(query: Select, order: tuple, id_column, after: str | None, limit: int | None) -> Select:
    """The page after ``after`` of a query ordered by ``order`` (ascending columns ending with the id),
    e.g. pools by (region, id): the cursor stays an id, and the row's sort values are read by it."""
    if after:
        anchor = [select(c).where(id_column == after).scalar_subquery() for c in order]
        query = query.where(tuple_(*order) > tuple_(*anchor))
    return query.limit(limit) if limit else query
