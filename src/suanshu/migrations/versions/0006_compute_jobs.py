"""compute jobs

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 07:09:07.423503
"""

from alembic import op
import sqlalchemy as sa



revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('jobs',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('contract_id', sa.String(length=40), nullable=False),
    sa.Column('buyer_org_id', sa.String(length=40), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('program', sa.Text(), nullable=False),
    sa.Column('program_sha256', sa.String(length=64), nullable=False),
    sa.Column('request', sa.JSON(), nullable=False),
    sa.Column('pool_id', sa.String(length=40), nullable=True),
    sa.Column('placement', sa.JSON(), nullable=False),
    sa.Column('executor_ref', sa.String(length=200), nullable=True),
    sa.Column('hold_transfer_id', sa.String(length=32), nullable=True),
    sa.Column('hold_fen', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('price_fen', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('metering', sa.JSON(), nullable=False),
    sa.Column('result', sa.JSON(), nullable=False),
    sa.Column('receipt', sa.JSON(), nullable=False),
    sa.Column('logs', sa.Text(), nullable=False),
    sa.Column('error_code', sa.String(length=80), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('cancel_requested', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['buyer_org_id'], ['orgs.id'], name=op.f('fk_jobs_buyer_org_id_orgs')),
    sa.ForeignKeyConstraint(['contract_id'], ['contracts.id'], name=op.f('fk_jobs_contract_id_contracts')),
    sa.ForeignKeyConstraint(['pool_id'], ['pools.id'], name=op.f('fk_jobs_pool_id_pools')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs'))
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_jobs_buyer_org_id'), ['buyer_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_jobs_contract_id'), ['contract_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_jobs_pool_id'), ['pool_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_jobs_state'), ['state'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_jobs_state'))
        batch_op.drop_index(batch_op.f('ix_jobs_pool_id'))
        batch_op.drop_index(batch_op.f('ix_jobs_contract_id'))
        batch_op.drop_index(batch_op.f('ix_jobs_buyer_org_id'))

    op.drop_table('jobs')
