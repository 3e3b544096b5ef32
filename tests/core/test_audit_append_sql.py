"""The audit appender's fixed SQL (no ORM objects): the same bytes as the ORM stores, visible to
queries in the appending transaction, and the head written even when its row is missing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text

from suanshu.audit import log
from suanshu.audit.models import AuditEvent, AuditTree

T0 = datetime(2026, 12, 2, 1, 2, 3, 456789, tzinfo=UTC)


def _raw(s) -> tuple[list, list]:
    """What the database holds, as text (JSON and timestamps as stored, not as parsed)."""
    cast = "" if s.get_bind().dialect.name == "sqlite" else "::text"
    tree = s.execute(text(f"SELECT id, size, root, frontier{cast}, chain_head FROM audit_tree")).all()
    events = s.execute(text(f"SELECT seq, time{cast}, actor, action, subject, payload{cast}, prev_hash, "
                            "hash, leaf_hash FROM audit_events ORDER BY seq")).all()
    return [tuple(r) for r in tree], [tuple(r) for r in events]


def test_rows_are_the_bytes_the_orm_stores(db):
    entries = []
    for group in (1, 3, 1, 6):
        with db.transaction() as s:
            for _ in range(group):
                n = len(entries) + 1
                entries.append(log.append(s, actor="system:ledger", action="ledger.seal", subject=f"t@{n}",
                                          payload={"first_timestamp": n, "名": "气象", "x": [1, 2.5, None]},
                                          time=T0 + timedelta(microseconds=n)))
    with db.transaction() as s:
        written = _raw(s)
        tree = log.head(s)
        head = dict(id=1, size=tree.size, root=tree.root, frontier=list(tree.frontier),
                    chain_head=tree.chain_head)
    with db.transaction() as s:  # the same rows through the ORM
        s.execute(text("DELETE FROM audit_events"))
        s.execute(text("DELETE FROM audit_tree"))
    with db.transaction() as s:
        s.add_all([AuditEvent(**e._asdict()) for e in entries] + [AuditTree(**head)])
    with db.transaction() as s:
        assert _raw(s) == written
        assert log.verify(s).ok


def test_a_query_in_the_appending_transaction_sees_the_entries(db):
    with db.transaction() as s:
        loaded = s.get(AuditTree, 1)
        assert loaded.size == 0
        log.append(s, actor="t", action="test.event", subject="a")
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == 1
        assert s.execute(text("SELECT size FROM audit_tree")).scalar() == 1
        assert loaded.size == 1 and loaded.root == log.head(s).root  # the loaded head is kept current
        log.append(s, actor="t", action="test.event", subject="b")
        s.flush()  # a clean session's flush writes them too
        assert s.execute(text("SELECT count(*) FROM audit_events")).scalar() == 2
        assert log.verify(s).ok and loaded.size == 2
    with db.transaction() as s:
        assert log.head(s).size == 2 and log.verify(s).ok


def test_a_rolled_back_append_leaves_nothing(db):
    with db.transaction() as s:
        log.append(s, actor="t", action="test.event", subject="kept")
    s = db._sessions()
    with s.begin():
        log.append(s, actor="t", action="test.event", subject="gone")
        s.rollback()
    s.close()
    with db.transaction() as s:
        log.append(s, actor="t", action="test.event", subject="next")
    with db.transaction() as s:
        assert [e.subject for e in s.scalars(select(AuditEvent).order_by(AuditEvent.seq))] == ["kept", "next"]
        assert log.verify(s).ok


def test_the_first_append_writes_a_missing_head_row(db):
    with db.transaction() as s:
        s.execute(text("DELETE FROM audit_tree"))
    with db.transaction() as s:
        assert log.head(s).size == 0
        log.append(s, actor="t", action="test.event", subject="a")
    with db.transaction() as s:
        log.append(s, actor="t", action="test.event", subject="b")
    with db.transaction() as s:
        assert log.head(s).size == 2 and log.verify(s).ok
