"""Events out: consumer cursors with leases, event subscriptions, dead letters, push devices.

    event_cursors        one row per durable consumer of the log (a webhook subscription, push):
                         its position, its lease, the retry state of the batch at the cursor
    event_subscriptions  webhook subscriptions (Event Grid's event subscriptions)
    event_dead_letters   events a subscription gave up on, with the reasons
    push_registrations   users' devices: FCM, APNs, WNS, Web Push, each with an expiry

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_POS = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "event_cursors",
        sa.Column("name", sa.String(160), primary_key=True),
        sa.Column("position", _POS, nullable=False),
        sa.Column("partial", sa.Integer, nullable=False, server_default="0"),
        sa.Column("generation", sa.Integer, nullable=False, server_default="0"),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", sa.Float, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("retry_at", sa.Float, nullable=True),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "event_subscriptions",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("schema", sa.String(32), nullable=False),
        sa.Column("included_types", sa.Text, nullable=True),
        sa.Column("subject_begins_with", sa.Text, nullable=False, server_default=""),
        sa.Column("subject_ends_with", sa.Text, nullable=False, server_default=""),
        sa.Column("case_sensitive", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("max_events_per_batch", sa.Integer, nullable=False),
        sa.Column("preferred_batch_kb", sa.Integer, nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("ttl_minutes", sa.Integer, nullable=False),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("previous_secret", sa.Text, nullable=True),
        sa.Column("previous_secret_until", sa.Float, nullable=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("validation_hash", sa.String(64), nullable=True),
        sa.Column("validation_deadline", sa.Float, nullable=True),
        sa.Column("allowed_rate", sa.Integer, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "event_dead_letters",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("subscription", sa.String(64), nullable=False),
        sa.Column("position", _POS, nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer, nullable=True),
        sa.Column("published_at", sa.Float, nullable=False),
        sa.Column("last_attempt_at", sa.Float, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_event_dead_letters_subscription", "event_dead_letters", ["subscription", "id"])
    op.create_table(
        "push_registrations",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("token", sa.Text, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("options", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index(
        "ux_push_registrations_device",
        "push_registrations",
        ["user_id", "platform", "token_hash"],
        unique=True,
    )
    op.create_index("ix_push_registrations_expires", "push_registrations", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_push_registrations_expires", "push_registrations")
    op.drop_index("ux_push_registrations_device", "push_registrations")
    op.drop_table("push_registrations")
    op.drop_index("ix_event_dead_letters_subscription", "event_dead_letters")
    op.drop_table("event_dead_letters")
    op.drop_table("event_subscriptions")
    op.drop_table("event_cursors")
