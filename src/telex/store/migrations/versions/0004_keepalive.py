"""Call participants' keep-alive deadline (clients that vanish without hanging up).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Participants joined before this migration have none and are never dropped as lost.
    with op.batch_alter_table("call_participants") as batch:
        batch.add_column(sa.Column("alive_until", sa.Float, nullable=True))
    op.create_index("ix_call_participants_alive_until", "call_participants", ["alive_until"])


def downgrade() -> None:
    op.drop_index("ix_call_participants_alive_until", "call_participants")
    with op.batch_alter_table("call_participants") as batch:
        batch.drop_column("alive_until")
