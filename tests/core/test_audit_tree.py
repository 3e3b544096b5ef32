"""The audit log as an RFC 6962 Merkle tree with signed checkpoints, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, text

from suanshu.audit import checkpoint, log, merkle
from suanshu.audit.models import AuditEvent, AuditTree
from suanshu.core.errors import NotFound


def _mth(leaves):  # RFC 6962 §2.1 written out recursively, as a reference
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return merkle.node_hash(_mth(leaves[:k]), _mth(leaves[k:]))


def test_merkle_proofs_against_the_definition():
    leaves = [merkle.leaf_hash(f"entry {i}".encode()) for i in range(33)]
    tree = merkle.Tree(leaves)
    for n in range(1, len(leaves) + 1):
        root = _mth(leaves[:n])
        assert merkle.root(leaves[:n]) == root == tree.mth(0, n)
        for i in range(n):
            path = tree.inclusion_proof(i, n)
            assert merkle.verify_inclusion(leaves[i], i, n, path, root)
            assert not merkle.verify_inclusion(leaves[i], i, n, path, merkle.EMPTY_ROOT)
            if n > 1:
                assert not merkle.verify_inclusion(leaves[(i + 1) % n], i, n, path, root)
        for m in range(n + 1):
            proof = tree.consistency_proof(m, n)
            assert merkle.verify_consistency(m, n, _mth(leaves[:m]), root, proof)
            if 0 < m < n:
                assert not merkle.verify_consistency(m, n, _mth(leaves[1:m + 1]), root, proof)


def test_rfc6962_empty_and_known_hashes():
    assert merkle.EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    # RFC 6962 test vector: the leaf hash of the empty entry.
    assert merkle.leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"


def _append(db, n, start=0):
    with db.transaction() as s:
        for i in range(start, start + n):
            log.append(s, actor="t", action="test.event", subject=f"s{i}", payload={"i": i, "名": "气象"})


def test_appends_keep_the_tree_head(db):
    for n in (1, 2, 4, 6):
        _append(db, n)
    with db.transaction() as s:
        leaves = [bytes.fromhex(h) for h in s.scalars(select(AuditEvent.leaf_hash).order_by(AuditEvent.seq))]
        tree = s.get(AuditTree, 1)
        assert tree.size == 13 and tree.root == _mth(leaves).hex()
        ev = s.get(AuditEvent, 5)
        assert ev.leaf_hash == merkle.leaf_hash(log.event_entry(ev)).hex()
        result = log.verify(s)
    assert result.ok and result.entries == 13 and result.root == tree.root


def test_inclusion_proof_checks_against_a_signed_checkpoint(db, settings):
    _append(db, 11)
    cp = checkpoint.checkpoint(db, settings.home)
    _append(db, 3, start=11)
    with db.transaction() as s:
        proof = log.prove(s, 7, cp.tree_size)
    assert proof["leaf_index"] == 6 and proof["root"] == cp.root
    # What a third party does, from the printed JSON alone:
    leaf = merkle.leaf_hash(proof["entry"].encode())
    assert leaf.hex() == proof["leaf_hash"]
    assert merkle.verify_inclusion(leaf, proof["leaf_index"], proof["tree_size"],
                                   [bytes.fromhex(h) for h in proof["audit_path"]], bytes.fromhex(cp.root))
    assert checkpoint.check_signature(cp, checkpoint.public_key(settings.home))
    assert json.loads(proof["entry"])["seq"] == 7
    with db.transaction() as s:  # a tree that does not hold the entry, or is not there yet: the size is wrong
        codes = []
        for seq, size in ((7, 6), (7, 100), (99, None)):
            with pytest.raises(NotFound) as err:
                log.prove(s, seq, size)
            codes.append(err.value.code)
    assert codes == ["audit.bad_tree_size", "audit.bad_tree_size", "audit.entry_not_found"]


def test_checkpoints_verify_and_are_exported(db, settings):
    for n in (3, 5, 1):
        _append(db, n)
        checkpoint.checkpoint(db, settings.home)
    checkpoint.checkpoint(db, settings.home)  # nothing new: no second checkpoint at the same size
    exported = checkpoint.read_jsonl(checkpoint.export_path(settings.home))
    assert [c.tree_size for c in exported] == [3, 8, 9]
    with db.transaction() as s:
        result = checkpoint.verify(s, settings.home)
    assert result.ok and result.checkpoints == 3 and result.entries == 9


COLUMNS = [("actor", "'mallory'"), ("action", "'test.other'"), ("subject", "'x'"),
           ("payload", "'{\"i\": 99}'"), ("prev_hash", f"'{'1' * 64}'"), ("hash", f"'{'2' * 64}'"),
           ("leaf_hash", f"'{'3' * 64}'"), ("time", "'2020-01-01 00:00:00'")]


@pytest.mark.parametrize("column, value", COLUMNS)
def test_tampering_any_column_names_the_entry(db, settings, column, value):
    _append(db, 9)
    checkpoint.checkpoint(db, settings.home)
    with db.transaction() as s:
        if s.get_bind().dialect.name == "postgresql":
            value += {"payload": "::json", "time": "::timestamptz"}.get(column, "")
        s.execute(text(f"UPDATE audit_events SET {column} = {value} WHERE seq = 4"))
    with db.transaction() as s:
        result = checkpoint.verify(s, settings.home)
    assert not result.ok and result.first_broken == 4, result


def _rewrite(db, seq: int | None = None, payload: dict | None = None, keep: int | None = None) -> None:
    """What an attacker with database access does: change entry ``seq`` (or keep only the first
    ``keep`` entries) and recompute every hash and the tree head, leaving times as they were."""
    with db.transaction() as s:
        events = [(e.seq, e.time, e.actor, e.action, e.subject, payload if e.seq == seq else e.payload)
                  for e in s.scalars(select(AuditEvent).order_by(AuditEvent.seq))][:keep]
        for table in ("audit_events", "audit_tree", "audit_checkpoints"):
            s.execute(text(f"DELETE FROM {table}"))
        s.flush()
        s.expunge_all()
        prev, frontier = log.GENESIS, []
        for i, (n, time, actor, action, subject, body_payload) in enumerate(events):
            body = log.entry_bytes(n, time, actor, action, subject, body_payload)
            chain = hashlib.sha256(bytes.fromhex(prev) + body).hexdigest()
            leaf = merkle.leaf_hash(body)
            s.add(AuditEvent(seq=n, time=time, actor=actor, action=action, subject=subject,
                             payload=body_payload, prev_hash=prev, hash=chain, leaf_hash=leaf.hex()))
            frontier, prev = merkle.frontier_append(frontier, i, leaf), chain
        s.add(AuditTree(id=1, size=len(events), root=merkle.frontier_root(frontier).hex(),
                        frontier=[f.hex() for f in frontier], chain_head=prev))


def test_a_rewritten_history_fails_against_an_exported_checkpoint(db, settings):
    _append(db, 5)
    checkpoint.checkpoint(db, settings.home)
    _append(db, 5, start=5)
    checkpoint.checkpoint(db, settings.home)
    _rewrite(db, 7, {"i": "forged"})
    with db.transaction() as s:
        assert log.verify(s).ok  # self-consistent: a chain alone cannot tell
        result = checkpoint.verify(s, settings.home)
    assert not result.ok and result.first_broken == 6 and "6 to 10" in result.reason


def test_truncating_the_newest_entries_is_detected(db, settings):
    _append(db, 8)
    checkpoint.checkpoint(db, settings.home)
    _rewrite(db, keep=6)  # drop entries 7 and 8, recompute the head, drop the stored checkpoints
    with db.transaction() as s:
        assert log.verify(s).ok  # the database alone looks fine
        result = checkpoint.verify(s, settings.home)
    assert not result.ok and result.first_broken == 7 and "missing" in result.reason


def test_a_forged_checkpoint_signature_fails(db, settings):
    _append(db, 3)
    cp = checkpoint.checkpoint(db, settings.home)
    forged = checkpoint.SignedCheckpoint(cp.tree_size, cp.root, cp.time, cp.key_id, "00" * 64)
    with db.transaction() as s:
        result = checkpoint.verify(s, settings.home, [forged])
    assert not result.ok and "signature" in result.reason


def test_migration_backfills_leaves_of_an_existing_chain(database_url, settings):
    """A database with history from before the Merkle tree upgrades and verifies."""
    from datetime import UTC, datetime

    from suanshu.core import migrate
    from suanshu.core.db import Database

    db = Database(settings)
    migrate.upgrade(db.engine, "0003")
    prev = log.GENESIS
    with db.engine.begin() as conn:
        for seq in range(1, 8):
            time = datetime(2026, 1, 1, 0, 0, seq, tzinfo=UTC)
            payload = {"n": seq, "名": "旧"}
            h = log.entry_hash(prev, seq, time, "old", "test.old", f"s{seq}", payload)
            conn.execute(text("INSERT INTO audit_events (seq, time, actor, action, subject, payload, prev_hash, hash) "
                              "VALUES (:seq, :time, 'old', 'test.old', :subject, :payload, :prev, :hash)"),
                         {"seq": seq, "time": time, "subject": f"s{seq}",
                          "payload": json.dumps(payload, ensure_ascii=False), "prev": prev, "hash": h})
            prev = h
    migrate.upgrade(db.engine)
    _append(db, 2)
    with db.transaction() as s:
        result = log.verify(s)
    db.dispose()
    assert result.ok and result.entries == 9, result


@given(actor=st.text(max_size=20), action=st.text(max_size=20), subject=st.text(max_size=20),
       payload=st.dictionaries(st.text(max_size=8), st.one_of(st.integers(), st.text(max_size=8), st.none()),
                               max_size=4),
       seq=st.integers(1, 2**40), micros=st.integers(0, 10**15))
def test_append_builds_the_canonical_entry_bytes(actor, action, subject, payload, seq, micros):
    """append assembles entries from a pre-encoded payload; verify recomputes them with
    entry_bytes: the two must agree byte for byte for every string, or verify would fail."""
    from datetime import UTC, datetime, timedelta

    when = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    fast = log._entry_bytes_fast(seq, when, actor, action, subject, log.canonical(payload))
    assert fast == log.entry_bytes(seq, when, actor, action, subject, payload)


def test_many_appends_in_one_transaction_are_written_at_flush(db):
    """Entries are held in memory and inserted together; a query in the same transaction
    (autoflush) sees them, and appends after it continue the same tree."""
    with db.transaction() as s:
        first = [log.append(s, actor="t", action="t", subject=f"s{i}") for i in range(5)]
        assert s.scalar(select(text("count(*)")).select_from(AuditEvent)) == 5
        later = [log.append(s, actor="t", action="t", subject=f"s{i}", payload={"i": i}) for i in range(5, 9)]
    assert [e.seq for e in first + later] == list(range(1, 10))
    with db.transaction() as s:
        assert log.verify(s).ok and log.head(s).size == 9
        assert log.head(s).root == merkle.Tree([bytes.fromhex(e.leaf_hash) for e in first + later]).mth(0, 9).hex()
