"""Chat threads, messages, memberships, receipts, and the event log.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_POS = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("position", _POS, primary_key=True, autoincrement=True),
        sa.Column("stream", sa.String(128), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(128), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_stream_position", "events", ["stream", "position"])
    op.create_table(
        "chat_threads",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("deleted_at", sa.Float, nullable=True),
        sa.Column("last_message_at", sa.Float, nullable=False),
        sa.Column("last_seq", sa.Integer, nullable=False),
        sa.Column("last_message_ms", sa.BigInteger, nullable=False),
        sa.Column("member_count", sa.Integer, nullable=False),
        sa.Column("request_key", sa.String(320), nullable=True, unique=True),
        sa.Column("request_hash", sa.String(64), nullable=True),
    )
    op.create_index("ix_chat_threads_last_message", "chat_threads", ["last_message_at", "id"])
    op.create_table(
        "chat_messages",
        sa.Column("thread_id", sa.String(128), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("sender_id", sa.String(128), nullable=True),
        sa.Column("sender_display_name", sa.String(512), nullable=True),
        sa.Column("content", sa.Text, nullable=True),
        sa.Column("participants", sa.Text, nullable=True),
        sa.Column("initiator_id", sa.String(128), nullable=True),
        sa.Column("metadata", sa.Text, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("edited_at", sa.Float, nullable=True),
        sa.Column("deleted_at", sa.Float, nullable=True),
        sa.Column("version", sa.String(32), nullable=False),
        sa.UniqueConstraint("thread_id", "id", name="uq_chat_messages_thread_id"),
    )
    op.create_table(
        "chat_memberships",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("thread_id", sa.String(128), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("display_name", sa.String(512), nullable=True),
        sa.Column("share_history_time", sa.Float, nullable=True),
        sa.Column("added_at", sa.Float, nullable=False),
        sa.Column("visible_from_seq", sa.Integer, nullable=False),
        sa.Column("visible_until_seq", sa.Integer, nullable=True),
        sa.Column("joined_pos", _POS, nullable=False),
        sa.Column("left_pos", _POS, nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_chat_memberships_thread_user", "chat_memberships", ["thread_id", "user_id"])
    op.create_index("ix_chat_memberships_user", "chat_memberships", ["user_id"])
    op.create_table(
        "chat_receipts",
        sa.Column("thread_id", sa.String(128), primary_key=True),
        sa.Column("user_id", sa.String(128), primary_key=True),
        sa.Column("message_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("read_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("chat_receipts")
    op.drop_table("chat_memberships")
    op.drop_table("chat_messages")
    op.drop_table("chat_threads")
    op.drop_table("events")
