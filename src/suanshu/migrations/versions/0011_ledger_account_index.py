"""transfers are found by account through a bulk-written account index

``ledger_account_transfers`` (account, timestamp), clustered by account, replaces the indexes on
``debit_account_id`` and ``credit_account_id``, which put every new transfer on two random index
pages; the ledger writes it in sorted batches behind the transfers (see
``suanshu.ledger.models.AccountTransfer``). ``ledger_account_index`` holds how far it reaches.
The ``pending_id`` index keeps only transfers that have one.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

Fen = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table("ledger_account_transfers",
                    sa.Column("account_id", sa.String(32), nullable=False),
                    sa.Column("timestamp", Fen, nullable=False),
                    sa.PrimaryKeyConstraint("account_id", "timestamp", name=op.f("pk_ledger_account_transfers")),
                    sqlite_with_rowid=False)
    op.create_table("ledger_account_index",
                    sa.Column("id", sa.Integer(), nullable=False),
                    sa.Column("indexed_upto", Fen, nullable=False),
                    sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_account_index")))
    op.execute("INSERT INTO ledger_account_transfers (account_id, timestamp) "
               "SELECT debit_account_id, timestamp FROM ledger_transfers UNION ALL "
               "SELECT credit_account_id, timestamp FROM ledger_transfers ORDER BY 1, 2")
    op.execute("INSERT INTO ledger_account_index (id, indexed_upto) "
               "SELECT 1, coalesce(max(timestamp), 0) FROM ledger_transfers")
    # Dropping indexes rebuilds nothing: the append-only triggers of 0002 stay.
    op.drop_index("ix_ledger_transfers_debit_account_id", table_name="ledger_transfers")
    op.drop_index("ix_ledger_transfers_credit_account_id", table_name="ledger_transfers")
    op.drop_index("ix_ledger_transfers_pending_id", table_name="ledger_transfers")
    op.create_index("ix_ledger_transfers_pending_id", "ledger_transfers", ["pending_id"],
                    sqlite_where=sa.text("pending_id IS NOT NULL"),
                    postgresql_where=sa.text("pending_id IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_ledger_transfers_pending_id", table_name="ledger_transfers")
    op.create_index("ix_ledger_transfers_pending_id", "ledger_transfers", ["pending_id"])
    op.create_index("ix_ledger_transfers_credit_account_id", "ledger_transfers", ["credit_account_id"])
    op.create_index("ix_ledger_transfers_debit_account_id", "ledger_transfers", ["debit_account_id"])
    op.drop_table("ledger_account_index")
    op.drop_table("ledger_account_transfers")
