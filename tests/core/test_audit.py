"""The audit chain on SQLite and PostgreSQL: appends in the caller's transaction, tamper evidence."""

import pytest
from sqlalchemy import text

from suanshu.audit import log


def _append(db, n, **payload):
    with db.transaction() as s:
        for i in range(n):
            log.append(s, actor="t", action="test.event", subject=f"s{i}", payload={"i": i, **payload})


def test_chain_verifies(db):
    _append(db, 5, 名称="气象")
    with db.transaction() as s:
        result = log.verify(s)
    assert result.ok and result.entries == 5


def test_rolled_back_change_leaves_no_entry(db):
    _append(db, 2)
    with pytest.raises(RuntimeError), db.transaction() as s:
        log.append(s, actor="t", action="test.event", subject="x")
        raise RuntimeError("the change failed")
    with db.transaction() as s:
        assert log.verify(s).entries == 2


@pytest.mark.parametrize("column, value", [("actor", "'mallory'"), ("payload", "'{\"i\": 99}'"),
                                           ("subject", "'other'"), ("hash", "'00'")])
def test_tampering_names_the_entry(db, column, value):
    _append(db, 6)
    with db.transaction() as s:
        if column == "payload" and s.get_bind().dialect.name == "postgresql":
            value += "::json"
        s.execute(text(f"UPDATE audit_events SET {column} = {value} WHERE seq = 4"))
    with db.transaction() as s:
        result = log.verify(s)
    assert not result.ok and result.first_broken == 4


def test_deleted_entry_is_a_gap(db):
    _append(db, 4)
    with db.transaction() as s:
        s.execute(text("DELETE FROM audit_events WHERE seq = 2"))
    with db.transaction() as s:
        result = log.verify(s)
    assert not result.ok and result.first_broken == 3
