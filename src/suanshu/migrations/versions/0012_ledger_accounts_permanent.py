"""ledger accounts are permanent; transfers name them without foreign-key checks

A transfer's accounts are checked by the engine, under the ledger lock, before it is stored
(``debit_account_not_found`` / ``credit_account_not_found``, TigerBeetle's codes), and
``verify`` names any transfer whose accounts are missing. What a foreign key adds on top is a
per-row lookup at insert, which on PostgreSQL runs as an RI trigger query per row: measured at
a quarter of the database's time per transfer. It would also stop an account from being
deleted while transfers name it; here the database refuses to delete an account, or to change
its id or ledger, at all (TigerBeetle's accounts are immutable but for their balances), so the
references cannot break afterwards either.

PostgreSQL: ledger accounts are rewritten by every batch that moves their balances, so their
pages are half filled (``fillfactor = 50``): a new row version then fits on its page and the
update is HOT (no new index entries). It applies to pages filled from now on;
`VACUUM FULL ledger_accounts` rewrites the existing ones.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

FKS = {"fk_ledger_transfers_debit_account_id_ledger_accounts": "debit_account_id",
       "fk_ledger_transfers_credit_account_id_ledger_accounts": "credit_account_id"}
MESSAGE = "ledger accounts are permanent: no DELETE, no change of id or ledger"
TRANSFERS_MESSAGE = "ledger_transfers is append-only"  # 0002's


def _sqlite_rebuild_transfers(change) -> None:
    """SQLite changes a table's constraints only by rebuilding it (alembic's batch mode), which
    drops its triggers: 0002's are put back, and the indexes are made again as they were."""
    for trigger in ("ledger_transfers_no_update", "ledger_transfers_no_delete"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    for index in ("ix_ledger_transfers_timeout", "ix_ledger_transfers_pending_id", "ix_ledger_transfers_timestamp"):
        op.drop_index(index, table_name="ledger_transfers")
    with op.batch_alter_table("ledger_transfers", recreate="always") as batch:
        change(batch)
    op.create_index("ix_ledger_transfers_timestamp", "ledger_transfers", ["timestamp"])
    op.create_index("ix_ledger_transfers_pending_id", "ledger_transfers", ["pending_id"],
                    sqlite_where=sa.text("pending_id IS NOT NULL"))
    op.create_index("ix_ledger_transfers_timeout", "ledger_transfers", ["timestamp"],
                    sqlite_where=sa.text("timeout > 0"))
    for action in ("UPDATE", "DELETE"):
        op.execute(f"""
            CREATE TRIGGER ledger_transfers_no_{action.lower()}
            BEFORE {action} ON ledger_transfers
            BEGIN SELECT RAISE(ABORT, '{TRANSFERS_MESSAGE}'); END""")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in FKS:
            op.drop_constraint(name, "ledger_transfers", type_="foreignkey")
        op.execute(f"""
            CREATE FUNCTION ledger_accounts_permanent() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'restrict_violation';
            END;
            $$""")
        op.execute("""
            CREATE TRIGGER ledger_accounts_no_delete BEFORE DELETE ON ledger_accounts
            FOR EACH ROW EXECUTE FUNCTION ledger_accounts_permanent()""")
        op.execute("""
            CREATE TRIGGER ledger_accounts_no_rekey BEFORE UPDATE OF id, ledger ON ledger_accounts
            FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id OR OLD.ledger IS DISTINCT FROM NEW.ledger)
            EXECUTE FUNCTION ledger_accounts_permanent()""")
        op.execute("""
            CREATE TRIGGER ledger_accounts_no_truncate BEFORE TRUNCATE ON ledger_accounts
            FOR EACH STATEMENT EXECUTE FUNCTION ledger_accounts_permanent()""")
        op.execute("ALTER TABLE ledger_accounts SET (fillfactor = 50)")
    else:
        def drop(batch):
            for name in FKS:
                batch.drop_constraint(name, type_="foreignkey")
        _sqlite_rebuild_transfers(drop)
        op.execute(f"""
            CREATE TRIGGER ledger_accounts_no_delete BEFORE DELETE ON ledger_accounts
            BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""")
        op.execute(f"""
            CREATE TRIGGER ledger_accounts_no_rekey BEFORE UPDATE OF id, ledger ON ledger_accounts
            WHEN OLD.id IS NOT NEW.id OR OLD.ledger IS NOT NEW.ledger
            BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for trigger in ("ledger_accounts_no_truncate", "ledger_accounts_no_rekey", "ledger_accounts_no_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON ledger_accounts")
        op.execute("DROP FUNCTION IF EXISTS ledger_accounts_permanent()")
        op.execute("ALTER TABLE ledger_accounts RESET (fillfactor)")
        for name, column in FKS.items():
            op.create_foreign_key(name, "ledger_transfers", "ledger_accounts", [column], ["id"])
    else:
        op.execute("DROP TRIGGER IF EXISTS ledger_accounts_no_rekey")
        op.execute("DROP TRIGGER IF EXISTS ledger_accounts_no_delete")

        def add(batch):
            for name, column in FKS.items():
                batch.create_foreign_key(name, "ledger_accounts", [column], ["id"])
        _sqlite_rebuild_transfers(add)
