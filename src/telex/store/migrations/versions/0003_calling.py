"""Calls and call participants.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_POS = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("group_id", sa.String(64), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("caller_id", sa.String(128), nullable=False),
        sa.Column("video_offered", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("connected_at", sa.Float, nullable=True),
        sa.Column("ended_at", sa.Float, nullable=True),
        sa.Column("end_reason", sa.String(32), nullable=True),
    )
    op.create_index("ix_calls_group_state", "calls", ["group_id", "state"])
    op.create_table(
        "call_participants",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("display_name", sa.String(256), nullable=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("end_reason", sa.String(32), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("ring_deadline", sa.Float, nullable=True),
        sa.Column("connected_at", sa.Float, nullable=True),
        sa.Column("left_at", sa.Float, nullable=True),
        sa.Column("muted", sa.Boolean, nullable=False),
        sa.Column("video", sa.Boolean, nullable=False),
        sa.Column("screen_sharing", sa.Boolean, nullable=False),
        sa.Column("joined_pos", _POS, nullable=False),
        sa.Column("left_pos", _POS, nullable=True),
    )
    op.create_index("ix_call_participants_call", "call_participants", ["call_id"])
    op.create_index("ix_call_participants_user", "call_participants", ["user_id"])
    op.create_index("ix_call_participants_ring_deadline", "call_participants", ["ring_deadline"])


def downgrade() -> None:
    op.drop_table("call_participants")
    op.drop_table("calls")
