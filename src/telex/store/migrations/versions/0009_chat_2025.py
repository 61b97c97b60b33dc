"""Chat api-version 2025-03-15: thread metadata and retention policy, participant metadata.

Metadata is stored as JSON text (name/value pairs, at most 1 KB each by ACS's limit); the
retention policy as the number of days after creation (NULL: none). Existing threads and
members have neither, as they had none before.

Revision ID: 0009
Revises: 0006 (0007-0008 come from other branches; their merges re-chain them)
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chat_threads") as batch:
        batch.add_column(sa.Column("metadata", sa.Text, nullable=True))
        batch.add_column(sa.Column("retention_days", sa.Integer, nullable=True))
    with op.batch_alter_table("chat_memberships") as batch:
        batch.add_column(sa.Column("metadata", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("chat_memberships") as batch:
        batch.drop_column("metadata")
    with op.batch_alter_table("chat_threads") as batch:
        batch.drop_column("retention_days")
        batch.drop_column("metadata")
