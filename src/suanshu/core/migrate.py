"""Bring a database to the newest schema with the Alembic migrations shipped in the package.

Every process that opens the exchange (each CLI command, the server, the ledger server) asks
whether the schema is current. Importing Alembic to answer took ~2 s here, so the answer comes
from one read of ``alembic_version`` against the newest migration file; Alembic is imported only
when there is something to migrate."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
_REVISION = re.compile(r"""^revision\s*=\s*["'](\w+)["']""", re.MULTILINE)


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # configparser reads "%" as interpolation: a URL with a percent-encoded password or a
    # socket path (p%40ss, host=%2Ftmp) needs it doubled
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


@cache
def head() -> str:
    """The newest migration's revision: the one in the highest-numbered file of ``versions/``
    (files are numbered in order; a test checks this is Alembic's single head)."""
    newest = max((MIGRATIONS / "versions").glob("[0-9]*.py"))
    return _REVISION.search(newest.read_text(encoding="utf-8")).group(1)


def current(engine: Engine) -> list[str]:
    """The revisions the database is at ([] for a database never migrated)."""
    with engine.connect() as conn:
        try:
            return [r[0] for r in conn.exec_driver_sql("SELECT version_num FROM alembic_version")]
        except DBAPIError:  # no such table yet
            return []


def upgrade(engine: Engine, revision: str = "head") -> None:
    if revision == "head" and current(engine) == [head()]:
        return
    from alembic import command

    cfg = alembic_config(engine)
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        conn.commit()


def revision(engine: Engine, message: str) -> None:
    """Developer helper: autogenerate a new migration against ``engine`` (at head)."""
    from alembic import command

    cfg = alembic_config(engine)
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.revision(cfg, message=message, autogenerate=True)
