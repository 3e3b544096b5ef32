"""The ledger writer's per-group seal append (issue 5): µs and CPU µs per sealed one-transfer
group's audit append, in process, on SQLite (default) or PostgreSQL (the tests' throwaway
server, fsync off). Prints one JSON object per line.

    uv run --frozen python bench/audit_append.py [--n 3000] [--backend sqlite|postgres] [--old REV]

Each iteration is what the sequencer does for a group around its seal: a session on the
writer's one connection, ``BEGIN`` (IMMEDIATE on SQLite), one ``ledger.seal`` audit append of
one digest, commit. ``empty`` is the same transaction without the append (the session, and
on SQLite its BEGIN IMMEDIATE and COMMIT; on PostgreSQL nothing reaches the server), so
``append`` minus ``empty`` is the append itself: lock and read the tree head, hash, insert the
entry, update the head (and on PostgreSQL the round trips of BEGIN and COMMIT). ``--old REV`` runs ``src/suanshu/audit/log.py`` as it was
at git revision REV (read with ``git show``), in place of the current module, for before/after
comparisons in one checkout. The log is verified at the end (``audit.verify``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def load_old_log(rev: str) -> None:
    """Install ``suanshu.audit.log`` from revision ``rev`` before anything imports it."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:src/suanshu/audit/log.py"],
                            check=True, capture_output=True, text=True).stdout
    with tempfile.NamedTemporaryFile("w", prefix="audit_log_old_", suffix=".py", delete=False) as fh:
        fh.write(source)
    path = Path(fh.name)
    import suanshu.audit as package
    spec = importlib.util.spec_from_file_location("suanshu.audit.log", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["suanshu.audit.log"] = module
    spec.loader.exec_module(module)
    path.unlink()
    package.log = module


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000, help="transactions per row")
    ap.add_argument("--group", type=int, default=1,
                    help="appends per transaction (1: a group's seal; 256: a leaf per request too)")
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--old", metavar="REV", help="run audit/log.py as of this git revision")
    args = ap.parse_args()
    if args.old:
        load_old_log(args.old)

    from sqlalchemy.orm import Session

    from suanshu.audit import log as audit
    from suanshu.core import migrate
    from suanshu.core.db import Database
    from suanshu.core.settings import load_settings
    from suanshu.ledger import seals

    assert not args.old or audit.__file__ != str(ROOT / "src/suanshu/audit/log.py")
    tmp = tempfile.TemporaryDirectory(prefix="audit_append_")
    home = Path(tmp.name)
    server = None
    if args.backend == "sqlite":
        url = f"sqlite:///{home / 'suanshu.db'}"
    else:
        from pgserver import PgServer, find_bindir
        server = PgServer(find_bindir()).start()
        url = server.create_database("bench_audit")
    db = Database(load_settings(home, url))
    migrate.upgrade(db.engine)
    conn = db.engine.connect()  # the writer's one connection, as the sequencer holds it
    digest = "0123456789abcdef" * 2

    def run(append: bool, n: int, start: int) -> dict:
        t0, c0 = time.perf_counter(), time.thread_time()
        for i in range(start, start + n):
            with Session(bind=conn, expire_on_commit=False) as s, s.begin():
                s.connection()  # BEGIN (IMMEDIATE on SQLite; psycopg begins at the first statement)
                for _ in range(args.group if append else 0):
                    audit.append(s, actor=seals.ACTOR, action=seals.ACTION, subject=f"transfers@{i}",
                                 payload={"first_timestamp": i, "count": 1, "digests": digest})
        wall, cpu = time.perf_counter() - t0, time.thread_time() - c0
        return {"wall_us": round(wall / n * 1e6, 1), "cpu_us": round(cpu / n * 1e6, 1)}

    try:
        run(True, 200, 0)  # warm up: compiled statements, caches, a few pages
        start = 1000
        for _ in range(2):
            empty = run(False, args.n, 0)
            full = run(True, args.n, start)
            start += args.n
            print(json.dumps({"backend": args.backend, "code": f"old {args.old}" if args.old else "current",
                              "n": args.n, "appends_per_txn": args.group, "empty_txn": empty, "append_txn": full,
                              "append_only_wall_us": round(full["wall_us"] - empty["wall_us"], 1),
                              "append_only_cpu_us": round(full["cpu_us"] - empty["cpu_us"], 1),
                              "load": os.getloadavg()[0]}), flush=True)
        with Session(bind=conn) as s, s.begin():
            result = audit.verify(s)
            assert result.ok, result
        print(json.dumps({"verified_entries": result.entries, "root": result.root}), flush=True)
    finally:
        conn.close()
        db.dispose()
        if server is not None:
            server.stop()
        tmp.cleanup()


if __name__ == "__main__":
    main()
