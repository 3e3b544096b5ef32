"""invoice line kinds hold "resource:" and a resource name of up to 41 characters (80 wide)

An accelerator's name may be 41 characters, so a resource line's kind ("resource:" + the name)
was up to 50 in a column of 40: PostgreSQL refused the invoice.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("invoice_lines") as batch:
        batch.alter_column("kind", existing_type=sa.String(40), type_=sa.String(80), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("invoice_lines") as batch:
        batch.alter_column("kind", existing_type=sa.String(80), type_=sa.String(40), existing_nullable=False)
