"""Ledger and audit throughput (issue 5): transfers/s and p99 latency on SQLite and PostgreSQL,
unbatched vs through the sequencer with many concurrent clients, with and without an audit
leaf per request; and usage ingest events/s. Prints one JSON object per line.

    uv run python bench/ledger.py [--quick] [--transfers N]

Peers (published, not run here): pgledger 7.5-10.6k transfers/s on PostgreSQL; Formance ~1k/s.
PostgreSQL is a throwaway server started with tests/pgserver.py, restarted durable (fsync on;
``--pg-fsync off`` for the tests' settings). Each row first freezes the bench's own heap out of
the garbage collector's sight (``FrozenHeap``, as ``suanshu serve`` and the ledger server freeze
their startup heaps); ``--gc-heap visible`` measures without.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from pgserver import PgServer, find_bindir  # noqa: E402

from suanshu.audit import log as audit  # noqa: E402
from suanshu.billing import usage  # noqa: E402
from suanshu.core import migrate  # noqa: E402
from suanshu.core.db import Database  # noqa: E402
from suanshu.core.ids import new_uuid_hex  # noqa: E402
from suanshu.core.settings import load_settings  # noqa: E402
from suanshu.ledger import engine  # noqa: E402
from suanshu.ledger.codes import CNY, AccountCode, AccountFlags, TransferCode  # noqa: E402
from suanshu.ledger.sequencer import AuditNote, Sequencer  # noqa: E402
from suanshu.ledger.server import LedgerClient  # noqa: E402

ACCOUNTS = 1000


def nid() -> str:
    """Time-ordered ids (UUIDv7), as the exchange makes them (``core.ids.new_uuid_hex``) and as
    TigerBeetle recommends: new transfers land at the end of the id index instead of on a
    random page of it. ``--ids random`` measures random ones."""
    return new_uuid_hex()


def setup(url: str, home: Path) -> tuple[Database, str, list[str]]:
    db = Database(load_settings(home, url))
    migrate.upgrade(db.engine)
    bank, cash = nid(), [nid() for _ in range(ACCOUNTS)]
    with db.transaction() as s:
        engine.create_accounts(s, [engine.NewAccount(bank, CNY, AccountCode.BANK)]
                               + [engine.NewAccount(a, CNY, AccountCode.CASH,
                                                    AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS) for a in cash])
        engine.create_transfers(s, [engine.NewTransfer(nid(), bank, a, 10**9, CNY, TransferCode.DEPOSIT)
                                    for a in cash])
    return db, bank, cash


def transfer(cash: list[str], rng: random.Random) -> engine.NewTransfer:
    dr, cr = rng.sample(cash, 2)
    return engine.NewTransfer(nid(), dr, cr, rng.randint(1, 1000), CNY, TransferCode.CHARGE)


class GcPauses:
    """Time this process spent in the cyclic garbage collector (every thread stops meanwhile):
    a full collection walks every object in the process and shows up as the p99."""

    def __init__(self) -> None:
        self.ms, self.full, self._t0 = 0.0, 0, 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.ms += (time.perf_counter() - self._t0) * 1000
            self.full += info["generation"] == 2

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc) -> None:
        gc.callbacks.remove(self)


class FrozenHeap:
    """Take everything alive now (the bench's setup, earlier rows' leftovers, a row's pre-made
    transfers) out of the cyclic collector's sight for one row, as the product takes its startup
    heap (``suanshu serve``, the ledger server): otherwise a full collection walks the bench's
    own data, 150-270 ms on this machine, and that pause of every thread is what the p99 of an
    in-process row measured. Collections of what the row itself creates still run and are
    reported (``gc_ms``, ``gc_full``)."""

    def __enter__(self) -> FrozenHeap:
        if FREEZE:
            gc.collect()
            gc.freeze()
        return self

    def __exit__(self, *exc) -> None:
        if FREEZE:
            gc.unfreeze()


FREEZE = True  # --gc-heap visible: the bench's own heap stays in the collector's sight


def run_clients(clients: int, per_client: int, send, window: int = 1) -> dict:
    """``clients`` threads each send ``per_client`` one-transfer requests, keeping up to
    ``window`` in flight (an API worker serving several requests at once); latency is
    submit -> acknowledged (committed). ``gc_ms``: time this (the clients') process spent in
    garbage collection meanwhile, ``gc_full``: how many of those were full collections."""
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)

    def client(c: int) -> None:
        rng, mine, inflight = random.Random(c), [], deque()
        barrier.wait()
        for _ in range(per_client):
            if len(inflight) == window:
                t0, wait = inflight.popleft()
                wait()
                mine.append(time.perf_counter() - t0)
            inflight.append((time.perf_counter(), send(rng)))
        for t0, wait in inflight:
            wait()
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    with FrozenHeap(), GcPauses() as pauses:
        barrier.wait()
        start = time.perf_counter()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
    return summary(latencies, elapsed, pauses)


def summary(latencies: list[float], elapsed: float, pauses: GcPauses, per_request: int = 1) -> dict:
    """Transfers/s and per-request latency percentiles of one row."""
    latencies.sort()
    n = len(latencies)
    return {"transfers": n * per_request, "requests": n, "seconds": round(elapsed, 3), "transfers_per_s": round(n * per_request / elapsed),
            "p50_ms": round(latencies[n // 2] * 1000, 2), "p99_ms": round(latencies[int(n * 0.99)] * 1000, 2),
            "gc_ms": round(pauses.ms, 1), "gc_full": pauses.full}


def run_async_clients(in_flight: int, total: int, client, cash: list[str], note: AuditNote | None,
                      per_request: int = 1) -> dict:
    """``in_flight`` asyncio tasks on one event loop (an async API worker's requests) submitting to
    ``client`` (a ``LedgerClient`` or an in-process ``Sequencer``), each sending requests of
    ``per_request`` transfers one after another until ``total`` transfers are acknowledged. The
    transfers are made before the clock starts (TigerBeetle's benchmark does the same): what is
    timed is submitting and committing them. Latency is per request, submit -> acknowledged
    (committed). No thread per request: the clients' process pays the event loop's cost per
    request, not thread switches."""
    latencies: list[float] = []
    per_client = max(1, total // in_flight // per_request)

    def requests(c: int) -> list[list[engine.NewTransfer]]:
        rng = random.Random(c)
        return [[transfer(cash, rng) for _ in range(per_request)] for _ in range(per_client)]

    async def one_client(mine: list[list[engine.NewTransfer]]) -> None:
        for request in mine:
            t0 = time.perf_counter()
            engine.require_ok(await client.submit_async(request, audit_note=note), request)
            latencies.append(time.perf_counter() - t0)

    work = [requests(c) for c in range(in_flight)]

    async def main() -> float:
        start = time.perf_counter()
        await asyncio.gather(*(one_client(mine) for mine in work))
        return time.perf_counter() - start

    with FrozenHeap(), GcPauses() as pauses:
        c0 = time.process_time()
        elapsed = asyncio.run(main())
        cpu = time.process_time() - c0
    r = summary(latencies, elapsed, pauses, per_request)
    return r | {"per_request": per_request, "process_cpu_us_per_transfer": round(cpu / r["transfers"] * 1e6, 1)}


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) the process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(url: str, home: Path) -> tuple[subprocess.Popen, Path, bytes]:
    key = secrets.token_bytes(32)
    key_file, address = home / "ledger.key", home / "ledger.sock"
    key_file.write_bytes(key)
    proc = subprocess.Popen([sys.executable, "-m", "suanshu.ledger.server", url, str(address), str(key_file)],
                            stdout=subprocess.PIPE, text=True)
    assert "ledger server" in proc.stdout.readline()
    return proc, address, key


LEVELS = ((16, 4), (64, 8))  # (client threads, requests in flight per thread): 64 and 512 in flight
# asyncio clients: (requests in flight, transfers per request): one transfer per request, and
# requests of 16 (TigerBeetle's clients send batches; an API worker settling a bill sends several)
ASYNC_LEVELS = ((64, 1), (512, 1), (16, 16), (32, 16), (64, 16))


def bench_backend(name: str, url: str, home: Path, quick: bool, per_row: int, extra: dict) -> None:
    scale = 0.3 if quick else 1.0
    db, bank, cash = setup(url, home)
    note = AuditNote("bench", "ledger.transfer", "bench")

    def direct(with_audit: bool):
        def send(rng):
            t = transfer(cash, rng)
            with db.transaction() as s:
                engine.require_ok(engine.create_transfers(s, [t]), [t])
                if with_audit:
                    audit.append(s, actor=note.actor, action=note.action, subject=note.subject)
            return lambda: None
        return send

    def through(seq, with_audit: bool):
        def send(rng):
            t = transfer(cash, rng)
            future = seq.submit([t], audit_note=note if with_audit else None)
            return lambda: engine.require_ok(future.result(), [t])
        return send

    def warm(writer) -> None:
        """One request touching every account before the clock: a running exchange's writer has
        its connection's pages and its accounts in memory; a new one's first group (cold page
        cache, 1,000 accounts read) took 20-30 ms more, a whole 1 % of a short row's requests."""
        pairs = list(zip(cash[::2], cash[1::2]))
        batch = [engine.NewTransfer(nid(), dr, cr, 1, CNY, TransferCode.CHARGE) for dr, cr in pairs]
        engine.require_ok(writer.create_transfers(batch), batch)

    def out(mode, clients, window, with_audit, r, cpu=None):
        r |= {"in_flight": clients * window} | extra
        if cpu is not None:
            r["writer_cpu_us_per_transfer"] = round(cpu / r["transfers"] * 1e6, 1)
        emit(name, mode, clients, with_audit, r)

    def served(run) -> tuple[dict, float]:
        """``run(client)`` against a fresh ledger server; also the server's CPU seconds."""
        proc, address, key = start_server(url, home)
        try:
            client = LedgerClient(address, key)
            warm(client)
            c0 = server_cpu(proc.pid)
            r = run(client)
            cpu = server_cpu(proc.pid) - c0  # the server process alone
            client.close()
        finally:
            proc.terminate()
            proc.wait()
        return r, cpu

    total = int(per_row * scale)
    for with_audit in (False, True):
        leaf = note if with_audit else None
        r = run_clients(8, int(120 * scale), direct(with_audit))
        out("unbatched", 8, 1, with_audit, r)
        for clients, window in LEVELS:  # client threads
            seq = Sequencer(db, name=name)
            warm(seq)
            c0 = time.process_time()
            r = run_clients(clients, total // clients, through(seq, with_audit), window)
            cpu = time.process_time() - c0  # writer and clients share this process
            r["mean_group"] = round(r["transfers"] / max(seq.groups - 1, 1), 1)  # less the warm-up
            seq.close()
            out("sequencer", clients, window, with_audit, r, cpu)
            r, cpu = served(lambda c: run_clients(clients, total // clients, through(c, with_audit), window))
            out("server", clients, window, with_audit, r, cpu)
        for in_flight, per_request in ASYNC_LEVELS:  # asyncio clients on one event loop
            seq = Sequencer(db, name=name)
            warm(seq)
            r = run_async_clients(in_flight, total, seq, cash, leaf, per_request)
            # writer and clients share this process: its CPU while the clock ran
            r["writer_cpu_us_per_transfer"] = r.pop("process_cpu_us_per_transfer")
            r["mean_group"] = round(r["transfers"] / max(seq.groups - 1, 1), 1)  # less the warm-up
            seq.close()
            out("sequencer_async", in_flight, 1, with_audit, r)
            r, cpu = served(lambda c: run_async_clients(in_flight, total, c, cash, leaf, per_request))
            r["client_cpu_us_per_transfer"] = r.pop("process_cpu_us_per_transfer")
            out("server_async", in_flight, 1, with_audit, r, cpu)

    # The writer's own cost: groups of 256 through the engine (sealed, with the account cache, as
    # the sequencer writes them), CPU time of this process only — what one free core could commit.
    rng = random.Random(99)
    for with_audit in (False, True):
        groups = [engine.normalise_transfers([transfer(cash, rng) for _ in range(256)])
                  for _ in range(int(40 * scale))]
        cache = engine.AccountCache()
        c0, t0 = time.process_time(), time.perf_counter()
        for g in groups:
            with db.transaction() as s:
                engine.create_transfers(s, g, ends=frozenset(range(256)), seal=True, cache=cache)
                for _ in g if with_audit else ():
                    audit.append(s, actor=note.actor, action=note.action, subject=note.subject)
            cache.commit()
        cpu, wall, n = time.process_time() - c0, time.perf_counter() - t0, 256 * len(groups)
        print(json.dumps({"backend": name, "bench": "writer_cpu", "group": 256, "audit_leaf_per_request": with_audit,
                          "transfers": n, "cpu_us_per_transfer": round(cpu / n * 1e6, 1),
                          "transfers_per_cpu_second": round(n / cpu), "transfers_per_s": round(n / wall),
                          "load": os.getloadavg()[0]} | extra), flush=True)

    # usage ingest: batches of 5,000 CloudEvents-shaped events, 10 % of them resends
    n, batch, t0 = int(50_000 * scale), 5000, datetime(2026, 11, 1, tzinfo=UTC)
    events = [{"id": f"e{i}", "source": "bench/meter", "type": "suanshu.usage.query", "subject": "ctr_bench",
               "time": (t0 + timedelta(seconds=i)).isoformat(), "data": {"rows": i % 100}} for i in range(n)]
    start = time.perf_counter()
    new = 0
    for i in range(0, n, batch):
        chunk = events[i:i + batch] + events[max(0, i - batch // 10):i]  # plus resends of the previous batch
        with db.transaction() as s:
            new += usage.ingest(s, chunk, actor="bench")
    elapsed = time.perf_counter() - start
    print(json.dumps({"backend": name, "bench": "usage_ingest", "events": n, "new": new,
                      "seconds": round(elapsed, 3), "events_per_s": round(n / elapsed)} | extra), flush=True)
    with db.transaction() as s:
        assert engine.verify(s).ok and audit.verify(s).ok
    db.dispose()


def emit(backend: str, mode: str, clients: int, with_audit: bool, r: dict) -> None:
    print(json.dumps({"backend": backend, "bench": "transfers", "mode": mode, "clients": clients,
                      "audit_leaf_per_request": with_audit} | r | {"load": os.getloadavg()[0]}), flush=True)


class DurablePgServer(PgServer):
    """The test server, but durable: fsync, synchronous_commit and full_page_writes on (the
    defaults); tests/pgserver.py turns all three off for speed."""

    def start(self) -> DurablePgServer:
        super().start()
        opts = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c max_connections=200 "
                "-c fsync=on -c synchronous_commit=on -c full_page_writes=on")
        self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.root / "log"), "-w", "restart")
        return self


def pg_durability(url: str) -> str:
    """What the server actually runs with, asked of the server."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        return ", ".join(f"{k}={conn.execute(f'SHOW {k}').fetchone()[0]}"
                         for k in ("fsync", "synchronous_commit", "full_page_writes"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="a third of the work, for a smoke run")
    ap.add_argument("--transfers", type=int, default=48_000,
                    help="transfers per sequencer/server row (default 48,000: p99 over 3,000+ requests)")
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--pg-fsync", choices=["on", "off"], default="on",
                    help="on: a durable server (default); off: the test server's settings")
    ap.add_argument("--ids", choices=["time", "random"], default="time",
                    help="transfer ids: time-ordered UUIDv7 as the exchange makes them (default), or random")
    ap.add_argument("--gc-heap", choices=["frozen", "visible"], default="frozen",
                    help="frozen: each row freezes the bench's own heap first (FrozenHeap); visible: not")
    args = ap.parse_args()
    global FREEZE
    FREEZE = args.gc_heap == "frozen"
    if args.ids == "random":
        global nid
        nid = lambda: secrets.token_hex(16)  # noqa: E731
    with tempfile.TemporaryDirectory(prefix="suanshu-bench-") as tmp:
        root = Path(tmp)
        if args.backend in ("sqlite", "both"):
            (root / "sqlite").mkdir()
            bench_backend("sqlite", f"sqlite:///{root / 'sqlite' / 'suanshu.db'}", root / "sqlite", args.quick, args.transfers,
                          {"durability": "WAL, synchronous=NORMAL", "ids": args.ids}
                          | {"gc_heap": args.gc_heap})
        if args.backend in ("postgres", "both"):
            bindir = find_bindir()
            if bindir is None:
                print(json.dumps({"backend": "postgres", "skipped": "no PostgreSQL binaries"}))
                return
            server = (DurablePgServer if args.pg_fsync == "on" else PgServer)(bindir).start()
            try:
                url = server.create_database("bench")
                (root / "pg").mkdir()
                bench_backend("postgres", url, root / "pg", args.quick, args.transfers, {"durability": pg_durability(url), "ids": args.ids}
                              | {"gc_heap": args.gc_heap})
            finally:
                server.stop()


if __name__ == "__main__":
    main()
