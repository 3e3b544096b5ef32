"""The append-only audit log, written in the same transaction as each change.

Each event is one canonical entry, ``canonical(seq, time, actor, action, subject, payload)``,
stored twice over:

* a hash chain: ``hash = SHA-256(prev_hash || entry)`` (the foundation's format, kept);
* an RFC 6962 Merkle tree: leaf ``seq - 1`` is ``SHA-256(0x00 || entry)``. The one-row
  ``audit_tree`` head (size, root, frontier) is updated by every append, O(log n).

``verify`` recomputes both from the stored rows and names the first broken entry; given
signed checkpoints (``suanshu.audit.checkpoint``) it also checks that each checkpoint's root
is the root of that prefix of the log and that consecutive checkpoints are consistent (RFC
9162 consistency proofs), so rewriting history or truncating the newest entries is caught by
any checkpoint kept outside the database.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import NamedTuple
from datetime import datetime

from sqlalchemy import event, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from suanshu.audit import merkle
from suanshu.audit.models import AuditEvent, AuditTree
from suanshu.core.clock import iso, utcnow
from suanshu.core.errors import NotFound

GENESIS = "0" * 64
EMPTY_ROOT = merkle.EMPTY_ROOT.hex()
_HEAD_ID = 1

# Called with (session, event) after every append, inside the appending transaction: lets an
# adapter record "this request's effects committed" atomically with them (Idempotency-Key).
on_append: ContextVar[Callable[[Session, Entry], None] | None] = ContextVar("audit_on_append", default=None)


def canonical(obj) -> bytes:
    """Stable JSON: sorted keys, no spaces, UTF-8 kept as is."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def entry_bytes(seq: int, time: datetime, actor: str, action: str, subject: str, payload: dict) -> bytes:
    """The canonical entry: what the chain hash and the Merkle leaf hash are computed over."""
    return canonical({"seq": seq, "time": iso(time), "actor": actor, "action": action,
                      "subject": subject, "payload": payload})


_quote = json.encoder.encode_basestring  # what json.dumps(ensure_ascii=False) does to a str


def _entry_bytes_fast(seq: int, time: datetime, actor: str, action: str, subject: str,
                      payload_json: bytes) -> bytes:
    """``entry_bytes`` assembled from an already canonical payload: the same bytes (keys in
    sorted order: action, actor, payload, seq, subject, time) without encoding the payload
    twice. Used by ``append`` for str fields; ``verify`` recomputes with ``entry_bytes``."""
    return (f'{{"action":{_quote(action)},"actor":{_quote(actor)},"payload":'.encode() + payload_json
            + f',"seq":{seq},"subject":{_quote(subject)},"time":{_quote(iso(time))}}}'.encode())


def entry_hash(prev_hash: str, seq: int, time: datetime, actor: str, action: str, subject: str, payload: dict) -> str:
    body = entry_bytes(seq, time, actor, action, subject, payload)
    return hashlib.sha256(bytes.fromhex(prev_hash) + body).hexdigest()


def event_entry(ev: AuditEvent) -> bytes:
    return entry_bytes(ev.seq, ev.time, ev.actor, ev.action, ev.subject, ev.payload)


def leaf_index(ev: AuditEvent | Entry) -> int:
    return ev.seq - 1


_TREE_KEY = identity_key(AuditTree, _HEAD_ID)
_TREE_COLUMNS = ("size", "root", "frontier", "chain_head")
_EVENT_COLUMNS = ("seq", "time", "actor", "action", "subject", "payload", "prev_hash", "hash", "leaf_hash")


class _Statements:
    """The appender's fixed SQL for one dialect, run on the session's DB-API cursor (no ORM
    object, no statement compilation; the driver prepares them), with the bind processors of
    the columns' own types: the rows hold exactly what the ORM would have stored."""

    def __init__(self, dialect):
        m = "?" if dialect.paramstyle == "qmark" else "%s"
        self.lock = "SELECT pg_advisory_xact_lock(6962)" if dialect.name == "postgresql" else None
        self.read_head = "SELECT size, root, frontier, chain_head FROM audit_tree WHERE id = 1"
        self.update_head = (f"UPDATE audit_tree SET size = {m}, root = {m}, frontier = {m}, "
                            f"chain_head = {m} WHERE id = 1")
        self.insert_head = (f"INSERT INTO audit_tree (size, root, frontier, chain_head, id) "
                            f"VALUES ({m}, {m}, {m}, {m}, 1)")
        self.insert_events = (f"INSERT INTO audit_events ({', '.join(_EVENT_COLUMNS)}) "
                              f"VALUES ({', '.join([m] * len(_EVENT_COLUMNS))})")
        events, tree = AuditEvent.__table__.c, AuditTree.__table__.c
        self.time = events.time.type._cached_bind_processor(dialect)
        self.payload = events.payload.type._cached_bind_processor(dialect)
        self.frontier = tree.frontier.type._cached_bind_processor(dialect)


_statements: dict[str, _Statements] = {}


def head(session: Session) -> AuditTree:
    """The tree head, this transaction's appends included. A database migrated before any
    append has it at size 0 (a transient ``AuditTree``; the first append inserts the row)."""
    write_pending(session)
    tree = session.get(AuditTree, _HEAD_ID, populate_existing=True)
    if tree is None:
        tree = AuditTree(id=_HEAD_ID, size=0, root=EMPTY_ROOT, frontier=[], chain_head=GENESIS)
    return tree


class _Appending:
    """One transaction's appends: the locked tree head held in memory (frontier as bytes) and
    the entries not inserted yet. They are written before the session's next flush, query or
    commit (``write_pending``): one INSERT for all of them and one UPDATE of the head, however
    many were appended."""

    __slots__ = ("txn", "cur", "sql", "stored", "size", "chain_head", "frontier", "rows")

    def __init__(self, txn, cur, sql: _Statements, row):
        self.txn, self.cur, self.sql, self.stored = txn, cur, sql, row is not None
        if row is None:  # no head row yet
            self.size, self.chain_head, self.frontier = 0, GENESIS, []
        else:
            size, _root, frontier, self.chain_head = row
            if isinstance(frontier, str):  # SQLite returns the JSON text, psycopg the list
                frontier = json.loads(frontier)
            self.size, self.frontier = size, [bytes.fromhex(h) for h in frontier]
        self.rows: list[tuple] = []


def _appending(session: Session) -> _Appending:
    """Lock and read the head once per transaction; later appends in the same transaction reuse
    it (it cannot change under us while we hold the lock), so a batch of appends costs one read.
    Appends are serialised by SQLite's write lock (BEGIN IMMEDIATE) or, on PostgreSQL, by a
    transaction-scoped advisory lock taken before the read."""
    txn = session.get_transaction()
    state = session.info.get("audit_head")
    if state is not None and state.txn is txn:
        return state
    if state is None:  # this session's first append: its queries write pending entries first
        event.listen(session, "do_orm_execute", _before_query)
    # The caller's pending rows go first, as when the head was read through the ORM (autoflush):
    # their row locks (a foreign key's on a contract) then the audit lock, in every transaction.
    # Taken the other way round, two transactions deadlock on PostgreSQL.
    if session.new or session.dirty or session.deleted:
        session.flush()
    conn = session.connection()
    sql = _statements.get(conn.dialect.name)
    if sql is None:
        sql = _statements[conn.dialect.name] = _Statements(conn.dialect)
    cur = conn.connection.cursor()
    if sql.lock:
        cur.execute(sql.lock)
    cur.execute(sql.read_head)
    state = _Appending(txn, cur, sql, cur.fetchone())
    session.info["audit_head"] = state
    return state


class Entry(NamedTuple):
    """An appended entry, as the row ``audit_events`` will hold (same names as ``AuditEvent``)."""

    seq: int
    time: datetime
    actor: str
    action: str
    subject: str
    payload: dict
    prev_hash: str
    hash: str
    leaf_hash: str


def append(session: Session, *, actor: str, action: str, subject: str, payload: dict | None = None,
           time: datetime | None = None) -> Entry:
    """Append one event inside the caller's transaction; it commits or rolls back with the change.

    O(log n) hashes, no reads after the first append of a transaction, and no ORM bookkeeping:
    the returned ``Entry`` holds the row's values; the row is inserted with the rest of the
    transaction's entries before the session's next flush, query or commit. ``time`` defaults
    to now; replays and cross-backend tests pass it to get byte-identical entries.
    """
    st = _appending(session)
    seq, prev = st.size + 1, st.chain_head
    # Round-trip the payload through JSON so what we hash is exactly what we store.
    payload_json = canonical(payload) if payload else b"{}"
    payload = json.loads(payload_json) if payload else {}
    time = time or utcnow()
    if type(actor) is str and type(action) is str and type(subject) is str:
        body = _entry_bytes_fast(seq, time, actor, action, subject, payload_json)
    else:
        body = entry_bytes(seq, time, actor, action, subject, payload)
    leaf = merkle.leaf_hash(body).hex()
    chain = hashlib.sha256(bytes.fromhex(prev) + body).hexdigest()
    st.frontier = merkle.frontier_append(st.frontier, st.size, bytes.fromhex(leaf))
    st.size, st.chain_head = seq, chain
    event = Entry(seq, time, actor, action, subject, payload, prev, chain, leaf)
    st.rows.append(event)
    if (hook := on_append.get()) is not None:
        hook(session, event)
    return event


def write_pending(session: Session) -> None:
    """Insert the transaction's pending entries in one statement and bring the head up to date.

    Runs before every flush and commit of the session and before the queries of a session that
    appended (``Session.execute``, ``get``, ``scalars``...; the listeners below). Call it before
    reading ``audit_events`` or ``audit_tree`` in the appending transaction some other way (a
    Core connection of the session, raw SQL on its DB-API connection)."""
    st = session.info.get("audit_head")
    if st is None or not st.rows or st.txn is not session.get_transaction():
        return
    rows, st.rows = st.rows, []
    sql, cur = st.sql, st.cur
    when, as_json = sql.time, sql.payload
    cur.executemany(sql.insert_events, [(r[0], when(r[1]), r[2], r[3], r[4], as_json(r[5]), *r[6:])
                                        for r in rows])
    frontier = [h.hex() for h in st.frontier]
    values = (st.size, merkle.frontier_root(st.frontier).hex(), frontier, st.chain_head)
    cur.execute(sql.update_head if st.stored else sql.insert_head,
                (values[0], values[1], sql.frontier(frontier), values[3]))
    st.stored = True
    tree = session.identity_map.get(_TREE_KEY)
    if tree is not None:  # a head the session loaded before: make it what the database holds
        for name, value in zip(_TREE_COLUMNS, values, strict=True):
            set_committed_value(tree, name, value)


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _flush_context, _instances) -> None:
    write_pending(session)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    write_pending(session)


def _before_query(state) -> None:
    """A query in the appending transaction sees its entries, as the ORM's autoflush did when
    the head was an ORM object that every append marked dirty. Listened to on the sessions
    that append only (about 7 µs once per session), not on every session's every query."""
    write_pending(state.session)


# --------------------------------------------------------------------------- verification

@dataclass(frozen=True)
class Checkpoint:
    """A (tree size, root) that must hold for the log; signatures are checked by the caller."""

    tree_size: int
    root: str


@dataclass(frozen=True)
class Verification:
    ok: bool
    entries: int
    head: str  # the chain head (hash of the newest entry)
    first_broken: int | None = None
    reason: str = ""
    root: str = ""
    checkpoints: int = 0

    def to_dict(self) -> dict:
        return {"ok": self.ok, "entries": self.entries, "tree_size": self.entries, "root": self.root,
                "head": self.head, "checkpoints": self.checkpoints,
                "first_broken": self.first_broken, "reason": self.reason}


def verify(session: Session, checkpoints: Iterable[Checkpoint] = (), batch: int = 5000) -> Verification:
    """Recompute chain, leaves and tree from the first entry; report the first entry that does
    not match. Checkpoints (already signature-checked) must be roots of prefixes of the log."""
    cps = sorted({c.tree_size: c for c in checkpoints}.values(), key=lambda c: c.tree_size)
    by_size = {c.tree_size: c for c in cps}
    keep = cps[-1].tree_size if cps else 0  # leaf hashes kept for consistency proofs
    leaves: list[bytes] = []
    frontier: list[bytes] = []
    prev, count, last_seq = GENESIS, 0, 0

    def result(ok: bool, broken: int | None = None, reason: str = "") -> Verification:
        return Verification(ok, count, prev, broken, reason, merkle.frontier_root(frontier).hex(), len(cps))

    def since_checkpoint(size: int) -> int:
        """The first entry a mismatching checkpoint of ``size`` can blame: after the one before."""
        earlier = [c.tree_size for c in cps if c.tree_size < size]
        return (earlier[-1] if earlier else 0) + 1

    while True:
        rows = session.execute(
            select(AuditEvent).where(AuditEvent.seq > last_seq).order_by(AuditEvent.seq).limit(batch)
        ).scalars().all()
        if not rows:
            break
        for ev in rows:
            expected = count + 1
            if ev.seq != expected:
                return result(False, ev.seq, f"gap: expected entry {expected}, found {ev.seq}")
            if ev.prev_hash != prev:
                return result(False, ev.seq, "prev_hash does not match the previous entry")
            body = event_entry(ev)
            if hashlib.sha256(bytes.fromhex(prev) + body).hexdigest() != ev.hash:
                return result(False, ev.seq, "entry content does not match its hash")
            leaf = merkle.leaf_hash(body)
            if leaf.hex() != ev.leaf_hash:
                return result(False, ev.seq, "leaf_hash does not match the entry")
            frontier = merkle.frontier_append(frontier, count, leaf)
            if count < keep:
                leaves.append(leaf)
            prev, count, last_seq = ev.hash, expected, ev.seq
            cp = by_size.get(count)
            if cp is not None and merkle.frontier_root(frontier).hex() != cp.root:
                return result(False, since_checkpoint(count),
                              f"the first {count} entries do not have the root of the signed checkpoint "
                              f"at size {count}: an entry from {since_checkpoint(count)} to {count} was changed")

    if cps and cps[-1].tree_size > count:
        return result(False, count + 1, f"entries {count + 1}..{cps[-1].tree_size} are missing: a signed "
                                        f"checkpoint covers {cps[-1].tree_size} entries, the log has {count}")
    tree = session.get(AuditTree, _HEAD_ID)
    root = merkle.frontier_root(frontier).hex()
    if tree is None and count:
        return result(False, None, "the tree head is missing")
    if tree is not None:
        if tree.size > count:
            return result(False, count + 1, f"entries {count + 1}..{tree.size} are missing (the tree head "
                                            f"says {tree.size} entries)")
        if (tree.size, tree.root, tree.chain_head, tree.frontier) != (
                count, root, prev, [h.hex() for h in frontier]):
            return result(False, None, "the tree head does not match the entries")
    # Consistency: each checkpoint's tree is a prefix of the next one's (RFC 9162 §2.1.4).
    proofs = merkle.Tree(leaves)
    for old, new in zip(cps, cps[1:], strict=False):
        path = proofs.consistency_proof(old.tree_size, new.tree_size)
        if not merkle.verify_consistency(old.tree_size, new.tree_size, bytes.fromhex(old.root),
                                         bytes.fromhex(new.root), path):
            return result(False, old.tree_size + 1, f"checkpoint {new.tree_size} is not consistent "
                                                     f"with checkpoint {old.tree_size}")
    return result(True)


# --------------------------------------------------------------------------- proofs

def leaf_hashes(session: Session, size: int, batch: int = 20000) -> list[bytes]:
    """The first ``size`` leaf hashes, in order (proofs read one column, never the payloads)."""
    out: list[bytes] = []
    while len(out) < size:
        rows = session.execute(select(AuditEvent.leaf_hash).where(AuditEvent.seq > len(out))
                               .order_by(AuditEvent.seq).limit(min(batch, size - len(out)))).scalars().all()
        if not rows:
            break
        out.extend(bytes.fromhex(h) for h in rows)
    return out


def prove(session: Session, seq: int, tree_size: int | None = None) -> dict:
    """An inclusion proof of entry ``seq`` in the tree of ``tree_size`` entries (default: now).

    Everything a third party needs: the entry's canonical bytes (hash them to get the leaf),
    its index, the tree size, the audit path and the root to compare with a signed checkpoint.
    """
    ev = session.get(AuditEvent, seq)
    tree = head(session)
    size = tree.size if tree_size is None else tree_size
    if ev is None or not 1 <= seq <= tree.size:
        raise NotFound("audit.entry_not_found", f"no audit entry {seq} in a tree of {tree.size} entries")
    if not seq <= size <= tree.size:
        raise NotFound("audit.bad_tree_size", f"a proof of entry {seq} needs a tree size from {seq} to {tree.size}")
    t = merkle.Tree(leaf_hashes(session, size))
    body = event_entry(ev)
    return {"seq": ev.seq, "leaf_index": leaf_index(ev), "tree_size": size,
            "entry": body.decode(), "leaf_hash": merkle.leaf_hash(body).hex(),
            "audit_path": [h.hex() for h in t.inclusion_proof(leaf_index(ev), size)],
            "root": t.mth(0, size).hex()}


def consistency(session: Session, old_size: int, new_size: int) -> dict:
    tree = head(session)
    if not 0 <= old_size <= new_size <= tree.size:
        raise NotFound("audit.bad_tree_size", f"sizes must satisfy 0 <= {old_size} <= {new_size} <= {tree.size}")
    t = merkle.Tree(leaf_hashes(session, new_size))
    return {"old_size": old_size, "new_size": new_size, "old_root": t.mth(0, old_size).hex(),
            "new_root": t.mth(0, new_size).hex(),
            "proof": [h.hex() for h in t.consistency_proof(old_size, new_size)]}
