"""The ledger server: the sequencer in its own process, fed over a Unix socket.

In one process the writer thread shares the GIL with every thread that submits to it, so the
callers' own Python work (building requests, waiting on futures, serving HTTP) slows the
writer down. Here the writer runs alone in a process of its own (``suanshu ledger serve``)
and API workers, the CLI and benchmarks reach it through ``LedgerClient``.

Like TigerBeetle's clients, a ``LedgerClient`` coalesces the requests its threads submit
concurrently into one message; the server's sequencer groups messages from all connections
into one transaction. Request boundaries survive both steps: each request gets its own
results and a linked chain never crosses a request's end.

Wire: messages are JSON, framed and authenticated by ``multiprocessing.connection`` (a
length prefix per message; an HMAC challenge with a shared key when a client connects; the
socket file is made readable by its owner only). JSON, not pickle, so a message can only ever
be data::

    client -> server  {"id": 7, "requests": [{"transfers": [[id, debit_account_id,
                        credit_account_id, amount, pending_id, ledger, code, flags, memo, timeout], ...],
                        "audit": null | {"actor": .., "action": .., "subject": .., "payload": {..}}}]}
    server -> client  {"id": 7, "results": [["ok", "exceeds_credits", ...], ...]}
                   or {"id": 7, "error": {"code": "ledger.malformed_event", "message": ".."}}

A reply is sent only after the group holding the message has committed, so an acknowledged
transfer is durable; the server checks every event again (the socket is a trust boundary).
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import os
import queue
import socket
import threading
from collections.abc import Sequence
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path

from suanshu.core.db import Database
from suanshu.core.errors import SuanshuError, UsageError
from suanshu.ledger import engine
from suanshu.ledger.codes import CreateTransferResult
from suanshu.ledger.sequencer import MAX_EVENTS, AuditNote, LoopWaiter, Sequencer, Ticket, resolve


class LedgerServerError(SuanshuError):
    """The server refused or failed a message; ``code`` is the server's."""


# --------------------------------------------------------------------------- the server

def _message_id(doc) -> int | None:
    return doc.get("id") if isinstance(doc, dict) and type(doc.get("id")) is int else None


def _parse(doc) -> list[tuple[list, AuditNote | None]]:
    if _message_id(doc) is None or not isinstance(doc.get("requests"), list):
        raise UsageError("ledger.malformed_message", "expected {\"id\": int, \"requests\": [...]}")
    parts = []
    for req in doc["requests"]:
        if not isinstance(req, dict) or not isinstance(req.get("transfers"), list):
            raise UsageError("ledger.malformed_message", "each request needs a list of transfers")
        events = [engine.transfer_from_fields(f) for f in req["transfers"]]
        note = req.get("audit")
        if note is not None:
            if not isinstance(note, dict) or set(note) - {"actor", "action", "subject", "payload"}:
                raise UsageError("ledger.malformed_message", "audit is {actor, action, subject, payload}")
            note = AuditNote(note.get("actor"), note.get("action"), note.get("subject"), note.get("payload") or {})
        parts.append((events, note))
    return parts


def _error(exc: BaseException) -> dict:
    if isinstance(exc, SuanshuError):
        return {"code": exc.code, "message": exc.message}
    return {"code": "ledger.internal", "message": f"{type(exc).__name__}: {exc}"}


class _Connection:
    """One client: a reader thread submits its messages; replies are sent as groups commit."""

    def __init__(self, conn: Connection, sequencer: Sequencer):
        self.conn, self.sequencer = conn, sequencer
        self._send_lock = threading.Lock()

    def send(self, doc: dict) -> None:
        data = json.dumps(doc, separators=(",", ":")).encode()
        with self._send_lock:
            try:
                self.conn.send_bytes(data)
            except OSError:
                pass  # the client went away; its transfers committed or not, as the log says

    def serve(self) -> None:
        try:
            while True:
                try:
                    message = self.conn.recv_bytes()
                except (EOFError, OSError):
                    return
                mid = None
                try:
                    doc = json.loads(message)
                    mid = _message_id(doc)
                    future = self.sequencer.submit_many(_parse(doc))
                except (SuanshuError, ValueError) as exc:
                    self.send({"id": mid, "error": _error(exc)})
                    continue
                future.add_done_callback(lambda f, mid=mid: self._reply(mid, f))
        finally:
            self.conn.close()

    def _reply(self, mid: int, future: Ticket) -> None:
        exc = future.exception()
        if exc is not None:
            self.send({"id": mid, "error": _error(exc)})
        else:
            self.send({"id": mid, "results": future.result()})


def _quiet_gc() -> None:
    """Keep the cyclic garbage collector's pauses out of the writer's way (this process serves
    the ledger and nothing else). A full collection walks every object in the process, about
    125,000 once the exchange's modules are imported: 80-90 ms on the shared 2-core machine, a
    stall of every request in flight, and at 512 in flight it came once per ~16,000 transfers,
    which made the p99. ``gc.freeze()`` moves what exists at startup (modules, classes, the
    engine) out of the collector's sight for good, so later collections walk only what the
    requests create; cycles among those are still collected."""
    gc.collect()
    gc.freeze()


class LedgerServer:
    """Serve ``db``'s ledger on a Unix socket until ``close``. ``authkey``: the shared secret."""

    def __init__(self, db: Database, address: str | Path, authkey: bytes):
        self.address = str(address)
        self.sequencer = Sequencer(db, name="server")
        if Path(self.address).is_socket():  # left by a server that was killed: nothing listens
            Path(self.address).unlink()
        self._listener = Listener(self.address, family="AF_UNIX", authkey=authkey)
        os.chmod(self.address, 0o600)
        self._closed = False

    def serve_forever(self) -> None:
        _quiet_gc()
        while not self._closed:
            try:
                conn = self._listener.accept()
            except (OSError, EOFError, AuthenticationError):  # closed, or a client without the key
                if self._closed:
                    return
                continue
            threading.Thread(target=_Connection(conn, self.sequencer).serve, daemon=True).start()

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        self.sequencer.close()


# --------------------------------------------------------------------------- the client

_STOP = object()


class LedgerClient:
    """The ``Sequencer`` interface, served by a ``LedgerServer`` in another process.

    ``submit`` checks the events here (a malformed one raises in the caller's thread), then
    one sender thread sends whatever has queued meanwhile as one message, and one receiver
    thread resolves the futures as replies arrive.
    """

    def __init__(self, address: str | Path, authkey: bytes, *, max_events: int = MAX_EVENTS):
        self.max_events = max_events
        self._conn = Client(str(address), family="AF_UNIX", authkey=authkey)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._waiting: dict[int, list[Ticket]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._sender = threading.Thread(target=self._send_loop, name="ledger-client-send", daemon=True)
        self._receiver = threading.Thread(target=self._receive_loop, name="ledger-client-recv", daemon=True)
        self._sender.start()
        self._receiver.start()

    def submit(self, transfers: Sequence[engine.NewTransfer], *, audit_note: AuditNote | None = None) -> Ticket:
        future = Ticket()
        self._enqueue(transfers, audit_note, future)
        return future

    async def submit_async(self, transfers: Sequence[engine.NewTransfer], *,
                           audit_note: AuditNote | None = None) -> list[CreateTransferResult]:
        """``submit`` for asyncio callers (an async API worker): many requests in flight on one
        event loop, none holding a thread. The receiver thread hands all of a reply's results
        for one loop to it in a single call (one wake-up per reply, not per request)."""
        waiter = LoopWaiter(asyncio.get_running_loop())
        self._enqueue(transfers, audit_note, waiter)
        return await waiter.future

    def _enqueue(self, transfers, audit_note: AuditNote | None, waiter: Ticket | LoopWaiter) -> None:
        events = engine.normalise_transfers(transfers)
        if not events:
            waiter.set_result([])
            return
        if len(events) > self.max_events:
            raise UsageError("ledger.batch_too_large", f"a request holds at most {self.max_events} transfers")
        note = None if audit_note is None else {"actor": audit_note.actor, "action": audit_note.action,
                                                "subject": audit_note.subject, "payload": audit_note.payload}
        self._queue.put(({"transfers": [engine.wire_fields(t) for t in events], "audit": note}, len(events), waiter))

    def create_transfers(self, transfers: Sequence[engine.NewTransfer], *,
                         audit_note: AuditNote | None = None) -> list[CreateTransferResult]:
        return self.submit(transfers, audit_note=audit_note).result()

    def close(self) -> None:
        self._queue.put(_STOP)
        self._sender.join()
        # Wake the receiver blocked in recv: shutting the socket down ends its read with EOF.
        with socket.fromfd(self._conn.fileno(), socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.shutdown(socket.SHUT_RDWR)
        self._receiver.join()
        self._conn.close()

    def _send_loop(self) -> None:
        carry = None  # a request (or the stop mark) taken from the queue but not sent yet
        while True:
            first = carry if carry is not None else self._queue.get()
            carry = None
            if first is _STOP:
                return
            batch, size = [first], first[1]
            while True:  # coalesce what the other threads queued meanwhile
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP or size + nxt[1] > self.max_events:
                    carry = nxt
                    break
                batch.append(nxt)
                size += nxt[1]
            mid = next(self._ids)
            with self._lock:
                self._waiting[mid] = [f for _, _, f in batch]
            data = json.dumps({"id": mid, "requests": [r for r, _, _ in batch]}, separators=(",", ":"))
            try:
                self._conn.send_bytes(data.encode())
            except OSError as exc:
                self._fail(mid, ConnectionError(f"ledger server unreachable: {exc}"))

    def _receive_loop(self) -> None:
        while True:
            try:
                doc = json.loads(self._conn.recv_bytes())
            except (EOFError, OSError):
                with self._lock:
                    pending = list(self._waiting)
                for mid in pending:
                    self._fail(mid, ConnectionError("the ledger server closed the connection"))
                return
            mid = doc.get("id")
            if "error" in doc:
                err = doc["error"]
                self._fail(mid, LedgerServerError(err["code"], err["message"]))
                continue
            with self._lock:
                waiters = self._waiting.pop(mid, [])
            if len(doc["results"]) != len(waiters):
                error = LedgerServerError("ledger.internal", "a reply's results do not match its requests")
                resolve([(w, error) for w in waiters])
                continue
            resolve([(w, [_RESULTS[r] for r in results]) for w, results in zip(waiters, doc["results"])])

    def _fail(self, mid, exc: BaseException) -> None:
        with self._lock:
            waiters = self._waiting.pop(mid, []) if mid is not None else []
        resolve([(w, exc) for w in waiters])


_RESULTS = {r.value: r for r in CreateTransferResult}


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m suanshu.ledger.server DATABASE_URL SOCKET KEY_FILE``: serve until killed."""
    import sys

    from suanshu.core.settings import load_settings

    url, address, key_file = (argv if argv is not None else sys.argv[1:])[:3]
    db = Database(load_settings(Path(address).parent, url))
    server = LedgerServer(db, address, Path(key_file).read_bytes())
    print(f"ledger server on {address}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
