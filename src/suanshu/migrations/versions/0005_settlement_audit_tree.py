"""settlement and audit: Merkle leaves, tree head, signed checkpoints, idempotency keys, usage

The audit log grows an RFC 6962 Merkle tree: each existing event gets its leaf hash and the
one-row tree head is computed from them here, so a database migrated with history verifies.

Revision ID: 0005
Revises: 0004
"""


import sqlalchemy as sa
from alembic import op

from suanshu.audit import merkle
from suanshu.core.db import Fen, UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def _backfill_tree() -> None:
    from suanshu.audit.log import entry_bytes  # the canonical entry, as appends hash it

    events = sa.table("audit_events", sa.column("seq", Fen), sa.column("time", UTCDateTime()),
                      sa.column("actor", sa.String), sa.column("action", sa.String),
                      sa.column("subject", sa.String), sa.column("payload", sa.JSON),
                      sa.column("hash", sa.String), sa.column("leaf_hash", sa.String))
    bind = op.get_bind()
    frontier: list[bytes] = []
    size, chain = 0, GENESIS
    for row in bind.execute(sa.select(events).order_by(events.c.seq)).all():
        leaf = merkle.leaf_hash(entry_bytes(row.seq, row.time, row.actor, row.action, row.subject, row.payload))
        bind.execute(events.update().where(events.c.seq == row.seq).values(leaf_hash=leaf.hex()))
        frontier = merkle.frontier_append(frontier, size, leaf)
        size, chain = size + 1, row.hash
    tree = sa.table("audit_tree", sa.column("id", sa.Integer), sa.column("size", Fen),
                    sa.column("root", sa.String), sa.column("frontier", sa.JSON),
                    sa.column("chain_head", sa.String))
    bind.execute(tree.insert().values(id=1, size=size, root=merkle.frontier_root(frontier).hex(),
                                      frontier=[h.hex() for h in frontier], chain_head=chain))


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("leaf_hash", sa.String(length=64), nullable=True))
    op.create_table(
        "audit_tree",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("size", Fen, nullable=False),
        sa.Column("root", sa.String(length=64), nullable=False),
        sa.Column("frontier", sa.JSON(), nullable=False),
        sa.Column("chain_head", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_tree")),
    )
    _backfill_tree()
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.alter_column("leaf_hash", existing_type=sa.String(length=64), nullable=False)
    op.create_table(
        "audit_checkpoints",
        sa.Column("tree_size", Fen, autoincrement=False, nullable=False),
        sa.Column("root", sa.String(length=64), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("tree_size", name=op.f("pk_audit_checkpoints")),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("owner", sa.String(length=80), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("audit_seq", Fen, nullable=True),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("owner", "key", name=op.f("pk_idempotency_keys")),
    )
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_idempotency_keys_expires_at"), ["expires_at"], unique=False)
    op.create_table(
        "usage_events",
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=80), nullable=False),
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("invoice_id", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("source", "id", name=op.f("pk_usage_events")),
    )
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_usage_events_subject"), ["subject"], unique=False)
        batch_op.create_index(batch_op.f("ix_usage_events_time"), ["time"], unique=False)
        batch_op.create_index(batch_op.f("ix_usage_events_invoice_id"), ["invoice_id"], unique=False)
    op.create_table(
        "invoices",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("buyer_org_id", sa.String(length=40), nullable=False),
        sa.Column("provider_org_id", sa.String(length=40), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("events", Fen, nullable=False),
        sa.Column("total_fen", Fen, nullable=False),
        sa.Column("provider_fen", Fen, nullable=False),
        sa.Column("operator_fen", Fen, nullable=False),
        sa.Column("transfers", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("subject", "period_start", name=op.f("uq_invoices_subject_period_start")),
    )
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invoices_subject"), ["subject"], unique=False)
        batch_op.create_index(batch_op.f("ix_invoices_buyer_org_id"), ["buyer_org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_invoices_provider_org_id"), ["provider_org_id"], unique=False)
    op.create_table(
        "invoice_lines",
        sa.Column("invoice_id", sa.String(length=40), nullable=False),
        sa.Column("n", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("quantity", Fen, nullable=False),
        sa.Column("amount_fen", Fen, nullable=False),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"], name=op.f("fk_invoice_lines_invoice_id_invoices")),
        sa.PrimaryKeyConstraint("invoice_id", "n", name=op.f("pk_invoice_lines")),
    )


def downgrade() -> None:
    op.drop_table("invoice_lines")
    op.drop_table("invoices")
    op.drop_table("usage_events")
    op.drop_table("idempotency_keys")
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_tree")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_column("leaf_hash")
