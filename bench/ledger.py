"""Ledger and audit throughput (issue 5): transfers/s and p99 latency on SQLite and PostgreSQL,
unbatched vs through the sequencer with many concurrent clients, with and without an audit
leaf per request; and usage ingest events/s. Prints one JSON object per line.

    uv run python bench/ledger.py [--quick]

Peers (published, not run here): pgledger 7.5-10.6k transfers/s on PostgreSQL; Formance ~1k/s.
PostgreSQL is a throwaway server started with tests/pgserver.py (fsync off, like the tests).
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
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
from suanshu.core.settings import load_settings  # noqa: E402
from suanshu.ledger import engine  # noqa: E402
from suanshu.ledger.codes import CNY, AccountCode, AccountFlags, TransferCode  # noqa: E402
from suanshu.ledger.sequencer import Sequencer  # noqa: E402

ACCOUNTS = 1000


def nid() -> str:
    return secrets.token_hex(16)


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


def run_clients(clients: int, per_client: int, send, window: int = 1) -> dict:
    """``clients`` threads each send ``per_client`` one-transfer requests, keeping up to
    ``window`` in flight (an API worker serving several requests at once); latency is
    submit -> acknowledged (committed)."""
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
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    latencies.sort()
    n = len(latencies)
    return {"transfers": n, "seconds": round(elapsed, 3), "transfers_per_s": round(n / elapsed),
            "p50_ms": round(latencies[n // 2] * 1000, 2), "p99_ms": round(latencies[int(n * 0.99)] * 1000, 2)}


def bench_backend(name: str, url: str, home: Path, quick: bool) -> None:
    scale = 0.3 if quick else 1.0
    db, bank, cash = setup(url, home)

    def leaf(s, results):
        audit.append(s, actor="bench", action="ledger.transfer", subject="bench", payload={"results": results})

    def direct(with_audit: bool):
        def send(rng):
            t = transfer(cash, rng)
            with db.transaction() as s:
                engine.require_ok(engine.create_transfers(s, [t]), [t])
                if with_audit:
                    leaf(s, ["ok"])
            return lambda: None
        return send

    def sequenced(seq: Sequencer, with_audit: bool):
        def send(rng):
            t = transfer(cash, rng)
            future = seq.submit([t], after=leaf if with_audit else None)
            return lambda: engine.require_ok(future.result(), [t])
        return send

    for with_audit in (False, True):
        clients = 8
        r = run_clients(clients, int(120 * scale), direct(with_audit))
        emit(name, "unbatched", clients, with_audit, r)
        clients, window = 64, 8
        seq = Sequencer(db, name=name)
        r = run_clients(clients, int(250 * scale), sequenced(seq, with_audit), window)
        r["in_flight"] = clients * window
        r["groups"], r["mean_group"] = seq.groups, round(r["transfers"] / max(seq.groups, 1), 1)
        seq.close()
        emit(name, "sequencer", clients, with_audit, r)

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
                      "seconds": round(elapsed, 3), "events_per_s": round(n / elapsed)}), flush=True)
    with db.transaction() as s:
        assert engine.verify(s).ok and audit.verify(s).ok
    db.dispose()


def emit(backend: str, mode: str, clients: int, with_audit: bool, r: dict) -> None:
    print(json.dumps({"backend": backend, "bench": "transfers", "mode": mode, "clients": clients,
                      "audit_leaf_per_request": with_audit} | r), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="a third of the work, for a smoke run")
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="suanshu-bench-") as tmp:
        root = Path(tmp)
        if args.backend in ("sqlite", "both"):
            bench_backend("sqlite", f"sqlite:///{root / 'sqlite' / 'suanshu.db'}", root / "sqlite", args.quick)
        if args.backend in ("postgres", "both"):
            bindir = find_bindir()
            if bindir is None:
                print(json.dumps({"backend": "postgres", "skipped": "no PostgreSQL binaries"}))
                return
            server = PgServer(bindir).start()
            try:
                bench_backend("postgres", server.create_database("bench"), root / "pg", args.quick)
            finally:
                server.stop()


if __name__ == "__main__":
    main()
