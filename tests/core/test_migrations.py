"""The same migrations run on SQLite and PostgreSQL and match the models exactly."""

import os
import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from suanshu.schema import metadata


def test_migrations_create_every_table(db):
    tables = set(inspect(db.engine).get_table_names())
    assert set(metadata.tables) <= tables
    assert "alembic_version" in tables


def test_models_match_migrations(db):
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, metadata)
    assert diff == []


def test_the_newest_migration_file_is_alembics_single_head():
    """``migrate.head`` reads the highest-numbered file, so that Alembic need not be imported to
    know whether a database is current: the files must stay numbered in order."""
    from alembic.script import ScriptDirectory

    from suanshu.core import migrate

    assert ScriptDirectory(str(migrate.MIGRATIONS)).get_heads() == [migrate.head()]


def test_a_current_database_opens_without_importing_alembic(tmp_path):
    """Every CLI command opens the exchange; asking Alembic whether the schema is current cost
    ~2 s of imports. A database at head is recognised from ``alembic_version`` alone; one that
    is not is migrated (``test_downgrade_drops_the_triggers_and_upgrade_restores_them``)."""
    probe = ("import sys; from suanshu.market.exchange import Exchange; Exchange.open(); "
             "print('alembic' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUANSHU_")} | {"SUANSHU_HOME": str(tmp_path)}

    def opened() -> str:
        return subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True,
                              check=True).stdout.strip()

    assert opened() == "True"  # a new database: migrated by Alembic
    assert opened() == "False"  # at head: not imported


def test_a_database_url_with_a_percent_sign_reaches_alembic():
    """A percent-encoded password or socket path (p%40ss, host=%2Ftmp) goes into Alembic's config,
    which reads "%" as interpolation: it must come back out as it went in."""
    from sqlalchemy import URL, create_engine

    from suanshu.core import migrate

    url = URL.create("postgresql+psycopg", username="u", password="p@ss/%", host="db", database="suanshu")
    engine = create_engine(url)
    assert migrate.alembic_config(engine).get_main_option("sqlalchemy.url") == \
        url.render_as_string(hide_password=False)
