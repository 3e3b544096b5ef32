"""Idempotency keys (IETF draft-ietf-httpapi-idempotency-key-header): the table and its rules.

A key belongs to the principal that sent it. Its life:

    (none) --claim--> in_flight --effects commit--> applied --response stored--> done
                          \\---- request fails before any effect ----> (deleted)

* ``claim`` runs in its own short transaction *before* the work, so a concurrent duplicate
  sees ``in_flight`` (HTTP 409) instead of doing the work twice.
* ``applied`` is written by the work's own transaction (through ``audit.log.on_append``, which
  every state change calls), so "the effects happened" commits atomically with the effects.
* ``done`` stores the response; a replay returns it byte for byte with its status.
* A different request with the same key is 422. Keys live ``TTL`` (24 h) after their first use.
* A claim left ``in_flight`` past ``LEASE`` (the server died before any effect committed) may
  be taken over by a retry; a claim ``applied`` without a response is 409 ``idempotency.in_flight``
  within the lease (the first request is storing its response: a concurrent retry lands in that
  window) and ``idempotency.outcome_unknown`` naming the audit entry after it, since running it
  again would repeat it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Integer, String, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from suanshu.core.clock import utcnow
from suanshu.core.db import Base, Database, Fen
from suanshu.core.errors import Conflict, UsageError

TTL = timedelta(hours=24)
LEASE = timedelta(minutes=30)  # longer than any request takes (queries stop at 30 s; big uploads take minutes)


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"

    owner: Mapped[str] = mapped_column(String(80), primary_key=True)  # the principal's label
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of method, path and payload
    state: Mapped[str] = mapped_column(String(12))  # in_flight | applied | done
    audit_seq: Mapped[int | None] = mapped_column(Fen)  # the first audit entry of the effects
    status: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[dict | None]
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


def well_formed(key: str) -> bool:
    """1-255 printable ASCII characters (the column's width)."""
    return 1 <= len(key) <= 255 and key.isascii() and key.isprintable()


def fingerprint(method: str, path: str, payload) -> str:
    body = json.dumps([method, path, payload], sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)
    return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class Stored:
    status: int
    response: dict


def claim(db: Database, owner: str, key: str, fp: str) -> Stored | None:
    """Claim the key for a new request, or return the stored response of a finished one."""
    now = utcnow()
    try:
        with db.transaction() as s:
            s.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at < now))
            row = s.scalar(select(IdempotencyKey).where(IdempotencyKey.owner == owner, IdempotencyKey.key == key)
                           .with_for_update())
            if row is None:
                s.add(IdempotencyKey(owner=owner, key=key, fingerprint=fp, state="in_flight", created_at=now,
                                     expires_at=now + TTL))
                return None
            if row.fingerprint != fp:
                raise UsageError("idempotency.key_reused",
                                 "this Idempotency-Key was used for a different request; use a new key")
            if row.state == "done":
                return Stored(row.status, row.response)
            if row.state == "applied" and row.created_at + LEASE > now:
                # the effects committed and the first request is storing its response (or died
                # doing so: that shows once the lease is over)
                raise Conflict("idempotency.in_flight", "a request with this Idempotency-Key is still in progress")
            if row.state == "applied":
                raise Conflict("idempotency.outcome_unknown",
                               f"the first request with this key took effect (audit entry {row.audit_seq}) but "
                               "its response was lost; look the result up instead of retrying",
                               audit_seq=row.audit_seq)
            if row.created_at + LEASE > now:
                raise Conflict("idempotency.in_flight", "a request with this Idempotency-Key is still in progress")
            row.created_at = now  # an abandoned claim whose effects never committed: take it over
            return None
    except IntegrityError:  # a concurrent first use of the same key won the insert
        raise Conflict("idempotency.in_flight",
                       "a request with this Idempotency-Key is still in progress") from None


def mark_applied(s: Session, owner: str, key: str, audit_seq: int) -> None:
    row = s.get(IdempotencyKey, (owner, key))
    if row is not None and row.state == "in_flight":
        row.state, row.audit_seq = "applied", audit_seq


def finish(db: Database, owner: str, key: str, status: int, response: dict) -> None:
    with db.transaction() as s:
        row = s.get(IdempotencyKey, (owner, key))
        if row is not None:
            row.state, row.status, row.response = "done", status, response


def release(db: Database, owner: str, key: str) -> None:
    """The request failed unexpectedly: forget the claim unless its effects committed."""
    with db.transaction() as s:
        s.execute(delete(IdempotencyKey).where(IdempotencyKey.owner == owner, IdempotencyKey.key == key,
                                               IdempotencyKey.state == "in_flight"))
