"""ledger transfers carry TigerBeetle's pending ``timeout`` (seconds; 0 = never expires)

A partial index holds only transfers with a timeout, so the expiry sweeper finds them without
scanning the table and ordinary transfers pay nothing for it.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ADD COLUMN only (no batch rebuild): the append-only triggers of 0002 stay as they are.
    op.add_column("ledger_transfers", sa.Column("timeout", sa.Integer(), nullable=False, server_default="0"))
    op.create_index("ix_ledger_transfers_timeout", "ledger_transfers", ["timestamp"],
                    sqlite_where=sa.text("timeout > 0"), postgresql_where=sa.text("timeout > 0"))


def downgrade() -> None:
    op.drop_index("ix_ledger_transfers_timeout", table_name="ledger_transfers")
    with op.batch_alter_table("ledger_transfers") as batch_op:
        batch_op.drop_column("timeout")
