"""A hardened in-process DuckDB for running governed queries next to a vault's Parquet files.

Defences, in the order they are set up:

1. extension auto-install/auto-load, community extensions and Python replacement scans
   (DuckDB reading a pandas/Arrow object that happens to be in scope) are off from the start;
2. ``allowed_paths`` lists exactly the vault files, then ``enable_external_access=false`` turns
   off every other file, URL, ATTACH, COPY, INSTALL and LOAD;
3. the vault files become views ``vault."<name>"``; unqualified names resolve in ``main``
   first, then ``vault`` (so component SQL can say ``FROM orders``);
4. ``setup(con)`` runs (register UDFs such as ss_hmac), then the ``views`` are created in main;
5. ``lock_configuration=true``: nothing above can be changed by any later statement.

Memory is capped by ``memory_limit`` and ``threads``; what a query spills past it goes to a
private temporary directory (removed on close) capped by ``temp_limit``, not to DuckDB's
default ``.tmp`` under whatever directory the process runs in. The progress bar is off: DuckDB
prints it on stdout, where it would corrupt ``suanshu analyze``'s JSON.

External access is cut *before* ``setup`` and the views run, so even caller-supplied SQL can
only ever read the listed files. Every query runs under a wall-clock limit: a timer thread calls
``con.interrupt()``.

``SandboxPool`` keeps idle sandboxes for reuse: building one costs tens of milliseconds (a DuckDB
instance, the vault views, the UDFs), a governed aggregate a few.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import duckdb
import pyarrow as pa

from suanshu.core.errors import Refused, UsageError

# Errors raised while planning a query name its own SQL, never row values, so their text may
# reach a buyer; errors raised while running it (conversion, overflow, ...) can quote a value.
_PLANNING_ERRORS: tuple[type[Exception], ...] = (
    duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException,
)  # fmt: skip


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_identifier(name: str) -> str:
    if not name or "\x00" in name:
        raise UsageError("sandbox.invalid_name", f"invalid table or view name {name!r}")
    return '"' + name.replace('"', '""') + '"'


T = TypeVar("T")
_SIMPLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


@dataclass(frozen=True)
class ResultTable:
    columns: list[str]
    rows: list[tuple]


class Sandbox:
    def __init__(
        self,
        files: Mapping[str, Path | str],
        *,
        memory_limit: str = "1GB",
        temp_limit: str = "2GB",
        threads: int = 2,
        timeout_s: float = 30.0,
        setup: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
        views: Mapping[str, str] | None = None,
    ) -> None:
        if timeout_s <= 0:
            raise UsageError("sandbox.invalid_timeout", "timeout_s must be positive")
        self.timeout_s = float(timeout_s)
        # (table, policy.sqlguard.JoinKey) pairs the engine has checked: the sandbox's files and
        # views are fixed for its life, so facts about them stay true
        self.checked_joins: set[tuple] = set()
        self.reusable = True
        paths = {name: Path(path).resolve() for name, path in files.items()}
        for name, path in paths.items():
            if not path.is_file():
                raise UsageError("sandbox.missing_file", f"vault file for {name!r} not found: {path}")
        self._spill = tempfile.mkdtemp(prefix="suanshu-sandbox-")
        # a pooled sandbox of a process that ends without closing its exchange: its dir goes too
        weakref.finalize(self, shutil.rmtree, self._spill, True)
        try:
            self._con = duckdb.connect(
                ":memory:",
                config={
                    "autoinstall_known_extensions": False,
                    "autoload_known_extensions": False,
                    "allow_community_extensions": False,
                    "python_enable_replacements": False,
                    "memory_limit": memory_limit,
                    "temp_directory": self._spill,
                    "max_temp_directory_size": temp_limit,
                    "threads": int(threads),
                },
            )
        except BaseException:
            shutil.rmtree(self._spill, ignore_errors=True)
            raise
        try:
            con = self._con
            con.execute("SET enable_progress_bar = false")  # a session option, not a connect one
            # allowed_paths cannot be changed once external access is off, so it comes first.
            allowed = ", ".join(_sql_string(str(p)) for p in paths.values())
            con.execute(f"SET allowed_paths = [{allowed}]")
            con.execute("SET enable_external_access = false")
            con.execute("CREATE SCHEMA vault")
            for name, path in paths.items():
                con.execute(
                    f"CREATE VIEW vault.{_sql_identifier(name)} AS "
                    f"SELECT * FROM read_parquet({_sql_string(str(path))})"
                )
            con.execute("SET search_path = 'main,vault'")
            if setup is not None:
                setup(con)
            for name, select_sql in (views or {}).items():
                con.execute(f"CREATE VIEW main.{_sql_identifier(name)} AS {select_sql}")
            con.execute("SET lock_configuration = true")
        except BaseException:
            self.close()
            raise

    def execute(self, sql: str, *, max_rows: int | None = None, redact: bool = False) -> ResultTable:
        """Run SQL under the time limit; fetch at most max_rows rows (all when None).

        redact=True withholds the text of errors raised while the query runs, because those can
        quote row values (use it for buyer queries)."""

        def fetch():
            cursor = self._con.execute(sql)
            columns = [d[0] for d in cursor.description] if cursor.description else []
            rows = cursor.fetchall() if max_rows is None else cursor.fetchmany(max_rows)
            return ResultTable(columns=columns, rows=rows)

        return self._timed(fetch, redact=redact)

    def execute_arrow(self, sql: str) -> pa.Table:
        """Run trusted exchange-side SQL (e.g. the listing gate's scan) and return Arrow."""
        return self._timed(lambda: self._con.sql(sql).to_arrow_table())

    def arrow_batches(self, sql: str, rows: int) -> Iterator[pa.RecordBatch]:
        """Run trusted exchange-side SQL and yield its result as Arrow batches of ``rows`` rows
        (the last may be shorter), each computed when it is asked for: memory holds a batch,
        not the result. The time limit applies to each batch, so a large result is not cut
        off for its size alone. Until the stream is read to its end or closed, the sandbox
        runs no other query (DuckDB's connection holds the open result)."""
        reader = self._timed(lambda: self._con.sql(sql).to_arrow_reader(rows))
        try:
            while (batch := self._timed(lambda: _next_batch(reader))) is not None:
                if batch.num_rows:
                    yield batch
        finally:
            reader.close()

    def add_table(self, name: str, table: pa.Table) -> None:
        """Expose an in-memory Arrow table (a buyer's own table, for the ``join`` role) as ``name``.

        Allowed after the configuration is locked: it reads no file and changes no setting. The
        name may not be one the sandbox already has: DuckDB would resolve the new (temporary)
        view first and let it stand in for the provider's table."""
        if not isinstance(name, str) or not _SIMPLE_NAME.fullmatch(name):
            raise UsageError("sandbox.invalid_name", f"a table name is a simple identifier, got {name!r}")
        taken = {n.lower() for (n,) in self.execute("SELECT table_name FROM information_schema.tables").rows}
        if name.lower() in taken:
            raise UsageError("sandbox.name_taken", f"a table named {name!r} already exists here; choose another name")
        self.reusable = False  # the next borrower must not see this buyer's table
        self._con.register(name, table)

    def describe(self, sql: str) -> list[dict]:
        """Output columns of ``sql`` as [{"name", "type"}], without reading any rows."""
        relation = self._timed(lambda: self._con.sql(f"SELECT * FROM ({sql}) AS d LIMIT 0"))
        return [{"name": n, "type": str(t)} for n, t in zip(relation.columns, relation.types)]

    def _timed(self, fn: Callable[[], T], *, redact: bool = False) -> T:
        fired = threading.Event()

        def stop() -> None:
            fired.set()
            self._con.interrupt()

        timer = threading.Timer(self.timeout_s, stop)
        timer.daemon = True
        timer.start()
        try:
            return fn()
        except duckdb.Error as e:
            if fired.is_set() or isinstance(e, duckdb.InterruptException):
                raise Refused("query.timeout", f"the query ran longer than {self.timeout_s:g} s") from None
            message = str(e).splitlines()[0] if str(e) else type(e).__name__
            if redact and not isinstance(e, _PLANNING_ERRORS):
                message = f"{type(e).__name__} while running the query (details withheld: they can contain row values)"
            raise Refused("query.execution_error", message) from None
        finally:
            timer.cancel()
            timer.join()

    def close(self) -> None:
        self._con.close()
        shutil.rmtree(self._spill, ignore_errors=True)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SandboxPool:
    """Idle sandboxes by key (what they were built from), reused by later queries.

    Sound because a sandbox's configuration is locked and the SQL run in it is read-only (the
    policy guard passes one SELECT), so a query leaves nothing behind for the next. A sandbox is
    closed instead of pooled when its borrower raised (a timeout interrupts DuckDB mid-query) or
    when it got a caller's own table (``add_table``). One borrower at a time per sandbox: a DuckDB
    connection is not for concurrent use."""

    def __init__(self, max_idle: int = 8):
        self.max_idle = max_idle
        self._idle: OrderedDict[tuple[Hashable, int], Sandbox] = OrderedDict()  # oldest first
        self._serial = 0
        self._lock = threading.Lock()

    @contextmanager
    def borrow(self, key: Hashable, make: Callable[[], Sandbox]) -> Iterator[Sandbox]:
        sandbox = self._take(key) or make()
        try:
            yield sandbox
        except BaseException:
            sandbox.close()
            raise
        if sandbox.reusable:
            self._give(key, sandbox)
        else:
            sandbox.close()

    def _take(self, key: Hashable) -> Sandbox | None:
        with self._lock:
            for slot in reversed(self._idle):  # the most recently used: warmest caches
                if slot[0] == key:
                    return self._idle.pop(slot)
        return None

    def _give(self, key: Hashable, sandbox: Sandbox) -> None:
        with self._lock:
            self._serial += 1
            self._idle[(key, self._serial)] = sandbox
            evicted = [self._idle.popitem(last=False)[1] for _ in range(len(self._idle) - self.max_idle)]
        for old in evicted:
            old.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = list(self._idle.values()), OrderedDict()
        for sandbox in idle:
            sandbox.close()


def _next_batch(reader: pa.RecordBatchReader) -> pa.RecordBatch | None:
    try:
        return reader.read_next_batch()
    except StopIteration:
        return None
    except (OSError, pa.ArrowException) as e:  # DuckDB's error, passed on through Arrow's stream
        raise duckdb.Error(str(e)) from None
