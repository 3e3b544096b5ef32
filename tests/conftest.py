"""Shared fixtures: a real SQLite data dir per test, and a real PostgreSQL server per session."""

from __future__ import annotations

import itertools
import os

import pytest

from pgserver import PgServer, find_bindir
from suanshu.core import migrate
from suanshu.core.db import Database
from suanshu.core.settings import load_settings

_db_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server():
    bindir = find_bindir()
    if bindir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL binaries are missing: `make test` installs Debian's postgresql package")
        pytest.skip("PostgreSQL binaries not installed (make test installs them)")
    server = PgServer(bindir).start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request) -> str:
    return request.param


@pytest.fixture
def database_url(backend, request, tmp_path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'home' / 'suanshu.db'}"
    server = request.getfixturevalue("pg_server")
    return server.create_database(f"t{os.getpid()}_{next(_db_counter)}")


@pytest.fixture
def settings(tmp_path, database_url):
    return load_settings(tmp_path / "home", database_url)


@pytest.fixture
def db(settings):
    """A migrated database on the backend under test (SQLite and PostgreSQL)."""
    database = Database(settings)
    migrate.upgrade(database.engine)
    yield database
    database.dispose()
