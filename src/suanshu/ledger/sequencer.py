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

from suanshu.core.db import Database
from suanshu.ledger import engine
from suanshu.ledger.codes import CreateTransferResult

MAX_EVENTS = 8190  # TigerBeetle's batch size

After = Callable[[Session, list[CreateTransferResult]], object]


@dataclass
class _Request:
    events: list[engine.NewTransfer]
    after: After | None
    context: contextvars.Context
    future: Future = field(default_factory=Future)


class Sequencer:
    def __init__(self, db: Database, *, name: str = "ledger", max_events: int = MAX_EVENTS):
        self.db, self.max_events = db, max_events
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name=f"sequencer-{name}", daemon=True)
        self._started = False
        self._lock = threading.Lock()
        self.groups = 0  # committed groups, for benchmarks and tests

    def submit(self, transfers: Sequence[engine.NewTransfer], after: After | None = None) -> Future:
        events = list(transfers)
        if not events:
            done: Future = Future()
            done.set_result([])
            return done
        for t in events:  # malformed events are the caller's error, raised in the caller's thread
            engine._normalise_transfer(t)
        if len(events) > self.max_events:
            raise ValueError(f"a request holds at most {self.max_events} transfers")
        self._start()
        # The caller's context travels with the request: ``after`` runs in it (audit hooks).
        req = _Request(events, after, contextvars.copy_context())
        self._queue.put(req)
        return req.future

    def create_transfers(self, transfers: Sequence[engine.NewTransfer],
                         after: After | None = None) -> list[CreateTransferResult]:
        """Submit and wait: the results once the request's group has committed."""
        return self.submit(transfers, after).result()

    def close(self) -> None:
        with self._lock:
            if self._started:
                self._queue.put(None)
                self._thread.join()
                self._started = False

    # -- the writer thread

    def _start(self) -> None:
        with self._lock:
            if not self._started:
                self._thread.start()
                self._started = True

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group, size, stop = [first], len(first.events), False
            while size < self.max_events:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                if size + len(nxt.events) > self.max_events:
                    self._commit(group)
                    group, size = [], 0
                group.append(nxt)
                size += len(nxt.events)
            if group:
                self._commit(group)
            if stop:
                return

    def _commit(self, group: list[_Request]) -> None:
        events = [e for r in group for e in r.events]
        ends, at = set(), 0
        for r in group:
            at += len(r.events)
            ends.add(at - 1)
        try:
            with self.db.transaction() as s:
                results = engine.create_transfers(s, events, ends=frozenset(ends))
                per_request, at = [], 0
                for r in group:
                    mine = results[at:at + len(r.events)]
                    at += len(r.events)
                    if r.after is not None:
                        r.context.run(r.after, s, mine)
                    per_request.append(mine)
        except BaseException as exc:  # noqa: BLE001 — every waiting caller must hear back
            if len(group) == 1:
                group[0].future.set_exception(exc)
            else:  # isolate the request that failed the group
                for r in group:
                    self._commit([r])
            return
        self.groups += 1
        for r, mine in zip(group, per_request, strict=True):
            r.future.set_result(mine)
