"""The ledger engine: TigerBeetle's create_accounts / create_transfers over a SQLAlchemy Session.

A pure library: it knows accounts and transfers, not products, and never commits; it runs
inside the caller's transaction so the caller can write its audit entry alongside.

How a batch runs (the shape the batched sequencer will keep):

1. Every event is checked to be *representable* (ids are 32 lowercase hex characters, ints fit
   their columns, memo is JSON). Anything else is a programming error: ``UsageError``, nothing done.
2. The batch is serialised. SQLite already holds the write lock (``BEGIN IMMEDIATE``); on
   PostgreSQL we take one transaction-scoped advisory lock, so transfers commit in timestamp
   order (paging with ``after_timestamp`` never skips a late committer), then lock every account
   the batch touches with ``SELECT ... FOR UPDATE ORDER BY id`` so writers never deadlock.
   (A caller that also appends to the audit log in the same transaction should call the ledger
   first: the audit log takes its own advisory lock, and one lock order avoids a deadlock.)
3. Everything the batch refers to is loaded in a few set-based queries, not per event. A single
   writer (the sequencer) passes an ``AccountCache``: accounts it has seen are not read again,
   their balances live in memory between batches, checked against ``max(timestamp)``.
4. Events run one by one against that in-memory working set, checks in TigerBeetle's precedence
   order (see ``suanshu.ledger.codes``). A linked chain runs in a scope that is rolled back *in
   memory* when one of its events fails, like TigerBeetle's ``scope_open``/``scope_close``:
   nothing of a failed chain ever reaches the database, so no SAVEPOINT round trips are needed.
5. The survivors are written at once, one statement per table: on PostgreSQL an INSERT and an
   UPDATE whose single parameter is the rows as JSON (``json_to_recordset``); on SQLite the
   driver's ``executemany`` with plain tuples (SQLAlchemy's per-row parameter building cost
   more than the writes themselves).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, TypeVar

from sqlalchemy import JSON, BigInteger, and_, cast, except_, func, insert, literal, or_, select, true, union_all
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from suanshu.core.clock import utcnow
from suanshu.core.errors import Refused, UsageError
from suanshu.core.money import format_fen
from suanshu.ledger.codes import (
    ACCOUNT_FLAGS_KNOWN,
    MAX_AMOUNT,
    TRANSFER_FLAGS_KNOWN,
    AccountFlags,
    CreateAccountResult,
    CreateTransferResult,
    TransferFlags,
)
from suanshu.ledger import seals
from suanshu.ledger.models import Account, AccountIndexMark, AccountPosting, Transfer

R = CreateTransferResult
AR = CreateAccountResult
# Plain ints, not IntFlag members: ``&`` on an enum member is a Python-level call, and the hot
# loop does several per transfer.
LINKED = 1  # the same bit for accounts and transfers
DMNEC = int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
CMNED = int(AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS)
PENDING = int(TransferFlags.PENDING)
POST = int(TransferFlags.POST_PENDING_TRANSFER)
VOID = int(TransferFlags.VOID_PENDING_TRANSFER)
_UNKNOWN_TRANSFER_FLAGS = ~TRANSFER_FLAGS_KNOWN

ZERO_ID = "0" * 32
_HEX128 = re.compile(r"[0-9a-f]{32}")
_MAX_INT32 = 2**31 - 1  # ledger, code, flags and timeout live in INTEGER columns
_LEDGER_LOCK = 0x4C454447  # "LEDG": pg_advisory_xact_lock key serialising ledger batches
_NS = 1_000_000_000  # timestamps are nanoseconds, timeouts seconds
_CHUNK = 1000  # ids per IN (...) list: well under SQLite's and PostgreSQL's parameter limits
_BALANCE_COLUMNS = ("debits_pending", "debits_posted", "credits_pending", "credits_posted")


# --------------------------------------------------------------------------- events

@dataclass(frozen=True)
class NewAccount:
    id: str
    ledger: int
    code: int
    flags: int = 0
    owner: str | None = None
    name: str = ""


@dataclass(frozen=True)
class NewTransfer:
    """A transfer to create. For a post or void, ``debit_account_id``, ``credit_account_id``,
    ``ledger``, ``code``, ``amount`` and ``memo`` may be sent empty ("", 0, {}) to mean "the
    pending transfer's"; so a post with amount 0 posts the full pending amount (TigerBeetle)."""

    id: str
    debit_account_id: str
    credit_account_id: str
    amount: int
    ledger: int
    code: int
    flags: int = 0
    pending_id: str | None = None
    memo: dict = field(default_factory=dict)
    timeout: int = 0  # a pending transfer's life in seconds; 0 = until posted or voided


class _T(NamedTuple):
    """A transfer as plain values: a stored one, or one this batch is about to store.
    (A tuple: built and read several times per transfer, so it must be cheap.)"""

    id: str
    debit_account_id: str
    credit_account_id: str
    amount: int
    pending_id: str  # "" when none
    ledger: int
    code: int
    flags: int
    memo: dict
    timestamp: int = 0
    timeout: int = 0

    def row(self) -> dict:
        return {"id": self.id, "debit_account_id": self.debit_account_id,
                "credit_account_id": self.credit_account_id, "amount": self.amount,
                "pending_id": self.pending_id or None, "ledger": self.ledger, "code": self.code,
                "flags": self.flags, "memo": self.memo, "timestamp": self.timestamp, "timeout": self.timeout}


def _id(value, what: str) -> str:
    """Normalise an id: "" for zero (None, "" or 32 zeros), else 32 lowercase hex characters."""
    if value is None or value == "" or value == ZERO_ID:
        return ""
    if type(value) is not str or not _HEX128.fullmatch(value):
        raise UsageError("ledger.malformed_id",
                         f"{what} must be 32 lowercase hex characters (128 bits), got {value!r}")
    return value


def _int(value, what: str, maximum: int) -> int:
    if type(value) is int and 0 <= value <= maximum:  # the common case, first and cheap
        return value
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise UsageError("ledger.malformed_event",
                         f"{what} must be an integer from 0 to {maximum}, got {value!r}")
    return int(value)  # plain int: drivers need not know our IntEnum/IntFlag types


def _memo(value) -> dict:
    # Round-trip through JSON so comparing with a stored memo compares what the column holds.
    if not isinstance(value, dict):
        raise UsageError("ledger.malformed_event",
                         f"memo must be a JSON object, got {type(value).__name__}")
    if not value:
        return {}
    try:
        return json.loads(json.dumps(value, sort_keys=True, ensure_ascii=False))
    except (TypeError, ValueError) as exc:
        raise UsageError("ledger.malformed_event", f"memo is not JSON: {exc}") from exc


_HEX384 = re.compile(r"[0-9a-f]{96}")  # three ids side by side: one regex call checks them all
_new_t = tuple.__new__  # _T from all eleven values, without NamedTuple's Python-level __new__


def _checked(i, dr, cr, amount, pending_id, ledger, code, flags, memo, timeout) -> _T:
    # The common event first, checked in a few C calls: three non-zero ids, no pending id, ints in
    # range, no memo. Anything else (or anything wrong) takes the field-by-field path below,
    # which gives the same values and the precise error.
    # (Codes and flags usually arrive as IntEnum/IntFlag members: stored as plain ints.)
    if (type(i) is str and type(dr) is str and type(cr) is str and (pending_id is None or pending_id == "")
            and _HEX384.fullmatch(i + dr + cr) and ZERO_ID not in (i, dr, cr)
            and type(amount) is int and 0 <= amount <= MAX_AMOUNT
            and isinstance(ledger, int) and isinstance(code, int) and isinstance(flags, int)
            and isinstance(timeout, int) and bool not in (type(ledger), type(code), type(flags), type(timeout))
            and 0 <= (ledger := int(ledger)) <= _MAX_INT32 and 0 <= (code := int(code)) <= _MAX_INT32
            and 0 <= (flags := int(flags)) <= _MAX_INT32 and 0 <= (timeout := int(timeout)) <= _MAX_INT32
            and type(memo) is dict and not memo):
        return _new_t(_T, (i, dr, cr, amount, "", ledger, code, flags, {}, 0, timeout))
    return _checked_fields(i, dr, cr, amount, pending_id, ledger, code, flags, memo, timeout)


def _checked_fields(i, dr, cr, amount, pending_id, ledger, code, flags, memo, timeout) -> _T:
    return _T(_id(i, "id"), _id(dr, "debit_account_id"), _id(cr, "credit_account_id"),
              _int(amount, "amount", MAX_AMOUNT), _id(pending_id, "pending_id"),
              _int(ledger, "ledger", _MAX_INT32), _int(code, "code", _MAX_INT32),
              _int(flags, "flags", _MAX_INT32), _memo(memo), 0, _int(timeout, "timeout", _MAX_INT32))


def _normalise_transfer(t: NewTransfer | _T) -> _T:
    if type(t) is _T:  # already checked (the sequencer normalises in the caller's thread)
        return t
    return _checked(t.id, t.debit_account_id, t.credit_account_id, t.amount, t.pending_id, t.ledger,
                    t.code, t.flags, t.memo, t.timeout)


def transfer_from_fields(fields) -> _T:
    """A transfer sent as a list ``[id, debit_account_id, credit_account_id, amount, pending_id,
    ledger, code, flags, memo, timeout]`` (the ledger server's wire form; ``timeout`` may be
    left off), checked like any other (the same checks in the same order, without building a
    ``NewTransfer`` first: the server reads every transfer of every message this way)."""
    if type(fields) is not list or len(fields) not in (9, 10):
        raise UsageError("ledger.malformed_event", "a transfer is a list of 9 or 10 fields")
    return _checked(*fields[:9], fields[9] if len(fields) == 10 else 0)


def wire_fields(t: _T) -> list:
    """A checked transfer in the wire form ``transfer_from_fields`` reads."""
    return [*t[:9], t.timeout]


def normalise_transfers(transfers: Sequence[NewTransfer]) -> list[_T]:
    """Check every event is representable (``UsageError`` otherwise); the engine then skips it."""
    return [_normalise_transfer(t) for t in transfers]


def _normalise_account(a: NewAccount) -> NewAccount:
    # Lengths of the ledger_accounts columns; PostgreSQL would refuse longer values mid-batch.
    if a.owner is not None and not (isinstance(a.owner, str) and len(a.owner) <= 40):
        raise UsageError("ledger.malformed_event",
                         f"owner must be None or at most 40 characters, got {a.owner!r}")
    if not (a.name is None or isinstance(a.name, str) and len(a.name) <= 200):
        raise UsageError("ledger.malformed_event", "name must be at most 200 characters")
    return NewAccount(id=_id(a.id, "id"), ledger=_int(a.ledger, "ledger", _MAX_INT32),
                      code=_int(a.code, "code", _MAX_INT32),
                      flags=_int(a.flags, "flags", _MAX_INT32), owner=a.owner, name=a.name or "")


# --------------------------------------------------------------------------- locking and loading

def _chunks(ids: Iterable[str]) -> Iterable[list[str]]:
    ids = sorted(ids)
    for i in range(0, len(ids), _CHUNK):
        yield ids[i:i + _CHUNK]


def _cursor(session: Session):
    """A DB-API cursor on the session's connection (inside its transaction). The hot path runs
    fixed SQL on it directly: SQLAlchemy's per-statement machinery cost more than the SQL."""
    return session.connection().connection.cursor()


def _lock_ledger(session: Session) -> None:
    """Serialise ledger batches. SQLite: the transaction already holds the write lock."""
    if _postgres(session):
        _cursor(session).execute("SELECT pg_advisory_xact_lock(%s)", (_LEDGER_LOCK,))


# The hot path's reads are fixed SQL strings run by the driver: building SQLAlchemy statements
# cost milliseconds per batch, more than a whole group of small requests. A whole id set is one
# parameter (SQLite: a JSON array read by json_each; PostgreSQL: an array), so there is one
# statement per read whatever the batch size, and every statement text stays the same.
_T_SELECT = ("SELECT id, debit_account_id, credit_account_id, amount, pending_id, ledger, code, flags, memo, "
             "timestamp, timeout FROM ledger_transfers")
_A_SELECT = ("SELECT id, ledger, flags, debits_pending, debits_posted, credits_pending, credits_posted "
             "FROM ledger_accounts")
_READS = {
    "sqlite": {
        "transfers": f"{_T_SELECT} WHERE id IN (SELECT value FROM json_each(?))",
        "accounts": f"{_A_SELECT} WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id",
        "resolutions": "SELECT pending_id, flags, id FROM ledger_transfers WHERE pending_id IN "
                       "(SELECT value FROM json_each(?))",
    },
    # One index lookup per id (LATERAL; OFFSET 0 keeps the planner from turning it back into a
    # join), whatever the statistics say: with ``id = ANY(...)`` a table not analyzed since it
    # was small is planned as a sequential scan of all of it.
    "postgresql": {
        "transfers": f"SELECT t.* FROM unnest(%s::varchar[]) AS k(id), "
                     f"LATERAL ({_T_SELECT} WHERE id = k.id OFFSET 0) AS t",
        # in id order, so two writers never wait on each other's locks in opposite orders
        "accounts": f"{_A_SELECT} WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
        "resolutions": "SELECT r.* FROM unnest(%s::varchar[]) AS k(id), LATERAL (SELECT pending_id, flags, id "
                       "FROM ledger_transfers WHERE pending_id = k.id OFFSET 0) AS r",
    },
}


def _read(session: Session, what: str, ids: set[str]) -> list[tuple]:
    if not ids:
        return []
    pg = _postgres(session)
    param = sorted(ids) if pg else json.dumps(sorted(ids))
    cur = _cursor(session)
    cur.execute(_READS["postgresql" if pg else "sqlite"][what], (param,))
    return cur.fetchall()


def _lock_accounts(session: Session, ids: set[str]) -> dict[str, tuple]:
    """Load and lock accounts in id order, as plain tuples ``(id, ledger, flags, dp, dpo, cp,
    cpo)``: building ORM objects cost more than the rest of a batch's reads together."""
    return {r[0]: tuple(r) for r in _read(session, "accounts", ids)}


_T_COLUMNS = (Transfer.id, Transfer.debit_account_id, Transfer.credit_account_id, Transfer.amount,
              Transfer.pending_id, Transfer.ledger, Transfer.code, Transfer.flags, Transfer.memo,
              Transfer.timestamp, Transfer.timeout)


def _as_t(row) -> _T:
    return _T(row[0], row[1], row[2], row[3], row[4] or "", row[5], row[6], row[7], row[8], row[9], row[10])


def _load_transfers(session: Session, ids: set[str]) -> dict[str, _T]:
    rows = _read(session, "transfers", ids)
    if rows and isinstance(rows[0][8], str):  # SQLite hands JSON columns back as text
        return {r[0]: _T(r[0], r[1], r[2], r[3], r[4] or "", r[5], r[6], r[7], json.loads(r[8]), r[9], r[10])
                for r in rows}
    return {r[0]: _as_t(r) for r in rows}


def _load_resolutions(session: Session, pending_ids: set[str]) -> dict[str, tuple[int, str]]:
    """pending id -> (flags, id) of the post or void that resolved it."""
    return {r[0]: (r[1], r[2]) for r in _read(session, "resolutions", pending_ids)}


def _last_timestamp(session: Session) -> int:
    cur = _cursor(session)
    cur.execute("SELECT max(timestamp) FROM ledger_transfers")
    return cur.fetchone()[0] or 0


def _max_id(session: Session) -> str:
    """The greatest transfer id stored ("" if none), one probe of the primary key's index. Ids are
    32 lowercase hex characters, which every collation orders as their bytes, as Python does."""
    cur = _cursor(session)
    cur.execute("SELECT max(id) FROM ledger_transfers")
    return cur.fetchone()[0] or ""


# --------------------------------------------------------------------------- linked chains

Result = TypeVar("Result", CreateAccountResult, CreateTransferResult)


class _Scope:
    """Undo log for one linked chain: open() before its first event, then persist() or discard()."""

    def __init__(self):
        self.undo: list[Callable[[], None]] | None = None

    def open(self) -> None:
        self.undo = []

    def record(self, fn: Callable[[], None]) -> None:
        if self.undo is not None:
            self.undo.append(fn)

    def persist(self) -> None:
        self.undo = None

    def discard(self) -> None:
        for fn in reversed(self.undo or []):
            fn()
        self.undo = None


def _run(events: Sequence, create: Callable[[object], Result], scope: _Scope, ok: Result,
         failed: Result, chain_open: Result, ends: frozenset[int] = frozenset()) -> list[Result]:
    """TigerBeetle's commit loop: events in order; a chain (LINKED on all but its last event)
    succeeds or fails as one. On failure the failing event keeps its own result and every other
    event of the chain gets ``linked_event_failed``; a chain still open at the end of the batch
    fails with ``linked_event_chain_open`` on its last event. ``ends`` marks further batch ends:
    the sequencer commits several requests as one batch, and a chain never spans two requests."""
    results: list[Result] = []
    chain: int | None = None  # index of the open chain's first event
    broken = False
    for i, event in enumerate(events):
        linked = bool(event.flags & LINKED)
        if linked and chain is None:
            chain = i
            scope.open()
        if linked and (i == len(events) - 1 or i in ends):
            result = chain_open
        elif broken:
            result = failed
        else:
            result = create(event)
        if result != ok and chain is not None and not broken:
            broken = True
            scope.discard()
            results[chain:i] = [failed] * (i - chain)
        results.append(result)
        if chain is not None and (not linked or result == chain_open):
            if not broken:
                scope.persist()
            chain, broken = None, False
    return results


# --------------------------------------------------------------------------- accounts

def create_accounts(session: Session, accounts: Sequence[NewAccount]) -> list[CreateAccountResult]:
    """Create accounts; one result per event, in order. Balances start at zero."""
    events = [_normalise_account(a) for a in accounts]
    if not events:
        return []
    _lock_ledger(session)
    known: dict[str, NewAccount] = {}
    for chunk in _chunks({e.id for e in events if e.id}):
        for a in session.scalars(select(Account).where(Account.id.in_(chunk))):
            known[a.id] = NewAccount(a.id, a.ledger, a.code, a.flags, a.owner, a.name)
    new: list[NewAccount] = []
    scope = _Scope()

    def create(a: NewAccount) -> CreateAccountResult:
        if a.flags & ~ACCOUNT_FLAGS_KNOWN:
            return AR.RESERVED_FLAG
        if not a.id:
            return AR.ID_MUST_NOT_BE_ZERO
        if a.flags & DMNEC and a.flags & CMNED:
            return AR.FLAGS_ARE_MUTUALLY_EXCLUSIVE
        if a.ledger == 0:
            return AR.LEDGER_MUST_NOT_BE_ZERO
        if a.code == 0:
            return AR.CODE_MUST_NOT_BE_ZERO
        if (e := known.get(a.id)) is not None:
            if a.flags != e.flags:
                return AR.EXISTS_WITH_DIFFERENT_FLAGS
            if a.owner != e.owner:
                return AR.EXISTS_WITH_DIFFERENT_OWNER
            if a.ledger != e.ledger:
                return AR.EXISTS_WITH_DIFFERENT_LEDGER
            if a.code != e.code:
                return AR.EXISTS_WITH_DIFFERENT_CODE
            return AR.EXISTS
        known[a.id] = a
        new.append(a)
        scope.record(lambda: (known.pop(a.id), new.pop()))
        return AR.OK

    results = _run(events, create, scope, AR.OK, AR.LINKED_EVENT_FAILED, AR.LINKED_EVENT_CHAIN_OPEN)
    if new:
        zero = dict.fromkeys(_BALANCE_COLUMNS, 0)
        session.execute(insert(Account), [
            {"id": a.id, "ledger": a.ledger, "code": a.code, "flags": a.flags, "owner": a.owner,
             "name": a.name} | zero for a in new])
    return results


# --------------------------------------------------------------------------- transfers

class _Balances:
    __slots__ = ("ledger", "flags", "dp", "dpo", "cp", "cpo")

    def __init__(self, row: tuple):
        _, self.ledger, self.flags, self.dp, self.dpo, self.cp, self.cpo = row

    def snapshot(self) -> tuple[int, int, int, int]:
        return self.dp, self.dpo, self.cp, self.cpo


class AccountCache:
    """A single writer's accounts, kept in memory between its batches (TigerBeetle keeps its
    accounts in memory the same way), so a batch reads no account it has seen before.

    Only balances ever change, and only by transfers. So the cache is valid while the newest
    stored transfer is the one it last saw: each batch reads ``max(timestamp)`` (one index
    probe) under the ledger lock, and if anyone else wrote a transfer since (settlement inside
    a request's transaction, another process) the cache is dropped and refilled from the
    database as accounts are touched. A batch changes the cached balances in place; the owner
    calls ``commit()`` once the transaction has committed and ``reset()`` if anything failed
    (TigerBeetle's "reload after a failed commit"), so the cache never outlives a rollback."""

    def __init__(self) -> None:
        self.accounts: dict[str, _Balances] = {}
        self.last_timestamp = -1  # the newest transfer these balances include; -1: nothing known
        self._staged = -1
        # The greatest transfer id stored ("": none; None: not known). An id above it cannot be
        # stored yet, so a batch looks up only the ids at or below it: time-ordered ids (as the
        # exchange and TigerBeetle make them) seldom are. Valid while the balances are.
        self.max_id: str | None = None
        self._staged_max_id: str | None = None
        # Transfers above the account index's mark, as far as this writer knows: after a reset,
        # unknown, so its next batch indexes whatever another writer may have left.
        self.unindexed = self._staged_unindexed = _LAG_UNKNOWN
        # SQLite, while the count is known: those transfers' timestamps by account, the postings
        # the next indexing run writes without reading the transfers back (changed in place, like
        # the balances: a failed batch resets the cache). None: unknown, or PostgreSQL.
        self.tail: dict[str, list[int]] | None = None
        # PostgreSQL: the owner's indexer thread keeps the account index (``index_committed``),
        # so batches leave it alone.
        self.indexed_elsewhere = False

    def reset(self) -> None:
        self.accounts.clear()
        self.last_timestamp = self._staged = -1
        self.unindexed = self._staged_unindexed = _LAG_UNKNOWN
        self.tail = None
        self.max_id = self._staged_max_id = None

    def commit(self) -> None:
        self.last_timestamp = self._staged
        self.unindexed = self._staged_unindexed
        self.max_id = self._staged_max_id


class _TransferBatch:
    """The in-memory working set of one create_transfers batch."""

    def __init__(self, bal: dict[str, _Balances], transfers: dict[str, _T],
                 resolved: dict[str, int], last_timestamp: int):
        self.bal = bal  # every account the batch touches (and, from a cache, maybe more)
        self.touched: set[str] = set()  # the accounts whose balances the batch moved
        self.transfers = transfers  # stored ones we referenced, plus this batch's new ones
        self.resolved = resolved  # pending id -> (flags, id) of its post/void
        self.new: list[_T] = []
        self.scope = _Scope()
        # TigerBeetle timestamps: nanoseconds since the epoch, unique and strictly increasing.
        self.next_timestamp = max(time.time_ns(), last_timestamp + 1)

    # -- the two TigerBeetle paths

    def create(self, t: _T) -> CreateTransferResult:
        if t.flags & _UNKNOWN_TRANSFER_FLAGS:
            return R.RESERVED_FLAG
        if not t.id:
            return R.ID_MUST_NOT_BE_ZERO
        if t.flags & (POST | VOID):
            return self._post_or_void(t)
        if not t.debit_account_id:
            return R.DEBIT_ACCOUNT_ID_MUST_NOT_BE_ZERO
        if not t.credit_account_id:
            return R.CREDIT_ACCOUNT_ID_MUST_NOT_BE_ZERO
        if t.debit_account_id == t.credit_account_id:
            return R.ACCOUNTS_MUST_BE_DIFFERENT
        if t.pending_id:
            return R.PENDING_ID_MUST_BE_ZERO
        if t.timeout and not t.flags & PENDING:
            return R.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER
        if t.amount == 0:
            return R.AMOUNT_MUST_NOT_BE_ZERO
        if t.ledger == 0:
            return R.LEDGER_MUST_NOT_BE_ZERO
        if t.code == 0:
            return R.CODE_MUST_NOT_BE_ZERO
        dr, cr = self.bal.get(t.debit_account_id), self.bal.get(t.credit_account_id)
        if dr is None:
            return R.DEBIT_ACCOUNT_NOT_FOUND
        if cr is None:
            return R.CREDIT_ACCOUNT_NOT_FOUND
        if dr.ledger != cr.ledger:
            return R.ACCOUNTS_MUST_HAVE_THE_SAME_LEDGER
        if t.ledger != dr.ledger:
            return R.TRANSFER_MUST_HAVE_THE_SAME_LEDGER_AS_ACCOUNTS
        # An existing transfer must not take part in overflow or limit checks (TigerBeetle).
        if (e := self.transfers.get(t.id)) is not None:
            return _exists(t, e)
        amount, pending = t.amount, bool(t.flags & PENDING)
        if pending and dr.dp + amount > MAX_AMOUNT:
            return R.OVERFLOWS_DEBITS_PENDING
        if pending and cr.cp + amount > MAX_AMOUNT:
            return R.OVERFLOWS_CREDITS_PENDING
        if dr.dpo + amount > MAX_AMOUNT:
            return R.OVERFLOWS_DEBITS_POSTED
        if cr.cpo + amount > MAX_AMOUNT:
            return R.OVERFLOWS_CREDITS_POSTED
        if dr.dp + dr.dpo + amount > MAX_AMOUNT:
            return R.OVERFLOWS_DEBITS
        if cr.cp + cr.cpo + amount > MAX_AMOUNT:
            return R.OVERFLOWS_CREDITS
        # Limits count pending amounts: a hold reserves funds as surely as a posted debit.
        if dr.flags & DMNEC and dr.dp + dr.dpo + amount > dr.cpo:
            return R.EXCEEDS_CREDITS
        if cr.flags & CMNED and cr.cp + cr.cpo + amount > cr.dpo:
            return R.EXCEEDS_DEBITS
        if pending:
            self._move(t.debit_account_id, dp=amount)
            self._move(t.credit_account_id, cp=amount)
        else:
            self._move(t.debit_account_id, dpo=amount)
            self._move(t.credit_account_id, cpo=amount)
        self._store(t)
        return R.OK

    def _post_or_void(self, t: _T) -> CreateTransferResult:
        post = bool(t.flags & POST)
        if (post and t.flags & VOID) or t.flags & PENDING:
            return R.FLAGS_ARE_MUTUALLY_EXCLUSIVE
        if not t.pending_id:
            return R.PENDING_ID_MUST_NOT_BE_ZERO
        if t.pending_id == t.id:
            return R.PENDING_ID_MUST_BE_DIFFERENT
        if t.timeout:
            return R.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER
        p = self.transfers.get(t.pending_id)
        if p is None:
            return R.PENDING_TRANSFER_NOT_FOUND
        if not p.flags & PENDING:
            return R.PENDING_TRANSFER_NOT_PENDING
        if t.debit_account_id and t.debit_account_id != p.debit_account_id:
            return R.PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID
        if t.credit_account_id and t.credit_account_id != p.credit_account_id:
            return R.PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID
        if t.ledger and t.ledger != p.ledger:
            return R.PENDING_TRANSFER_HAS_DIFFERENT_LEDGER
        if t.code and t.code != p.code:
            return R.PENDING_TRANSFER_HAS_DIFFERENT_CODE
        amount = t.amount or p.amount  # 0 = the full pending amount
        if amount > p.amount:
            return R.EXCEEDS_PENDING_TRANSFER_AMOUNT
        if not post and amount < p.amount:
            return R.PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT
        # What we would store: zero fields filled in from the pending transfer, as TigerBeetle does.
        resolved = _T(t.id, p.debit_account_id, p.credit_account_id, amount, p.id, p.ledger, p.code,
                      t.flags, t.memo or p.memo)
        # `exists` before `already_posted`: resending the very post that resolved p is a no-op.
        if (e := self.transfers.get(t.id)) is not None:
            return _exists(resolved, e)
        if (how := self.resolved.get(p.id)) is not None:
            if how[0] & POST:
                return R.PENDING_TRANSFER_ALREADY_POSTED
            if how[1] == expiry_id(p.id):
                return R.PENDING_TRANSFER_EXPIRED
            return R.PENDING_TRANSFER_ALREADY_VOIDED
        # Due but not swept yet: expired all the same (TigerBeetle compares with the timestamp
        # this transfer would get). The sweeper's own void, and only it, may still void it.
        if (p.timeout and p.timestamp + p.timeout * _NS <= self.next_timestamp
                and t.id != expiry_id(p.id)):
            return R.PENDING_TRANSFER_EXPIRED
        # Posting never needs limit or overflow checks: it only moves (part of) an amount that
        # was checked when the pending transfer was made, and releases the rest.
        self._move(p.debit_account_id, dp=-p.amount, dpo=amount if post else 0)
        self._move(p.credit_account_id, cp=-p.amount, cpo=amount if post else 0)
        self.resolved[p.id] = (t.flags, t.id)
        self.scope.record(lambda: self.resolved.pop(p.id))
        self._store(resolved)
        return R.OK

    # -- mutations, each undoable while a chain is open

    def _move(self, account_id: str, dp: int = 0, dpo: int = 0, cp: int = 0, cpo: int = 0) -> None:
        b = self.bal[account_id]
        self.touched.add(account_id)
        if self.scope.undo is not None:  # inside a linked chain: remember how to take it back
            before = b.snapshot()

            def undo() -> None:
                b.dp, b.dpo, b.cp, b.cpo = before

            self.scope.record(undo)
        b.dp, b.dpo, b.cp, b.cpo = b.dp + dp, b.dpo + dpo, b.cp + cp, b.cpo + cpo

    def _store(self, t: _T) -> None:
        ts = self.next_timestamp
        stored = _new_t(_T, (*t[:9], ts, t.timeout))
        self.transfers[t.id] = stored
        self.new.append(stored)
        self.next_timestamp = ts + 1
        if self.scope.undo is not None:
            def undo() -> None:
                del self.transfers[t.id]
                self.new.pop()
                self.next_timestamp = ts

            self.scope.record(undo)


_EXISTS_ORDER = (
    ("flags", R.EXISTS_WITH_DIFFERENT_FLAGS),
    ("pending_id", R.EXISTS_WITH_DIFFERENT_PENDING_ID),
    ("debit_account_id", R.EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT_ID),
    ("credit_account_id", R.EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT_ID),
    ("amount", R.EXISTS_WITH_DIFFERENT_AMOUNT),
    ("memo", R.EXISTS_WITH_DIFFERENT_MEMO),
    ("timeout", R.EXISTS_WITH_DIFFERENT_TIMEOUT),
    ("code", R.EXISTS_WITH_DIFFERENT_CODE),
)


def _exists(t: _T, e: _T) -> CreateTransferResult:
    """Compare a resend with the stored transfer of the same id (TigerBeetle: flags first,
    since they change what the other fields mean; pending_id next, since a different pending
    transfer implies different accounts)."""
    for field, result in _EXISTS_ORDER:
        if getattr(t, field) != getattr(e, field):
            return result
    return R.EXISTS


def create_transfers(session: Session, transfers: Sequence[NewTransfer], *,
                     ends: frozenset[int] = frozenset(), seal: bool = False,
                     cache: AccountCache | None = None) -> list[CreateTransferResult]:
    """Create transfers; one result per event, in order (TigerBeetle semantics, see module docs).

    ``ends``: indexes that end a request inside a grouped batch (see ``ledger.sequencer``).
    ``seal``: also append the audit entry holding the digests of the stored transfers
    (``ledger.seals``), so a later change to any of their bytes is caught and named.
    ``cache``: a single writer's ``AccountCache``: accounts it holds are not read again."""
    events = normalise_transfers(transfers)
    if not events:
        return []
    _lock_ledger(session)
    last = _last_timestamp(session)
    if cache is not None and cache.last_timestamp != last:  # someone else wrote since: what we
        cache.reset()                                         # hold may be stale
    pending_ids = {e.pending_id for e in events if e.pending_id}
    ids = {e.id for e in events if e.id}
    if cache is not None:
        if cache.max_id is None:
            cache.max_id = _max_id(session)
        ids = {i for i in ids if i <= cache.max_id}
    # Transfers are immutable, so what we read of them cannot change under us.
    known = _load_transfers(session, ids | pending_ids)
    touched = {x for e in events for x in (e.debit_account_id, e.credit_account_id) if x}
    touched |= {x for pid in pending_ids if pid in known
                for x in (known[pid].debit_account_id, known[pid].credit_account_id)}
    if cache is None:
        bal = {aid: _Balances(row) for aid, row in _lock_accounts(session, touched).items()}
    else:
        bal = cache.accounts
        # (PostgreSQL: accounts read here are locked FOR UPDATE; held ones are locked by the
        # UPDATE, in id order. Ledger batches are serialised by the advisory lock anyway.)
        if missing := touched - bal.keys():
            bal.update((aid, _Balances(row)) for aid, row in _lock_accounts(session, missing).items())
    # Resolutions are read after the locks, so a concurrent post of the same pending is seen.
    resolved = _load_resolutions(session, pending_ids)

    batch = _TransferBatch(bal, known, resolved, last)
    results = _run(events, batch.create, batch.scope,
                   R.OK, R.LINKED_EVENT_FAILED, R.LINKED_EVENT_CHAIN_OPEN, ends)

    if batch.new:
        _write(session, batch.new, bal, batch.touched)
        if seal:
            seals.seal(session, batch.new)
        _index(session, batch.new, cache, last)
    if cache is not None:
        cache._staged = batch.new[-1].timestamp if batch.new else last
        cache._staged_max_id = max(cache.max_id, max((t.id for t in batch.new), default=""))
    return results


# --------------------------------------------------------------------------- the account index

# Transfers newer than the account index's mark before a batch indexes them all (see
# ``models.AccountPosting``): readers scan at most this many tail transfers by timestamp.
# SQLite writes pages, so a bigger run writes each account's page once for more transfers
# (4,096: ~13 ms per run on this machine, written from the writer's memory). PostgreSQL: a
# writer with a cache but no indexer thread beside it indexes every batch (a stall of one
# group in 4,096 set the p99); the sequencer's indexer thread (``index_committed``) instead.
INDEX_LAG = {"sqlite": 4096, "postgresql": 1}
_LAG_UNKNOWN = 1 << 62

# One posting per account: the account's transfers above the mark, as a JSON array.
_INDEX_TAIL = {
    # group_concat keeps the order of its input, sorted here (SQLite before 3.44 has no ORDER BY
    # inside an aggregate); readers do not depend on it.
    "sqlite": ("INSERT INTO ledger_account_postings (account_id, first_timestamp, last_timestamp, timestamps) "
               "SELECT account_id, min(timestamp), max(timestamp), '[' || group_concat(timestamp) || ']' FROM ("
               "SELECT debit_account_id AS account_id, timestamp FROM ledger_transfers WHERE timestamp > ?1 "
               "UNION ALL SELECT credit_account_id, timestamp FROM ledger_transfers WHERE timestamp > ?1 "
               "ORDER BY 1, 2) GROUP BY account_id"),
    # Both ends of the range given: an open ``timestamp > m`` is estimated at a third of the
    # table when statistics are stale, and planned as a sequential scan of all of it.
    "postgresql": ("INSERT INTO ledger_account_postings (account_id, first_timestamp, last_timestamp, timestamps) "
                   "SELECT account_id, min(timestamp), max(timestamp), "
                   "'[' || string_agg(timestamp::text, ',' ORDER BY timestamp) || ']' FROM ("
                   "SELECT debit_account_id AS account_id, timestamp FROM ledger_transfers "
                   "WHERE timestamp > %(m)s AND timestamp <= %(n)s UNION ALL "
                   "SELECT credit_account_id, timestamp FROM ledger_transfers "
                   "WHERE timestamp > %(m)s AND timestamp <= %(n)s) AS x GROUP BY account_id"),
}


def _index(session: Session, new: list[_T], cache: AccountCache | None, last: int) -> None:
    """Index the batch's transfers by account now, or leave them in the tail for a later run.
    A writer without a cache (one request's transaction) indexes at once: its batches are small
    and rare, and it does not know how far behind the index is without asking. PostgreSQL groups
    the tail itself (on its own core; Python building the rows cost the writer ~15 µs per
    transfer), SQLite from the writer's memory (reading the transfers back cost more)."""
    if cache is not None and cache.indexed_elsewhere:
        return
    pg = _postgres(session)
    tail = cache.tail if cache is not None else None  # SQLite, with the tail known (else None)
    if tail is not None:
        for t in new:
            tail.setdefault(t.debit_account_id, []).append(t.timestamp)
            tail.setdefault(t.credit_account_id, []).append(t.timestamp)
    unindexed = (cache.unindexed if cache is not None else _LAG_UNKNOWN) + len(new)
    if unindexed >= INDEX_LAG["postgresql" if pg else "sqlite"]:
        if tail is not None:
            _insert_postings(session, tail)
        else:
            # a cache whose index was caught up knows the mark: ``last``, the newest transfer before
            # this batch (no read)
            caught_up = cache is not None and cache.unindexed == 0
            _index_tail(session, last if caught_up else indexed_upto(session, lock=True), new[-1].timestamp, pg)
        _cursor(session).execute(_MARK["postgresql" if pg else "sqlite"], (new[-1].timestamp,))
        unindexed, tail = 0, None if pg else {}
    if cache is not None:
        cache._staged_unindexed, cache.tail = unindexed, tail


_MARK = {"sqlite": "UPDATE ledger_account_index SET indexed_upto = ? WHERE id = 1",
         "postgresql": "UPDATE ledger_account_index SET indexed_upto = %s WHERE id = 1"}
_INSERT_POSTINGS = ("INSERT INTO ledger_account_postings (account_id, first_timestamp, last_timestamp, "
                    "timestamps) VALUES (?, ?, ?, ?)")


def _insert_postings(session: Session, tail: dict[str, list[int]]) -> None:
    """SQLite: write the writer's own tail as postings (each list ascending: transfers are
    appended in timestamp order), in account order: each account's page is written once."""
    _cursor(session).executemany(_INSERT_POSTINGS, [(aid, ts[0], ts[-1], f"[{','.join(map(str, ts))}]")
                                                    for aid, ts in sorted(tail.items())])


def _index_tail(session: Session, mark: int, newest: int, pg: bool) -> None:
    """Index the transfers above ``mark`` (up to ``newest``, the newest stored) from the transfers
    table: the writer does not know them (it just started, or another writer stored them).
    Runs under the ledger lock, so no transfer can commit below the new mark afterwards."""
    cur = _cursor(session)
    if pg:
        cur.execute(_INDEX_TAIL["postgresql"], {"m": mark, "n": newest})
    else:
        cur.execute(_INDEX_TAIL["sqlite"], (mark,))


def indexed_upto(session: Session, *, lock: bool = False) -> int:
    """The newest transfer timestamp the account index holds (0: none). ``lock``: for an indexing
    run; on PostgreSQL it waits for any other run to commit and then reads the mark that run
    left, so two runs never index the same transfers (SQLite: the write lock does that)."""
    cur = _cursor(session)
    pg = lock and _postgres(session)
    cur.execute("SELECT indexed_upto FROM ledger_account_index WHERE id = 1" + (" FOR UPDATE" if pg else ""))
    return cur.fetchone()[0]


def index_committed(session: Session) -> int:
    """Index every committed transfer above the mark, in the caller's transaction (on PostgreSQL
    the sequencer's indexer thread runs it beside the writer). Returns the new mark.

    No ledger lock is needed: every writer takes the ledger lock and stamps its transfers above
    the newest committed one, so a transfer not yet committed when ``newest`` is read is
    stamped above it, and the run covers exactly the committed transfers up to ``newest``."""
    mark = indexed_upto(session, lock=True)
    newest = _last_timestamp(session)
    if newest > mark:
        pg = _postgres(session)
        _index_tail(session, mark, newest, pg)
        _cursor(session).execute(_MARK["postgresql" if pg else "sqlite"], (newest,))
    return max(mark, newest)


def _posting_values(session: Session, postings):
    """The timestamps a selectable of postings holds, one row each: (FROM item, value column)."""
    if _postgres(session):
        each = func.json_array_elements_text(cast(postings.c.timestamps, JSON)).table_valued("value")
        return each, cast(each.c.value, BigInteger)
    each = func.json_each(postings.c.timestamps).table_valued("value")
    return each, each.c.value


def involving(session: Session, account_id: str, *, after: int | None = None, first: int | None = None):
    """A WHERE clause for the transfers that debit or credit ``account_id`` (optionally only those
    after timestamp ``after``; ``first``: at most the first so many, for a page). The indexed
    ones are found through the account's postings, the rest in the short tail above the mark;
    the mark is read once here, so the two parts neither overlap nor miss. One ``timestamp IN
    (...)`` over both parts, so the database looks transfers up by timestamp, never scans them."""
    mark = indexed_upto(session)
    after = -1 if after is None else after
    p = AccountPosting
    postings = select(p.timestamps).where(p.account_id == account_id, p.last_timestamp > after,
                                          p.first_timestamp <= mark)
    tail = select(Transfer.timestamp).where(
        Transfer.timestamp > max(mark, after),
        or_(Transfer.debit_account_id == account_id, Transfer.credit_account_id == account_id))
    if first is not None:
        # Postings cover disjoint ranges: the first N after ``after`` lie in the first N postings.
        postings = postings.order_by(p.first_timestamp).limit(first)
        tail = tail.order_by(Transfer.timestamp).limit(first)
    postings = postings.subquery()
    each, value = _posting_values(session, postings)
    indexed = select(value.label("timestamp")).select_from(postings).join(each, true()).where(value > after)
    if first is not None:
        indexed = indexed.order_by(value).limit(first)
    return Transfer.timestamp.in_(union_all(indexed.subquery().select(), tail.subquery().select()))


# PostgreSQL: a batch is written with ONE statement, one round trip: the new transfers and the
# changed balances each travel as one JSON parameter (json_to_recordset), and the INSERT rides
# in a data-modifying CTE of the UPDATE. (An executemany costs a pipelined round trip per row,
# and a multi-VALUES INSERT makes the driver handle thousands of placeholders.) The SQL text
# never changes, so the driver prepares it once per connection.
_PG_WRITE = """
    WITH new_transfers AS (
        INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, pending_id, ledger,
                                      code, flags, memo, timestamp, timeout, created_at)
        SELECT id, debit_account_id, credit_account_id, amount, pending_id, ledger, code, flags, memo,
               timestamp, timeout, %s
        FROM json_to_recordset(%s::json) AS x(id varchar, debit_account_id varchar,
             credit_account_id varchar, amount bigint, pending_id varchar, ledger integer, code integer,
             flags integer, memo json, timestamp bigint, timeout integer))
    UPDATE ledger_accounts AS a SET debits_pending = x.dp, debits_posted = x.dpo,
                                    credits_pending = x.cp, credits_posted = x.cpo
    FROM json_to_recordset(%s::json) AS x(id varchar, dp bigint, dpo bigint, cp bigint, cpo bigint)
    WHERE a.id = x.id"""
# SQLite runs in-process: the driver's executemany with plain tuples is the cheapest form.
_SQLITE_INSERT_TRANSFERS = (
    "INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, pending_id, ledger, "
    "code, flags, memo, timestamp, timeout, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_SQLITE_UPDATE_BALANCES = ("UPDATE ledger_accounts SET debits_pending = ?, debits_posted = ?, "
                           "credits_pending = ?, credits_posted = ? WHERE id = ?")


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _write(session: Session, new: list[_T], bal: dict[str, _Balances], touched: set[str]) -> None:
    """Store the batch's new transfers and every changed balance. Values are stored exactly as
    the column types would store them (their bind processors, applied once per batch or row).
    Account objects the session already holds are then told their new committed values, so a
    caller that loaded them before the batch does not read stale balances."""
    # In id order: the UPDATE locks the rows (PostgreSQL) in the order every writer uses.
    changed = [(aid, bal[aid].snapshot()) for aid in sorted(touched)]
    dialect = session.get_bind().dialect
    created_at = Transfer.__table__.c.created_at.type._cached_bind_processor(dialect)(utcnow())
    cur = _cursor(session)
    if dialect.name == "postgresql":
        cur.execute(_PG_WRITE, (created_at, json.dumps([t.row() for t in new], ensure_ascii=False),
                                json.dumps([{"id": aid, "dp": v[0], "dpo": v[1], "cp": v[2], "cpo": v[3]}
                                            for aid, v in changed])))
    else:
        memo = Transfer.__table__.c.memo.type._cached_bind_processor(dialect)
        empty = memo({})
        cur.executemany(_SQLITE_INSERT_TRANSFERS, [
            (t.id, t.debit_account_id, t.credit_account_id, t.amount, t.pending_id or None, t.ledger, t.code,
             t.flags, memo(t.memo) if t.memo else empty, t.timestamp, t.timeout, created_at) for t in new])
        cur.executemany(_SQLITE_UPDATE_BALANCES, [(*v, aid) for aid, v in changed])
    held = session.identity_map
    if not len(held):
        return
    for aid, values in changed:
        a = held.get(identity_key(Account, aid))
        if a is not None:
            for c, v in zip(_BALANCE_COLUMNS, values, strict=True):
                set_committed_value(a, c, v)


# --------------------------------------------------------------------------- timeouts

def expiry_id(pending_id: str) -> str:
    """The id of the void that expires ``pending_id``: fixed, so sweepers racing or retrying
    converge on one void (``exists``), and a later post or void can tell expiry from a void."""
    return hashlib.sha256(b"suanshu.ledger.expire:" + pending_id.encode()).hexdigest()[:32]


def expire_pending(session: Session, *, now_ns: int | None = None, limit: int = 1000) -> list[str]:
    """Void pending transfers whose ``timeout`` has run out (TigerBeetle expires them itself;
    here a sweeper calls this): each gets a void with id ``expiry_id(pending)``, sealed, which
    releases its hold. Returns the expired pending ids (at most ``limit`` per call). A post or
    void sent afterwards gets ``pending_transfer_expired``."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    p, r = Transfer.__table__.alias("p"), Transfer.__table__.alias("r")
    due = session.scalars(
        select(p.c.id).where(p.c.timeout > 0, p.c.timestamp + literal(_NS, BigInteger()) * p.c.timeout <= now_ns,
                             ~select(r.c.id).where(r.c.pending_id == p.c.id).exists())
        .order_by(p.c.timestamp).limit(limit)).all()
    voids = [_T(expiry_id(pid), "", "", 0, pid, 0, 0, VOID, {}) for pid in due]
    results = create_transfers(session, voids, ends=frozenset(range(len(voids))), seal=True)
    # A post or void may have resolved one since we looked (PostgreSQL): then it is not ours.
    return [pid for pid, res in zip(due, results, strict=True) if res in (R.OK, R.EXISTS)]


# --------------------------------------------------------------------------- queries

def lookup_accounts(session: Session, ids: Iterable[str]) -> list[Account]:
    """The accounts that exist, in the order asked (missing ids are skipped, as in TigerBeetle)."""
    ids = list(ids)
    found: dict[str, Account] = {}
    for chunk in _chunks(set(ids)):
        rows = session.scalars(select(Account).where(Account.id.in_(chunk)))
        found.update((a.id, a) for a in rows)
    return [found[i] for i in ids if i in found]


def lookup_transfers(session: Session, ids: Iterable[str]) -> list[Transfer]:
    """The transfers that exist, in the order asked (missing ids are skipped)."""
    ids = list(ids)
    found: dict[str, Transfer] = {}
    for chunk in _chunks(set(ids)):
        rows = session.scalars(select(Transfer).where(Transfer.id.in_(chunk)))
        found.update((t.id, t) for t in rows)
    return [found[i] for i in ids if i in found]


def get_account_transfers(session: Session, account_id: str, limit: int = 100,
                          after_timestamp: int | None = None) -> list[Transfer]:
    """Transfers debiting or crediting the account, oldest first; page with the last timestamp."""
    stmt = select(Transfer).where(involving(session, account_id, after=after_timestamp, first=limit))
    return list(session.scalars(stmt.order_by(Transfer.timestamp).limit(limit)))


def balance(account: Account) -> dict:
    """An account's balances as a person reads them.

    ``posted`` is the net posted balance on the account's normal side; ``available`` also takes
    off what pending transfers hold (TigerBeetle's limit arithmetic). Accounts with
    CREDITS_MUST_NOT_EXCEED_DEBITS are debit-normal; all others (CASH, ESCROW, REVENUE, and
    BANK, which goes negative as money comes in) are read credit-normal.
    """
    if account.flags & CMNED:
        posted = account.debits_posted - account.credits_posted
        held = account.credits_pending
    else:
        posted = account.credits_posted - account.debits_posted
        held = account.debits_pending
    return {"id": account.id, "ledger": account.ledger, "code": account.code,
            "flags": account.flags} | {c: getattr(account, c) for c in _BALANCE_COLUMNS} | {
            "posted": posted, "held": held, "available": posted - held}


# --------------------------------------------------------------------------- verification

@dataclass(frozen=True)
class LedgerVerification:
    ok: bool
    accounts: int
    transfers: int
    account: str | None = None  # first account (by id) whose stored balances disagree
    transfer: str | None = None  # first transfer (by timestamp) that cannot be replayed
    reason: str = ""

    def to_dict(self) -> dict:
        return {"ok": self.ok, "accounts": self.accounts, "transfers": self.transfers,
                "account": self.account, "transfer": self.transfer, "reason": self.reason}


def verify(session: Session, batch: int = 5000) -> LedgerVerification:
    """Replay every transfer in timestamp order from zero balances and compare with what is stored.

    Also checks what must hold at every step (timestamps strictly increase, a pending transfer
    resolves once and within its amount, limit flags hold counting pending amounts) and that,
    per ledger, the stored debits equal the stored credits, posted and pending alike.
    """
    stored = {a.id: a for a in session.execute(select(
        Account.id, Account.ledger, Account.flags, Account.debits_pending, Account.debits_posted,
        Account.credits_pending, Account.credits_posted))}
    replay = {aid: [0, 0, 0, 0] for aid in stored}  # dp, dpo, cp, cpo
    open_pending: dict[str, _T] = {}
    count, last_ts, last_id = 0, -1, ""

    def fail(reason: str, *, transfer: str | None = None,
             account: str | None = None) -> LedgerVerification:
        return LedgerVerification(False, len(stored), count, account, transfer, reason)

    while True:
        after = or_(Transfer.timestamp > last_ts,
                    and_(Transfer.timestamp == last_ts, Transfer.id > last_id))
        rows = session.execute(select(*_T_COLUMNS).where(after)
                               .order_by(Transfer.timestamp, Transfer.id).limit(batch)).all()
        if not rows:
            break
        for row in rows:
            t = _as_t(row)
            if t.timestamp <= last_ts:
                return fail(f"timestamp {t.timestamp} does not increase", transfer=t.id)
            dr, cr = stored.get(t.debit_account_id), stored.get(t.credit_account_id)
            if dr is None or cr is None or not dr.ledger == cr.ledger == t.ledger:
                return fail("accounts missing or on another ledger", transfer=t.id)
            d, c = replay[t.debit_account_id], replay[t.credit_account_id]
            if t.flags & (POST | VOID):
                p = open_pending.pop(t.pending_id, None)
                if p is None:
                    return fail(f"resolves {t.pending_id or 'nothing'}, which is not an earlier, "
                                "unresolved pending transfer", transfer=t.id)
                if (p.debit_account_id != t.debit_account_id
                        or p.credit_account_id != t.credit_account_id
                        or t.amount > p.amount or (t.flags & VOID and t.amount != p.amount)):
                    return fail(f"does not match its pending transfer {p.id}", transfer=t.id)
                posted = t.amount if t.flags & POST else 0
                d[0] -= p.amount
                d[1] += posted
                c[2] -= p.amount
                c[3] += posted
            else:
                if t.pending_id:
                    return fail("pending_id on a transfer that is neither post nor void",
                                transfer=t.id)
                if t.flags & PENDING:
                    d[0] += t.amount
                    c[2] += t.amount
                    open_pending[t.id] = t
                else:
                    d[1] += t.amount
                    c[3] += t.amount
            for aid, acc, b in ((t.debit_account_id, dr, d), (t.credit_account_id, cr, c)):
                if ((acc.flags & DMNEC and b[0] + b[1] > b[3])
                        or (acc.flags & CMNED and b[2] + b[3] > b[1])):
                    return fail(f"account {aid} breaches its limit flag here",
                                transfer=t.id, account=aid)
            count, last_ts, last_id = count + 1, t.timestamp, t.id

    for aid in sorted(stored):
        a = stored[aid]
        have = [a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted]
        if have != replay[aid]:
            return fail(f"account {aid} stores {_named(have)} but its transfers give "
                        f"{_named(replay[aid])}", account=aid)
    sums: dict[int, list[int]] = {}
    for a in stored.values():
        s = sums.setdefault(a.ledger, [0, 0, 0, 0])
        s[0] += a.debits_pending
        s[1] += a.debits_posted
        s[2] += a.credits_pending
        s[3] += a.credits_posted
    for ledger, (dp, dpo, cp, cpo) in sorted(sums.items()):
        if dpo != cpo or dp != cp:
            return fail(f"ledger {ledger}: debits ({dpo} posted, {dp} pending) "
                        f"!= credits ({cpo} posted, {cp} pending)")
    if problem := _check_account_index(session):
        return fail(problem[0], **problem[1])
    return LedgerVerification(True, len(stored), count)


def _check_account_index(session: Session) -> tuple[str, dict] | None:
    """The account index holds exactly the debit and credit account of every transfer up to its
    mark, once each, in postings whose bounds are right and whose ranges do not overlap: a
    transfer it misses would drop out of account listings and statements."""
    mark = session.scalar(select(AccountIndexMark.indexed_upto).where(AccountIndexMark.id == 1))
    if mark is None:
        return "the account index has no mark", {}
    p, t = AccountPosting.__table__.alias("p"), Transfer
    each, value = _posting_values(session, p)
    listed = select(p.c.account_id, value.label("timestamp")).select_from(p).join(each, true())
    stored = select(union_all(select(t.debit_account_id, t.timestamp).where(t.timestamp <= mark),
                              select(t.credit_account_id, t.timestamp).where(t.timestamp <= mark)).subquery())

    def first_of(compound):
        q = compound.subquery()
        return session.execute(select(q).order_by(q.c[1]).limit(1)).first()

    if (missed := first_of(except_(stored, listed))) is not None:
        transfer = session.scalar(select(t.id).where(t.timestamp == missed[1]))
        return "the account index lacks this transfer's accounts", {"transfer": transfer}
    if (stray := first_of(except_(listed, stored))) is not None:
        return f"the account index lists a transfer at {stray[1]} that the account has not", {"account": stray[0]}
    listed = listed.subquery()
    repeated = session.execute(select(listed.c.account_id, listed.c.timestamp).group_by(*listed.c)
                               .having(func.count() > 1).order_by(listed.c.timestamp).limit(1)).first()
    if repeated is not None:
        return f"the account index lists the transfer at {repeated[1]} twice", {"account": repeated[0]}
    # Readers rely on each posting's bounds and on an account's postings not overlapping.
    bounds = select(p.c.account_id, p.c.first_timestamp, p.c.last_timestamp, func.min(value).label("lo"),
                    func.max(value).label("hi")).select_from(p).join(each, true()).group_by(
        p.c.account_id, p.c.first_timestamp, p.c.last_timestamp).subquery()
    b = select(bounds, func.lag(bounds.c.last_timestamp).over(
        partition_by=bounds.c.account_id, order_by=bounds.c.first_timestamp).label("prev")).subquery().c
    bad = session.execute(select(b.account_id, b.first_timestamp).where(
        (b.lo != b.first_timestamp) | (b.hi != b.last_timestamp) | (b.prev >= b.first_timestamp))
        .order_by(b.first_timestamp).limit(1)).first()
    if bad is not None:
        return (f"the account index's posting from {bad[1]} has wrong bounds or overlaps the one before",
                {"account": bad[0]})
    return None


def _named(balances) -> str:
    return ", ".join(f"{c}={v}" for c, v in zip(_BALANCE_COLUMNS, balances, strict=True))


# --------------------------------------------------------------------------- errors for callers

_CONFLICT = {"exists", "pending_transfer_already_posted", "pending_transfer_already_voided"}


class LedgerError(Refused):
    """A ledger result other than ok, as a stable error code ``ledger.<result>``."""

    def __init__(self, result: str, message: str, **details):
        status = 409 if result in _CONFLICT or result.startswith("exists_with_different_") else (
            404 if result.endswith("_not_found") else None)
        super().__init__(f"ledger.{result}", message, status=status, **details)
        self.result = result


def _message(result: str, event) -> str:
    if isinstance(event, NewTransfer):
        what = f"transfer {event.id}"
        if result == R.EXCEEDS_CREDITS:
            return (f"insufficient funds: account {event.debit_account_id} cannot cover "
                    f"{format_fen(event.amount)} ({what})")
        if result == R.EXCEEDS_DEBITS:
            return (f"account {event.credit_account_id} may not be credited "
                    f"{format_fen(event.amount)} beyond its debits ({what})")
        if result in (R.PENDING_TRANSFER_ALREADY_POSTED, R.PENDING_TRANSFER_ALREADY_VOIDED):
            state = result.rsplit("_", 1)[1]
            return f"pending transfer {event.pending_id} is {state} already ({what})"
        if result == R.PENDING_TRANSFER_NOT_FOUND:
            return f"pending transfer {event.pending_id} not found ({what})"
    else:
        what = f"account {event.id}"
    return f"{what} refused: {result.replace('_', ' ')}"


def require_ok(results: Sequence[str], events: Sequence[NewTransfer | NewAccount], *,
               allow_exists: bool = True) -> None:
    """Raise ``LedgerError`` for the first event that did not succeed.

    ``exists`` (an identical resend) counts as success unless ``allow_exists`` is False. For an
    event that failed only because its chain did (``linked_event_failed``) we report the chain's
    own failure instead (e.g. ``ledger.exceeds_credits``), which is what the caller can act on.
    Note TigerBeetle counts ``exists`` as a failure *inside* a chain, so resending a whole chain
    reports ``ledger.exists``.
    """
    for i, result in enumerate(results):
        if result == "ok" or (result == "exists" and allow_exists):
            continue
        cause = i
        if result == "linked_event_failed":
            start = i
            while start > 0 and events[start - 1].flags & LINKED:
                start -= 1
            end = i
            while end < len(events) - 1 and events[end].flags & LINKED:
                end += 1
            own = [j for j in range(start, end + 1) if results[j] != "linked_event_failed"]
            cause = own[0] if own else i
        code = str(results[cause])
        message = _message(code, events[cause])
        if cause != i:
            message += "; the linked chain it belongs to was not applied"
        raise LedgerError(code, message, index=cause, id=events[cause].id)
