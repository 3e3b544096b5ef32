"""Sortable identifiers: UUIDv7 (RFC 9562), rendered with a readable type prefix."""

from __future__ import annotations

import uuid_utils


def new_id(prefix: str) -> str:
    """``org_01932c...``: time-ordered, unique, safe in URLs and file names."""
    return f"{prefix}_{uuid_utils.uuid7().hex}"


def new_uuid_hex() -> str:
    """A bare 128-bit time-ordered id, for ledger accounts and transfers."""
    return uuid_utils.uuid7().hex
