"""The sequencer: a single writer per ledger that commits concurrent requests in groups.

Callers ``submit`` a request (a list of transfers, TigerBeetle's batch) from any thread and get
a future. One writer thread drains the queue, concatenates whatever requests are waiting (up
to ``max_events``, TigerBeetle's 8,190) and runs them through the engine as **one** batch in
**one** transaction, so the fixed costs of a transaction (lock, load, fsync) are paid once per
group instead of once per request. Request boundaries are kept: each request gets its own
results and a linked chain never spans two requests (``create_transfers(ends=...)``).

Crash safety comes from the database, not from the queue: a future resolves only after its
group committed, so an acknowledged transfer is durable; a group that did not commit left
nothing (the engine writes a failed chain to no table, and a rolled-back transaction writes
nothing at all). Retrying with the same ids converges: committed transfers answer ``exists``.

``after(session, results)`` runs inside the group's transaction once the request's transfers
are applied: the caller's audit entry commits with its money (DESIGN §2). If any request's
``after`` raises, the group is rolled back and its requests are retried one by one, so one bad
request cannot fail the others.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from suanshu.audit import log as audit
from suanshu.core.db import Database
from suanshu.core.errors import UsageError
from suanshu.ledger import engine
from suanshu.ledger.codes import CreateTransferResult

MAX_EVENTS = 8190  # TigerBeetle's batch size
# SQLite: WAL frames past which the writer lets the checkpointer catch up before its next group,
# so that group's commit restarts the WAL from its beginning (4 KiB pages: 128 MiB). The wait
# (a whole checkpoint, 17-40 ms here) was the p99: at 4,096 frames it came every 20-40 groups
# under full load, at 32,768 it comes after ~100,000 transfers. Readers do not pay for a long
# WAL: they search only the frames not yet checkpointed, which the checkpointer keeps short.
WAL_RESTART_FRAMES = 32768
WRITER_CACHE_KIB = 131072  # SQLite: the writer connection's page cache (SQLite's default: 2,000 KiB)

After = Callable[[Session, list[CreateTransferResult]], object]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AuditNote:
    """An audit entry to append, in the group's transaction, when every transfer of its request
    is ``ok``: the data form of an ``after`` hook, which can also travel over a socket."""

    actor: str
    action: str
    subject: str
    payload: dict = field(default_factory=dict)

    def __post_init__(self):
        for name in ("actor", "action", "subject"):  # the audit_events columns hold 80 characters
            value = getattr(self, name)
            if not isinstance(value, str) or not 0 < len(value) <= 80:
                raise UsageError("ledger.malformed_event", f"audit {name} must be 1 to 80 characters")
        if not isinstance(self.payload, dict):
            raise UsageError("ledger.malformed_event", "audit payload must be a JSON object")


@dataclass(slots=True)
class _Part:
    """One request: TigerBeetle's batch, its own results, chains never crossing its end."""

    events: list  # engine._T, checked in the caller's thread
    after: After | None = None
    note: AuditNote | None = None


class Ticket:
    """A request's future: ``result()``, ``exception()``, ``done()`` and ``add_done_callback()``
    as in ``concurrent.futures.Future``, for what the sequencer needs and no more.

    A ``Future`` builds a ``threading.Condition`` (a Python object with an RLock) per request
    and wakes its waiter through Python-level ``notify_all``: measured at about a quarter of a
    client thread's CPU and the writer's single largest cost after the engine. Here a request
    holds one C lock, acquired when it is made; resolving releases it, waiting acquires it."""

    __slots__ = ("_lock", "_done", "_result", "_exc", "_callbacks")

    def __init__(self) -> None:
        self._lock = _allocate_lock()
        self._lock.acquire()
        self._done = False
        self._result = self._exc = self._callbacks = None

    def done(self) -> bool:
        return self._done

    def _wait(self, timeout: float | None) -> None:
        if not self._done:
            if not self._lock.acquire(timeout=-1 if timeout is None else timeout):
                raise FutureTimeout()
            self._lock.release()  # let any other waiter through too

    def result(self, timeout: float | None = None):
        self._wait(timeout)
        if self._exc is not None:
            raise self._exc
        return self._result

    def exception(self, timeout: float | None = None) -> BaseException | None:
        self._wait(timeout)
        return self._exc

    def add_done_callback(self, fn: Callable[[Ticket], object]) -> None:
        with _CALLBACKS:
            if not self._done:
                self._callbacks = [*(self._callbacks or ()), fn]
                return
        fn(self)

    def _resolve(self, result, exc: BaseException | None) -> None:
        with _CALLBACKS:
            if self._done:
                raise RuntimeError("a ticket resolves once")
            self._result, self._exc, self._done = result, exc, True
            callbacks, self._callbacks = self._callbacks, None
        self._lock.release()
        for fn in callbacks or ():
            fn(self)

    def set_result(self, result) -> None:
        self._resolve(result, None)

    def set_exception(self, exc: BaseException) -> None:
        self._resolve(None, exc)


_allocate_lock = threading.Lock
_CALLBACKS = threading.Lock()  # guards a ticket's callbacks against resolving at the same time


class LoopWaiter:
    """An asyncio caller's request (``submit_async``): its future lives on the caller's event
    loop and is resolved there, whichever thread commits the request."""

    __slots__ = ("loop", "future")

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop, self.future = loop, loop.create_future()

    def set_result(self, result) -> None:
        resolve([(self, result)])

    def set_exception(self, exc: BaseException) -> None:
        resolve([(self, exc)])


def resolve(outcomes: Sequence[tuple[Ticket | LoopWaiter, object]]) -> None:
    """Resolve each waiter with its value (an exception value resolves it with that error).
    The loop waiters of one event loop are resolved in one call to that loop: waking a loop
    costs a write to its self-pipe, paid once per group instead of once per request."""
    on_loops: dict[asyncio.AbstractEventLoop, list] = {}
    for waiter, value in outcomes:
        if type(waiter) is Ticket:
            if isinstance(value, BaseException):
                waiter.set_exception(value)
            else:
                waiter.set_result(value)
        else:
            on_loops.setdefault(waiter.loop, []).append((waiter.future, value))
    for loop, pairs in on_loops.items():
        try:
            loop.call_soon_threadsafe(_resolve_on_loop, pairs)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass


def _resolve_on_loop(pairs: list) -> None:
    for future, value in pairs:
        if future.done():  # its caller was cancelled
            continue
        if isinstance(value, BaseException):
            future.set_exception(value)
        else:
            future.set_result(value)


class _Request:
    """What one ticket waits for: a request, or several (a remote client's coalesced message)."""

    __slots__ = ("parts", "context", "single", "size", "future", "results")

    def __init__(self, parts: list[_Part], context: contextvars.Context | None, single: bool,
                 waiter: Ticket | LoopWaiter | None = None):
        self.parts, self.context, self.single = parts, context, single
        self.size = sum(len(p.events) for p in parts)
        self.future = waiter or Ticket()
        self.results: list = []


class _Behind:
    """A thread doing work the writer leaves behind it: kicked after each group commits, it runs
    ``_work`` on a connection of its own, at most once per ``interval`` (unless the writer waits
    for it), while the writer goes on with the next group (the GIL is released while the
    database works). Kicking wakes the thread only when it sleeps for want of work: waking a
    waiting thread costs the writer a lock handoff, measured at a fifth of its GIL time when
    done every group."""

    def __init__(self, db: Database, name: str, interval: float):
        self.db, self.interval = db, interval
        self._cond = threading.Condition()
        self._asked = self._done = 0  # tickets: asked for, finished
        self._urgent = 0  # a ticket the writer waits for
        self._idle = False  # waiting for a kick (rather than pausing between runs)
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name=f"{name}", daemon=True)
        self._thread.start()

    def kick(self) -> int:
        """A group committed. Returns the ticket ``catch_up`` takes."""
        self._asked += 1  # only the writer thread writes it
        if self._idle:
            with self._cond:
                self._cond.notify()
        return self._asked

    def catch_up(self, ticket: int, timeout: float = 5.0) -> None:
        """Wait until a run started after ``ticket`` was asked for has finished."""
        with self._cond:
            self._urgent = ticket
            self._cond.notify()
            self._cond.wait_for(lambda: self._done >= ticket or self._stop, timeout)

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join()

    def _work(self, ticket: int) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        """Once the writer stopped: leave nothing behind."""
        try:
            self._work(self._asked)
        except Exception:  # the next writer's runs pick it up
            log.warning("%s failed", self._thread.name, exc_info=True)

    def _loop(self) -> None:
        while True:
            with self._cond:
                if self._asked == self._done and not self._stop:
                    self._idle = True  # set before the check below: a kick then notifies
                    self._cond.wait_for(lambda: self._asked > self._done or self._stop)
                    self._idle = False
                if self._stop:
                    break
                ticket = self._asked
            try:
                self._work(ticket)
            except Exception:  # retried after the next commit
                log.warning("%s failed; retried after the next commit", self._thread.name, exc_info=True)
            with self._cond:
                self._done = ticket
                self._cond.notify_all()
                # At most one run per interval (unless the writer waits for one), so a run
                # covers several groups' work at once.
                self._cond.wait_for(lambda: self._urgent > self._done or self._stop, self.interval)
        self._finish()


class _Checkpointer(_Behind):
    """SQLite: WAL checkpoints off the writer thread.

    SQLite checkpoints automatically when a commit leaves 1,000 frames in the WAL, *inside* that
    commit: the writer waits while dirty pages are copied into the database file and both files
    are fsynced, and no group commits meanwhile. The sequencer's connection turns that off
    (``wal_autocheckpoint=0``) and this thread checkpoints on a connection of its own after each
    commit instead (``PASSIVE``: it never takes the write lock, so the next group goes ahead).
    At most one checkpoint per interval: a page several groups dirtied is then copied once, as
    in SQLite's own checkpoint every 1,000 frames. Durability is unchanged: a commit is what it
    was (WAL, ``synchronous=NORMAL``), and a checkpoint copies what SQLite's own would have.

    The WAL starts again from its beginning only when a writer begins with every frame already
    copied; a busy writer always begins while the last checkpoint still runs, so once the WAL
    holds ``WAL_RESTART_FRAMES`` frames the writer waits for one checkpoint to finish before its
    next group (``catch_up``): a short wait every few dozen groups instead of a whole checkpoint
    every few. Other connections (the API's own transactions) keep SQLite's own checkpoints."""

    def __init__(self, db: Database, name: str, interval: float = 0.05):
        self.frames = 0  # frames in the WAL at the last checkpoint
        self.frames_ticket = 0  # the ticket of the checkpoint that counted them
        self._raw = None
        super().__init__(db, f"checkpointer-{name}", interval)

    def _work(self, ticket: int) -> None:
        if self._raw is None:
            self._raw = self.db.engine.raw_connection()  # with our pragmas (WAL, busy_timeout)
        cur = self._raw.cursor()
        try:
            cur.execute("PRAGMA wal_checkpoint(PASSIVE)")
            self.frames, self.frames_ticket = cur.fetchone()[1], ticket
        finally:
            cur.close()

    def _finish(self) -> None:
        try:  # the writer stopped: leave the WAL copied, as SQLite's own checkpoint would
            self._work(self._asked)
        finally:
            if self._raw is not None:
                self._raw.close()


class _Indexer(_Behind):
    """PostgreSQL: the account index kept up off the writer's path.

    An indexing run (``engine.index_committed``) groups every committed transfer above the mark
    into postings in a transaction of its own, on the database's other core, while the writer
    commits the next groups: indexing inside each group cost it about a third of its time
    (groups of 256: 27 -> 17 ms without it). A run per interval also writes fewer rows: one
    posting per account for all the transfers since the last run, not one per group. Readers
    find what is above the mark in the tail (``engine.involving``); the tail holds about
    ``interval`` seconds of transfers plus one run."""

    def __init__(self, db: Database, name: str, interval: float = 0.2):
        super().__init__(db, f"indexer-{name}", interval)

    def _work(self, ticket: int) -> None:
        with self.db.transaction() as s:
            engine.index_committed(s)


class Sequencer:
    def __init__(self, db: Database, *, name: str = "ledger", max_events: int = MAX_EVENTS,
                 wal_restart_frames: int = WAL_RESTART_FRAMES):
        self.db, self.max_events, self.wal_restart_frames = db, max_events, wal_restart_frames
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name=f"sequencer-{name}", daemon=True)
        self._started = False
        self._lock = threading.Lock()
        self.groups = 0  # committed groups, for benchmarks and tests
        # The writer's accounts in memory (engine.AccountCache): a group reads none it has seen.
        self.cache = engine.AccountCache()
        # The writer's own connection, held between groups (no pool checkout, and on
        # PostgreSQL no pre-ping round trip, per group); SQLite: its checkpoints run elsewhere.
        self._conn: Connection | None = None
        self._session: Session | None = None  # on ``_conn``, reused by every group
        self._checkpointer: _Checkpointer | None = None
        self._caught_up = 0
        self._indexer: _Indexer | None = None  # PostgreSQL: the account index, off the writer's path
        self._name = name
        self._pool_cache_size = -2000  # SQLite: the page cache the writer's connection came with

    def submit(self, transfers: Sequence[engine.NewTransfer], after: After | None = None, *,
               audit_note: AuditNote | None = None) -> Ticket:
        """Queue one request; the future gives its results once its group has committed."""
        # Malformed events are the caller's error, raised in the caller's thread; the engine
        # does not check them again.
        events = engine.normalise_transfers(transfers)
        if not events:
            done = Ticket()
            done.set_result([])
            return done
        return self._put([_Part(events, after, audit_note)], single=True)

    async def submit_async(self, transfers: Sequence[engine.NewTransfer], after: After | None = None, *,
                           audit_note: AuditNote | None = None) -> list[CreateTransferResult]:
        """``submit`` for asyncio callers: many requests in flight on one event loop, none holding
        a thread; the writer resolves a whole group's requests with one call to the loop."""
        events = engine.normalise_transfers(transfers)
        if not events:
            return []
        waiter = LoopWaiter(asyncio.get_running_loop())
        self._put([_Part(events, after, audit_note)], single=True, waiter=waiter)
        return await waiter.future

    def submit_many(self, parts: Sequence[tuple[list, AuditNote | None]]) -> Ticket:
        """Queue several requests under one future (results: one list per request). For the
        ledger server, which receives a client's concurrent requests as one message. Events
        must already be normalised (``engine.normalise_transfers``)."""
        return self._put([_Part(list(events), None, note) for events, note in parts], single=False)

    def _put(self, parts: list[_Part], single: bool, waiter: LoopWaiter | None = None) -> Ticket | LoopWaiter:
        # The caller's context travels with a request that has an ``after`` hook: it runs there.
        context = contextvars.copy_context() if any(p.after is not None for p in parts) else None
        req = _Request(parts, context, single, waiter)
        if req.size > self.max_events:
            raise UsageError("ledger.batch_too_large", f"a request holds at most {self.max_events} transfers")
        self._start()
        self._queue.put(req)
        return req.future

    def create_transfers(self, transfers: Sequence[engine.NewTransfer], after: After | None = None, *,
                         audit_note: AuditNote | None = None) -> list[CreateTransferResult]:
        """Submit and wait: the results once the request's group has committed."""
        return self.submit(transfers, after, audit_note=audit_note).result()

    def close(self) -> None:
        with self._lock:
            if self._started:
                self._queue.put(None)
                self._thread.join()
                self._started = False

    def _writer_session(self) -> Session:
        """The writer's session, on its own connection (opened again after a failed group)."""
        if self._conn is None:
            conn = self.db.engine.connect()
            if conn.dialect.name == "sqlite":
                raw = conn.connection.dbapi_connection
                # The writer revisits every account page and the account index's pages each
                # run: SQLite's default 2 MB page cache re-read them from the WAL and the file
                # (an indexing run of 4,096 transfers: 21 ms with it, 13 ms with 128 MB).
                self._pool_cache_size = raw.execute("PRAGMA cache_size").fetchone()[0]
                raw.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
                if raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                    raw.execute("PRAGMA wal_autocheckpoint=0")
                    if self._checkpointer is None:
                        self._checkpointer = _Checkpointer(self.db, self._name)
            elif self._indexer is None:
                self._indexer = _Indexer(self.db, self._name)
                self.cache.indexed_elsewhere = True
            self._conn, self._session = conn, self.db.writer_session(conn)
        return self._session

    def _close_connection(self) -> None:
        conn, self._conn = self._conn, None
        if self._session is not None:
            self._session.close()
            self._session = None
        if conn is None:
            return
        try:
            if conn.dialect.name == "sqlite":  # back to the pool as it came: checkpointing itself
                raw = conn.connection.dbapi_connection
                raw.execute("PRAGMA wal_autocheckpoint=1000")
                raw.execute(f"PRAGMA cache_size={self._pool_cache_size}")
        except Exception:  # noqa: BLE001 — a broken connection: the pool drops it
            conn.invalidate()
        finally:
            conn.close()

    # -- the writer thread

    def _start(self) -> None:
        if self._started:  # checked again under the lock: one writer thread, started once
            return
        with self._lock:
            if not self._started:
                self._thread.start()
                self._started = True

    def _loop(self) -> None:
        try:
            self._drain()
        finally:
            self._close_connection()
            if self._checkpointer is not None:
                self._checkpointer.close()
                self._checkpointer, self._caught_up = None, 0
            if self._indexer is not None:
                self._indexer.close()
                self._indexer = None
                self.cache.indexed_elsewhere = False

    def _drain(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group, size, stop = [first], first.size, False
            while size < self.max_events:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                if size + nxt.size > self.max_events:
                    self._commit(group)
                    group, size = [], 0
                group.append(nxt)
                size += nxt.size
            if group:
                self._commit(group)
            if stop:
                return

    def _commit(self, group: list[_Request]) -> None:
        parts = [p for r in group for p in r.parts]
        events, ends = [], set()
        for p in parts:
            events += p.events
            ends.add(len(events) - 1)
        try:
            with self.db.transaction(session=self._writer_session()) as s:
                results = engine.create_transfers(s, events, ends=frozenset(ends), seal=True,
                                                  cache=self.cache)
                at = 0
                for r in group:
                    r.results = []
                    for p in r.parts:
                        mine = results[at:at + len(p.events)]
                        at += len(p.events)
                        if p.after is not None:
                            r.context.run(p.after, s, mine)
                        if p.note is not None and all(x is CreateTransferResult.OK for x in mine):
                            n = p.note
                            audit.append(s, actor=n.actor, action=n.action, subject=n.subject, payload=n.payload)
                        r.results.append(mine)
        except BaseException as exc:  # noqa: BLE001 — every waiting caller must hear back
            self.cache.reset()  # what it staged never committed: reload from the database
            self._close_connection()  # and start again on a fresh connection
            if len(group) == 1:
                group[0].future.set_exception(exc)
            else:  # isolate the request that failed the group
                for r in group:
                    self._commit([r])
            return
        self.cache.commit()
        self.groups += 1
        if self._indexer is not None:
            self._indexer.kick()
        ckpt = self._checkpointer
        ticket = ckpt.kick() if ckpt is not None else 0
        resolve([(r.future, r.results[0] if r.single else r.results) for r in group])
        if ckpt is not None and ckpt.frames >= self.wal_restart_frames and ckpt.frames_ticket > self._caught_up:
            ckpt.catch_up(ticket)  # so the next group's commit restarts the WAL
            self._caught_up = ticket
