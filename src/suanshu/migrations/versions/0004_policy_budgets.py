"""policy budgets: the ε budget of dp mode, one row per key (contract)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 14:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('policy_budgets',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('spent', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('reserved', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_policy_budgets'))
    )


def downgrade() -> None:
    op.drop_table('policy_budgets')
