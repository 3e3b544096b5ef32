"""Usage ingest: CloudEvents-shaped records, deduplicated on (source, id) by the database.

Fields (CloudEvents 1.0 names): ``id``, ``source``, ``type``, ``subject``, ``time`` (RFC 3339),
``data`` (a JSON object with the type's quantities, whole numbers from 0 up: ``rating.quantities``,
checked here so that a stored event can always be rated). A resend, from a retry or a replayed
queue, is dropped by the primary key (``INSERT ... ON CONFLICT DO NOTHING``), so ingest is
idempotent and order-free.
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
from suanshu.core.clock import utcnow
from suanshu.core.errors import UsageError

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
    if not all(isinstance(e[k], str) and e[k] for k in ("id", "source", "type", "subject")):
        raise UsageError("usage.bad_event", "id, source, type and subject are non-empty strings")
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
