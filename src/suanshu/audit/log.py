"""A hash-chained, append-only audit log written in the same transaction as each change.

Entry hash = SHA-256(prev_hash || canonical JSON of (seq, time, actor, action, subject, payload)).
Changing any stored byte breaks the chain from that entry on; ``verify`` names the first
broken entry. (The settlement issue grows this into an RFC 6962 Merkle tree with signed
checkpoints; the per-entry canonical encoding stays.)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from suanshu.audit.models import AuditEvent
from suanshu.core.clock import iso, utcnow

GENESIS = "0" * 64


def canonical(obj) -> bytes:
    """Stable JSON: sorted keys, no spaces, UTF-8 kept as is."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def entry_hash(prev_hash: str, seq: int, time: datetime, actor: str, action: str, subject: str, payload: dict) -> str:
    body = canonical({"seq": seq, "time": iso(time), "actor": actor, "action": action,
                      "subject": subject, "payload": payload})
    return hashlib.sha256(bytes.fromhex(prev_hash) + body).hexdigest()


def _lock_head(session: Session) -> None:
    """Serialise appends. SQLite already holds the write lock (BEGIN IMMEDIATE)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(6962)"))


def append(session: Session, *, actor: str, action: str, subject: str, payload: dict | None = None) -> AuditEvent:
    """Append one event inside the caller's transaction; it commits or rolls back with the change."""
    _lock_head(session)
    last = session.execute(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).scalar_one_or_none()
    seq = (last.seq + 1) if last else 1
    prev = last.hash if last else GENESIS
    # Round-trip the payload through JSON so what we hash is exactly what we store.
    payload = json.loads(canonical(payload or {}))
    time = utcnow()
    event = AuditEvent(seq=seq, time=time, actor=actor, action=action, subject=subject, payload=payload,
                       prev_hash=prev, hash=entry_hash(prev, seq, time, actor, action, subject, payload))
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class Verification:
    ok: bool
    entries: int
    head: str
    first_broken: int | None = None
    reason: str = ""

    def to_dict(self) -> dict:
        return {"ok": self.ok, "entries": self.entries, "head": self.head,
                "first_broken": self.first_broken, "reason": self.reason}


def verify(session: Session, batch: int = 5000) -> Verification:
    """Recompute the chain from the first entry; report the first entry that does not match."""
    prev, expected_seq, count = GENESIS, 1, 0
    last_seq = 0
    while True:
        rows = session.execute(
            select(AuditEvent).where(AuditEvent.seq > last_seq).order_by(AuditEvent.seq).limit(batch)
        ).scalars().all()
        if not rows:
            return Verification(True, count, prev)
        for ev in rows:
            if ev.seq != expected_seq:
                return Verification(False, count, prev, ev.seq, f"gap: expected entry {expected_seq}, found {ev.seq}")
            if ev.prev_hash != prev:
                return Verification(False, count, prev, ev.seq, "prev_hash does not match the previous entry")
            if entry_hash(prev, ev.seq, ev.time, ev.actor, ev.action, ev.subject, ev.payload) != ev.hash:
                return Verification(False, count, prev, ev.seq, "entry content does not match its hash")
            prev, expected_seq, count, last_seq = ev.hash, expected_seq + 1, count + 1, ev.seq
