"""registration at approval: components carry the provider's source-legality statement; auctions
know who asked for them (the requester reads every bid, other orgs only their own pools')

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # components submitted before this revision have no statement (''): the operator cannot approve
    # them until the provider publishes a new version that states one
    op.add_column("components", sa.Column("source_legality_statement", sa.Text(), nullable=False,
                                          server_default=""))
    op.add_column("auctions", sa.Column("requester_org_id", sa.String(length=40), nullable=True))
    op.create_index(op.f("ix_auctions_requester_org_id"), "auctions", ["requester_org_id"], unique=False)
    # a demand's auction was asked for by the demand's buyer; older standalone auctions stay unowned
    op.execute("UPDATE auctions SET requester_org_id = (SELECT buyer_org_id FROM demands "
               "WHERE demands.id = auctions.demand_id) WHERE demand_id IS NOT NULL")


def downgrade() -> None:
    op.drop_index(op.f("ix_auctions_requester_org_id"), table_name="auctions")
    with op.batch_alter_table("auctions") as batch:
        batch.drop_column("requester_org_id")
    with op.batch_alter_table("components") as batch:
        batch.drop_column("source_legality_statement")
