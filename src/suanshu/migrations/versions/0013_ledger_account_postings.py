"""the account index holds posting lists: one row per account and indexing run

``ledger_account_postings`` (account, first timestamp, last timestamp, JSON array of timestamps)
replaces ``ledger_account_transfers`` (one row per account and transfer): the writer adds an
eighth of the rows per indexing run (see ``suanshu.ledger.models.AccountPosting``). The
existing index is carried over as one posting per account and hour of transfers.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

Fen = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
HOUR_NS = 3_600_000_000_000


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.create_table("ledger_account_postings",
                    sa.Column("account_id", sa.String(32), nullable=False),
                    sa.Column("first_timestamp", Fen, nullable=False),
                    sa.Column("last_timestamp", Fen, nullable=False),
                    sa.Column("timestamps", sa.Text(), nullable=False),
                    sa.PrimaryKeyConstraint("account_id", "first_timestamp",
                                            name=op.f("pk_ledger_account_postings")),
                    sqlite_with_rowid=False)
    if _postgres():
        values = "'[' || string_agg(timestamp::text, ',' ORDER BY timestamp) || ']'"
        rows = "ledger_account_transfers"
    else:  # group_concat keeps the order of its (sorted) input
        values = "'[' || group_concat(timestamp) || ']'"
        rows = "(SELECT account_id, timestamp FROM ledger_account_transfers ORDER BY 1, 2)"
    op.execute("INSERT INTO ledger_account_postings (account_id, first_timestamp, last_timestamp, timestamps) "
               f"SELECT account_id, min(timestamp), max(timestamp), {values} FROM {rows} AS x "
               f"GROUP BY account_id, timestamp / {HOUR_NS}")
    op.drop_table("ledger_account_transfers")


def downgrade() -> None:
    op.create_table("ledger_account_transfers",
                    sa.Column("account_id", sa.String(32), nullable=False),
                    sa.Column("timestamp", Fen, nullable=False),
                    sa.PrimaryKeyConstraint("account_id", "timestamp", name=op.f("pk_ledger_account_transfers")),
                    sqlite_with_rowid=False)
    each = ("json_array_elements_text(p.timestamps::json) AS v(value)" if _postgres()
            else "json_each(p.timestamps) AS v")
    op.execute("INSERT INTO ledger_account_transfers (account_id, timestamp) "
               f"SELECT p.account_id, CAST(v.value AS BIGINT) FROM ledger_account_postings AS p, {each} ORDER BY 1, 2")
    op.drop_table("ledger_account_postings")
