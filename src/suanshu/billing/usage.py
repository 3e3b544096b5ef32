"""Usage ingest: CloudEvents-shaped records, deduplicated on (source, id) by the database.

Fields (CloudEvents 1.0 names): ``id``, ``source``, ``type``, ``subject``, ``time`` (RFC 3339),
``data`` (a JSON object with the type's quantities, whole numbers from 0 up: ``rating.quantities``,
checked here so that a stored event can always be rated). A resend, from a retry or a replayed
queue, is dropped by the primary key (``INSERT ... ON CONFLICT DO NOTHING``), so ingest is
idempotent and order-free.

``void`` is the operator's way out of an event rating refuses (one stored before ingest checked):
the row is kept, marked with who voided it, when and why, and rating skips it from then on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from suanshu.audit import log as audit
from suanshu.billing.models import UsageEvent
from suanshu.billing.rating import quantities
from suanshu.core import text as limits
from suanshu.core.clock import iso, utcnow
from suanshu.core.errors import Conflict, NotFound, UsageError

REQUIRED = ("id", "source", "type", "subject", "time", "data")
_PG_INGEST = text("""
    INSERT INTO usage_events (source, id, type, subject, time, data, received_at)
    SELECT source, id, type, subject, time, data, received_at
    FROM json_to_recordset(CAST(:rows AS json)) AS x(source varchar, id varchar, type varchar,
         subject varchar, time timestamptz, data json, received_at timestamptz)
    ON CONFLICT (source, id) DO NOTHING""")
_CHUNK = 5000
# SQLite: the driver's executemany with values already in their stored form (the columns' own
# bind processors, fetched once): SQLAlchemy's per-row parameter handling was three fifths of
# ingest. The driver's rowcount sums the rows inserted; a resend inserts none.
_SQLITE_INGEST = ("INSERT INTO usage_events (source, id, type, subject, time, data, received_at, invoice_id) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, NULL) ON CONFLICT (source, id) DO NOTHING")


def _event(e: dict, received_at: datetime) -> dict:
    if not isinstance(e, dict):
        raise UsageError("usage.bad_event", "a usage event is a JSON object")
    missing = [k for k in REQUIRED if k not in e]
    if missing:
        raise UsageError("usage.bad_event", f"usage event lacks {', '.join(missing)} (CloudEvents fields)")
    if not all(isinstance(e[k], str) and e[k] and "\x00" not in e[k] for k in ("id", "source", "type", "subject")):
        raise UsageError("usage.bad_event", "id, source, type and subject are non-empty strings without NUL")
    quantities(e["type"], e["data"], code="usage.bad_event", event=f"usage event {e['source']}/{e['id']}")
    t = e["time"]
    try:
        t = t if isinstance(t, datetime) else datetime.fromisoformat(t.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        raise UsageError("usage.bad_event", f"time is not RFC 3339: {e['time']!r}") from None
    if t.tzinfo is None:
        raise UsageError("usage.bad_event", "time needs a UTC offset")
    return {"source": e["source"], "id": e["id"], "type": e["type"], "subject": e["subject"],
            "time": t.astimezone(UTC), "data": e["data"], "received_at": received_at, "invoice_id": None}


def ingest(session: Session, events: Iterable[dict], *, actor: str = "system") -> int:
    """Store new events, drop resends; returns how many events were new. One audit entry per call
    records the batch (count and a digest of the (source, id) keys)."""
    now = utcnow()
    rows = [_event(e, now) for e in events]
    if not rows:
        return 0
    conn = session.connection()
    dialect = conn.dialect
    new = 0
    if dialect.name == "postgresql":
        for i in range(0, len(rows), _CHUNK):
            # One parameter (the rows as JSON) instead of eight per row: psycopg would re-parse a
            # multi-VALUES statement of thousands of placeholders at every page.
            doc = json.dumps([r | {"time": r["time"].isoformat(), "received_at": r["received_at"].isoformat()}
                              for r in rows[i:i + _CHUNK]], ensure_ascii=False)
            new += conn.execute(_PG_INGEST, {"rows": doc}).rowcount
    else:
        columns = UsageEvent.__table__.c
        stamp, as_json = columns.time.type._cached_bind_processor(dialect), columns.data.type._cached_bind_processor(dialect)
        received = stamp(now)
        cur = conn.connection.cursor()
        cur.executemany(_SQLITE_INGEST, [(r["source"], r["id"], r["type"], r["subject"], stamp(r["time"]),
                                          as_json(r["data"]), received) for r in rows])
        new = cur.rowcount
    digest = hashlib.sha256("\n".join(f"{r['source']} {r['id']}" for r in rows).encode()).hexdigest()
    audit.append(session, actor=actor, action="usage.ingest", subject=rows[0]["subject"],
                 payload={"events": len(rows), "new": new, "keys_sha256": digest})
    return new


def void(session: Session, source: str, id: str, *, reason: str, actor: str) -> UsageEvent:
    """Void one stored event no invoice has taken, with a reason (required, at most ``text.NOTE``
    characters); one audit entry records it. Nothing is deleted: rating skips a voided event.

    Idempotent: voiding a voided event changes nothing and returns it with its first void (who,
    when, why), so a retry after a lost answer is safe and the audit log holds one void per event.
    ``usage.not_found`` for an unknown event, ``usage.already_invoiced`` once an invoice took it
    (an issued invoice never changes)."""
    reason = reason.strip()
    if not reason:
        raise UsageError("usage.reason_required", "say why the usage event is voided: the audit log keeps the reason")
    limits.check_length("reason", reason, limits.NOTE)
    if "\x00" in reason:  # PostgreSQL stores no NUL in text
        raise UsageError("usage.bad_reason", "the reason contains a NUL character")
    # FOR UPDATE: an invoice being issued locks the events it takes (SQLite's write lock serialises too)
    storable = 0 < len(source) <= 200 and 0 < len(id) <= 200 and "\x00" not in source + id
    event = session.get(UsageEvent, (source, id), with_for_update=True) if storable else None
    if event is None:
        raise NotFound("usage.not_found", f"no usage event {source[:200]}/{id[:200]}")
    if event.voided_at is not None:
        return event
    if event.invoice_id is not None:
        raise Conflict("usage.already_invoiced", f"usage event {source}/{id} is on invoice {event.invoice_id}, "
                                                 "and an issued invoice never changes")
    event.voided_at, event.voided_by, event.void_reason = utcnow(), actor, reason
    audit.append(session, actor=actor, action="usage.void", subject=event.subject,
                 payload={"source": source, "id": id, "type": event.type, "time": iso(event.time),
                          "data": _as_data(event.data), "reason": reason})
    return event


def event_json(e: UsageEvent) -> dict:
    """One stored event as data: its CloudEvents fields, the invoice that took it, and its void."""
    return {"source": e.source, "id": e.id, "type": e.type, "subject": e.subject, "time": iso(e.time),
            "data": _as_data(e.data), "invoice_id": e.invoice_id, "voided": e.voided_at is not None,
            "voided_at": iso(e.voided_at), "voided_by": e.voided_by, "void_reason": e.void_reason}


def _as_data(data: object) -> object:
    """Stored data as strict JSON: an old row's NaN or Infinity (Python's JSON reads them) becomes
    the string ``"NaN"``/``"Infinity"``, which every JSON reader takes and the API can answer."""
    return json.loads(json.dumps(data), parse_constant=str)
