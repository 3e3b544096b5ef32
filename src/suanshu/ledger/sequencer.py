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

import contextvars
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from suanshu.audit import log as audit
from suanshu.core.db import Database
from suanshu.core.errors import UsageError
from suanshu.ledger import engine
from suanshu.ledger.codes import CreateTransferResult

MAX_EVENTS = 8190  # TigerBeetle's batch size

After = Callable[[Session, list[CreateTransferResult]], object]


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


@dataclass
class _Part:
    """One request: TigerBeetle's batch, its own results, chains never crossing its end."""

    events: list  # engine._T, checked in the caller's thread
    after: After | None = None
    note: AuditNote | None = None


@dataclass
class _Request:
    """What one future waits for: a request, or several (a remote client's coalesced message)."""

    parts: list[_Part]
    context: contextvars.Context
    single: bool
    future: Future = field(default_factory=Future)
    results: list = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(len(p.events) for p in self.parts)


class Sequencer:
    def __init__(self, db: Database, *, name: str = "ledger", max_events: int = MAX_EVENTS):
        self.db, self.max_events = db, max_events
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name=f"sequencer-{name}", daemon=True)
        self._started = False
        self._lock = threading.Lock()
        self.groups = 0  # committed groups, for benchmarks and tests
        # The writer's accounts in memory (engine.AccountCache): a group reads none it has seen.
        self.cache = engine.AccountCache()

    def submit(self, transfers: Sequence[engine.NewTransfer], after: After | None = None, *,
               audit_note: AuditNote | None = None) -> Future:
        """Queue one request; the future gives its results once its group has committed."""
        # Malformed events are the caller's error, raised in the caller's thread; the engine
        # does not check them again.
        events = engine.normalise_transfers(transfers)
        if not events:
            done: Future = Future()
            done.set_result([])
            return done
        return self._put([_Part(events, after, audit_note)], single=True)

    def submit_many(self, parts: Sequence[tuple[list, AuditNote | None]]) -> Future:
        """Queue several requests under one future (results: one list per request). For the
        ledger server, which receives a client's concurrent requests as one message. Events
        must already be normalised (``engine.normalise_transfers``)."""
        return self._put([_Part(list(events), None, note) for events, note in parts], single=False)

    def _put(self, parts: list[_Part], single: bool) -> Future:
        req = _Request(parts, contextvars.copy_context(), single)
        if req.size > self.max_events:
            raise UsageError("ledger.batch_too_large", f"a request holds at most {self.max_events} transfers")
        self._start()
        # The caller's context travels with the request: ``after`` runs in it (audit hooks).
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

    # -- the writer thread

    def _start(self) -> None:
        if self._started:  # checked again under the lock: one writer thread, started once
            return
        with self._lock:
            if not self._started:
                self._thread.start()
                self._started = True

    def _loop(self) -> None:
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
            with self.db.transaction() as s:
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
            if len(group) == 1:
                group[0].future.set_exception(exc)
            else:  # isolate the request that failed the group
                for r in group:
                    self._commit([r])
            return
        self.cache.commit()
        self.groups += 1
        for r in group:
            r.future.set_result(r.results[0] if r.single else r.results)
