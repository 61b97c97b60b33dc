"""Number routes: an inbound call to a purchased number rings users or joins a group call
without an application (``telex.numbers.schema.number_routes``).

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "number_routes",
        sa.Column("e164", sa.String(16), primary_key=True),
        sa.Column("users", sa.Text, nullable=False),
        sa.Column("group_call_id", sa.String(64), nullable=True),
        sa.Column("ring_seconds", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("number_routes")
