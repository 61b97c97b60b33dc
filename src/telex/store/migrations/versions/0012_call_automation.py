"""Call Automation: call connections, pending operations, callback cursors, repeatable requests
and recordings (``telex.automation.schema``).

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_POS = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "call_connections",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("leg_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("callback_uri", sa.String(2048), nullable=False),
        sa.Column("operation_context", sa.Text, nullable=True),
        sa.Column("details", sa.Text, nullable=False, server_default="{}"),
        sa.Column("participants_seq", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("ended_at", sa.Float, nullable=True),
    )
    op.create_index("ix_call_connections_call", "call_connections", ["call_id"])
    op.create_table(
        "automation_operations",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("connection_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("leg_id", sa.String(64), nullable=False),
        sa.Column("target", sa.String(128), nullable=False),
        sa.Column("transferee", sa.String(128), nullable=True),
        sa.Column("operation_context", sa.Text, nullable=True),
        sa.Column("callback_uri", sa.String(2048), nullable=True),
        sa.Column("cancel_context", sa.Text, nullable=True),
        sa.Column("cancel_callback_uri", sa.String(2048), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_automation_operations_connection", "automation_operations", ["connection_id"])
    op.create_table(
        "callback_cursors",
        sa.Column("connection_id", sa.String(64), primary_key=True),
        sa.Column("position", _POS, nullable=False),
        sa.Column("done", sa.Integer, nullable=False, server_default="0"),
        sa.Column("owner", sa.String(64), nullable=True),
        sa.Column("lease_until", sa.Float, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.Float, nullable=True),
    )
    op.create_index("ix_callback_cursors_done", "callback_cursors", ["done"])
    op.create_table(
        "automation_requests",
        sa.Column("request_id", sa.String(64), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("body", sa.Text, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_automation_requests_created", "automation_requests", ["created_at"])
    op.create_table(
        "recordings",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("connection_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("callback_uri", sa.String(2048), nullable=True),
        sa.Column("content_type", sa.String(16), nullable=False),
        sa.Column("channel_type", sa.String(16), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("path", sa.String(1024), nullable=True),
        sa.Column("bytes", sa.BigInteger, nullable=True),
        sa.Column("duration_ms", sa.BigInteger, nullable=True),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("stopped_at", sa.Float, nullable=True),
        sa.Column("deleted", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_recordings_call", "recordings", ["call_id"])


def downgrade() -> None:
    for table in ("recordings", "automation_requests", "callback_cursors", "automation_operations"):
        op.drop_table(table)
    op.drop_table("call_connections")
