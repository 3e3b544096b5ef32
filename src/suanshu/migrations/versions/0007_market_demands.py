"""market: demands and bids, notifications, pool offers and auctions, registrations, external listings

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from suanshu.core.db import Fen, UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('external_listings',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('source', sa.String(length=500), nullable=False),
    sa.Column('source_id', sa.String(length=500), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('publisher', sa.String(length=500), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('price_fen', Fen, nullable=True),
    sa.Column('offer', sa.JSON(), nullable=False),
    sa.Column('imported_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_external_listings')),
    sa.UniqueConstraint('source', 'source_id', name=op.f('uq_external_listings_source_source_id'))
    )
    op.create_index(op.f('ix_external_listings_imported_at'), 'external_listings', ['imported_at'], unique=False)
    op.create_index(op.f('ix_external_listings_source'), 'external_listings', ['source'], unique=False)
    op.create_table('demands',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('buyer_org_id', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=False),
    sa.Column('compute', sa.JSON(), nullable=True),
    sa.Column('purpose', sa.String(length=500), nullable=False),
    sa.Column('budget_fen', Fen, nullable=False),
    sa.Column('deadline', UTCDateTime(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('matches', sa.JSON(), nullable=False),
    sa.Column('awarded', sa.JSON(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('closed_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['buyer_org_id'], ['orgs.id'], name=op.f('fk_demands_buyer_org_id_orgs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_demands'))
    )
    op.create_index(op.f('ix_demands_buyer_org_id'), 'demands', ['buyer_org_id'], unique=False)
    op.create_index(op.f('ix_demands_deadline'), 'demands', ['deadline'], unique=False)
    op.create_index(op.f('ix_demands_state'), 'demands', ['state'], unique=False)
    op.create_table('notifications',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('subject', sa.String(length=40), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('read', sa.Boolean(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_notifications_org_id_orgs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications'))
    )
    op.create_index(op.f('ix_notifications_created_at'), 'notifications', ['created_at'], unique=False)
    op.create_index(op.f('ix_notifications_org_id'), 'notifications', ['org_id'], unique=False)
    op.create_table('auctions',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('demand_id', sa.String(length=40), nullable=True),
    sa.Column('job', sa.JSON(), nullable=False),
    sa.Column('deadline_hours', Fen, nullable=True),
    sa.Column('bids', sa.JSON(), nullable=False),
    sa.Column('winner_pool_id', sa.String(length=40), nullable=True),
    sa.Column('price_fen', Fen, nullable=True),
    sa.Column('audit_seq', Fen, nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['demand_id'], ['demands.id'], name=op.f('fk_auctions_demand_id_demands')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_auctions'))
    )
    op.create_index(op.f('ix_auctions_demand_id'), 'auctions', ['demand_id'], unique=False)
    op.create_table('pool_offers',
    sa.Column('pool_id', sa.String(length=40), nullable=False),
    sa.Column('floor_fen', Fen, nullable=True),
    sa.Column('ceiling_fen', Fen, nullable=True),
    sa.Column('ready_hours', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['pool_id'], ['pools.id'], name=op.f('fk_pool_offers_pool_id_pools')),
    sa.PrimaryKeyConstraint('pool_id', name=op.f('pk_pool_offers'))
    )
    op.create_table('registrations',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('component_id', sa.String(length=40), nullable=False),
    sa.Column('record', sa.JSON(), nullable=False),
    sa.Column('record_sha256', sa.String(length=64), nullable=False),
    sa.Column('audit_seq', Fen, nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['component_id'], ['components.id'], name=op.f('fk_registrations_component_id_components')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registrations')),
    sa.UniqueConstraint('component_id', name=op.f('uq_registrations_component_id'))
    )
    op.create_table('bids',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('demand_id', sa.String(length=40), nullable=False),
    sa.Column('bidder_org_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('component_id', sa.String(length=40), nullable=True),
    sa.Column('pool_id', sa.String(length=40), nullable=True),
    sa.Column('price_fen', Fen, nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('auto', sa.Boolean(), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('hold_transfer_id', sa.String(length=32), nullable=True),
    sa.Column('contract_id', sa.String(length=40), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['bidder_org_id'], ['orgs.id'], name=op.f('fk_bids_bidder_org_id_orgs')),
    sa.ForeignKeyConstraint(['component_id'], ['components.id'], name=op.f('fk_bids_component_id_components')),
    sa.ForeignKeyConstraint(['contract_id'], ['contracts.id'], name=op.f('fk_bids_contract_id_contracts')),
    sa.ForeignKeyConstraint(['demand_id'], ['demands.id'], name=op.f('fk_bids_demand_id_demands')),
    sa.ForeignKeyConstraint(['pool_id'], ['pools.id'], name=op.f('fk_bids_pool_id_pools')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bids'))
    )
    op.create_index(op.f('ix_bids_bidder_org_id'), 'bids', ['bidder_org_id'], unique=False)
    op.create_index(op.f('ix_bids_demand_id'), 'bids', ['demand_id'], unique=False)
    op.create_index(op.f('ix_bids_state'), 'bids', ['state'], unique=False)


def downgrade() -> None:
    op.drop_table("bids")
    op.drop_table("registrations")
    op.drop_table("pool_offers")
    op.drop_table("auctions")
    op.drop_table("notifications")
    op.drop_table("demands")
    op.drop_table("external_listings")
