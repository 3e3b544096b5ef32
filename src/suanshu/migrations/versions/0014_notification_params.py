"""notifications keep their sentence's kind and parameters as JSON (``params``)

A notification's ``message`` stays the Chinese sentence (what the API and the CLI print, and all a
row written before holds); ``params`` (``{"say": kind, "title": …, "bidder": …}``) lets the console
say it in the viewer's language.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("params", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("params")
