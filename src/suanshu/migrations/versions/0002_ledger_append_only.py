"""ledger_transfers is append-only: the database itself refuses UPDATE and DELETE

Transfers are immutable (TigerBeetle): a pending transfer is resolved by a *new* post or void
transfer, never by editing it. Enforcing that in the database means a bug or a hand-written
UPDATE cannot rewrite history without first dropping these triggers, a schema change that
shows up in migrations and review.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

MESSAGE = "ledger_transfers is append-only"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION ledger_transfers_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'restrict_violation';
            END;
            $$""")
        op.execute("""
            CREATE TRIGGER ledger_transfers_no_update_delete
            BEFORE UPDATE OR DELETE ON ledger_transfers
            FOR EACH ROW EXECUTE FUNCTION ledger_transfers_append_only()""")
        # Row triggers do not see TRUNCATE; a statement trigger does.
        op.execute("""
            CREATE TRIGGER ledger_transfers_no_truncate
            BEFORE TRUNCATE ON ledger_transfers
            FOR EACH STATEMENT EXECUTE FUNCTION ledger_transfers_append_only()""")
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(f"""
                CREATE TRIGGER ledger_transfers_no_{action.lower()}
                BEFORE {action} ON ledger_transfers
                BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS ledger_transfers_no_truncate ON ledger_transfers")
        op.execute("DROP TRIGGER IF EXISTS ledger_transfers_no_update_delete ON ledger_transfers")
        op.execute("DROP FUNCTION IF EXISTS ledger_transfers_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS ledger_transfers_no_update")
        op.execute("DROP TRIGGER IF EXISTS ledger_transfers_no_delete")
