"""Database engine, sessions and the declarative base shared by every domain's tables.

SQLite (WAL) is the embedded default; PostgreSQL takes over at scale. Schema changes
go only through the Alembic migrations in ``suanshu/migrations``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Integer,
    MetaData,
    String,
    TypeDecorator,
    create_engine,
    event,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from suanshu.core.errors import UsageError
from suanshu.core.settings import Settings

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Stores UTC, always returns timezone-aware UTC (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use suanshu.core.clock.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# BIGINT on PostgreSQL, INTEGER on SQLite (which is 64-bit there and allows rowid aliasing).
Fen = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict: JSON, list: JSON, str: String}


NUL = "\x00"


def _refuse_nul(engine: Engine) -> None:
    """Text holding the NUL character is refused before any statement carries it, on every
    database alike: PostgreSQL cannot store it in a text column (its driver fails, a 500 for an
    API caller), SQLite would store it silently. One check here covers every field of every
    adapter (API, console, CLI); JSON columns are sent as JSON text, where NUL is escaped."""

    @event.listens_for(engine, "before_cursor_execute")
    def no_nul(_conn, _cursor, _statement, parameters, _context, executemany):
        for row in (parameters if executemany else (parameters,)) or ():
            for value in (row.values() if isinstance(row, dict) else row or ()):
                if type(value) is str and NUL in value:
                    raise UsageError("text.nul", "text may not hold the NUL character (U+0000): "
                                     f"{value[:40]!r}")


def make_engine(url: str, *, echo: bool = False) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("sqlite:///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30, "check_same_thread": False})
        _sqlite_pragmas(engine)
        _refuse_nul(engine)
        return engine
    engine = create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20)
    _refuse_nul(engine)
    return engine


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_conn, _record):
        # Let SQLAlchemy own transaction boundaries so BEGIN IMMEDIATE below is honoured.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn):
        # Take the write lock up front: a read transaction upgraded to write can fail
        # with SQLITE_BUSY; an immediate one waits its turn instead. Reads (Database.read)
        # begin deferred: a WAL snapshot that neither waits for nor blocks the writer.
        # On the driver's connection: through exec_driver_sql it cost ~30 µs per transaction.
        conn.connection.driver_connection.execute(
            "BEGIN" if conn.get_execution_options().get("suanshu_read") else "BEGIN IMMEDIATE")


_WRITER_LOCKS: dict[str, threading.RLock] = {}


def _writer_lock(engine: Engine) -> threading.RLock:
    """One lock per SQLite file for this process's write transactions. SQLite admits one writer;
    the others wait in its busy handler, which sleeps in steps of up to 100 ms and wakes in no
    order, so under contention a transaction could wait seconds behind later ones. Threads of
    one process take turns here instead (other processes still meet the busy handler)."""
    with _LOCKS_LOCK:
        return _WRITER_LOCKS.setdefault(str(engine.url), threading.RLock())


_LOCKS_LOCK = threading.Lock()


class Database:
    """An engine plus a session factory; ``with db.transaction() as s:`` commits or rolls back."""

    def __init__(self, settings: Settings, engine: Engine | None = None):
        self.settings = settings
        self.engine = engine or make_engine(settings.database_url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._writers = _writer_lock(self.engine) if self.engine.dialect.name == "sqlite" else nullcontext()

    @contextmanager
    def transaction(self, *, session: Session | None = None) -> Iterator[Session]:
        """A write transaction, taking its turn among this process's writers. ``session``: a
        session of the caller's own (the ledger writer's, from ``writer_session``), reused across
        transactions — a session per group was a fifth of a small group's cost; what it loaded
        is forgotten when each transaction ends."""
        if session is None:
            with self._writers, self._sessions() as new, new.begin():
                yield new
            return
        try:
            with self._writers, session.begin():
                yield session
        finally:
            session.expunge_all()

    @staticmethod
    def writer_session(bind: Connection) -> Session:
        """A session on the caller's own connection, for ``transaction(session=...)``."""
        return Session(bind=bind, expire_on_commit=False)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only transaction (a consistent snapshot; nothing is committed). On SQLite it does
        not take the write lock, so the API's GETs do not queue behind each other or the writer."""
        with self._sessions() as session:  # closing returns the connection, which rolls back
            session.connection(execution_options={"suanshu_read": True})
            yield session

    def read_connection(self) -> Connection:
        """``read()`` without an ORM session, for the hottest lookups (every API request's token):
        ``with db.read_connection() as conn:``; leaving it rolls back."""
        return self.engine.connect().execution_options(suanshu_read=True)

    def dispose(self) -> None:
        self.engine.dispose()
