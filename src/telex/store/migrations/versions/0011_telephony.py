"""Phone numbers (owned numbers, holds, searches, reservations, operations) and SMS (the message
log and outbox, carrier ids, early receipts, opt-outs, parts of long inbound messages).

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "phone_numbers",
        sa.Column("e164", sa.String(16), primary_key=True),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("number_type", sa.String(16), nullable=False),
        sa.Column("assignment", sa.String(16), nullable=False),
        sa.Column("calling", sa.String(24), nullable=False),
        sa.Column("sms", sa.String(24), nullable=False),
        sa.Column("cost", sa.Float, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("purchased_at", sa.Float, nullable=False),
        sa.Column("released_at", sa.Float, nullable=True),
    )
    op.create_index("ix_phone_numbers_status", "phone_numbers", ["status", "e164"])
    op.create_table(
        "number_holds",
        sa.Column("e164", sa.String(16), primary_key=True),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("attrs", sa.Text, nullable=False),
    )
    op.create_index("ix_number_holds_holder", "number_holds", ["holder"])
    op.create_table(
        "number_searches",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("number_type", sa.String(16), nullable=False),
        sa.Column("assignment", sa.String(16), nullable=False),
        sa.Column("calling", sa.String(24), nullable=False),
        sa.Column("sms", sa.String(24), nullable=False),
        sa.Column("area_code", sa.String(8), nullable=True),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("numbers", sa.Text, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=True),
    )
    op.create_table(
        "number_reservations",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("errors", sa.Text, nullable=True),
        sa.Column("purchased", sa.Text, nullable=True),
    )
    op.create_table(
        "number_operations",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("last_action_at", sa.Float, nullable=False),
        sa.Column("lease_until", sa.Float, nullable=True),
        sa.Column("resource_location", sa.String(256), nullable=True),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text, nullable=True),
    )
    op.create_index("ix_number_operations_status", "number_operations", ["status", "created_at"])

    op.create_table(
        "sms_messages",
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("number", sa.String(16), nullable=False),
        sa.Column("peer", sa.String(32), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("segments", sa.SmallInteger, nullable=False),
        sa.Column("encoding", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_details", sa.Text, nullable=True),
        sa.Column("delivery_report", sa.Boolean, nullable=False),
        sa.Column("tag", sa.Text, nullable=True),
        sa.Column("carrier", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True, unique=True),
        sa.Column("request_hash", sa.String(64), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("submitted_at", sa.Float, nullable=True),
        sa.Column("done_at", sa.Float, nullable=True),
        sa.Column("parts_pending", sa.SmallInteger, nullable=False, server_default="0"),
        sa.Column("parts_delivered", sa.SmallInteger, nullable=False, server_default="0"),
        sa.Column("parts_failed", sa.SmallInteger, nullable=False, server_default="0"),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("claim_until", sa.Float, nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_sms_messages_number", "sms_messages", ["number", "seq"])
    op.create_index("ix_sms_messages_peer", "sms_messages", ["peer", "seq"])
    op.create_index("ix_sms_messages_outbox", "sms_messages", ["carrier", "status", "seq"])
    op.create_table(
        "sms_carrier_ids",
        sa.Column("carrier", sa.String(64), primary_key=True),
        sa.Column("carrier_id", sa.String(80), primary_key=True),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=True),
    )
    op.create_table(
        "sms_unmatched_receipts",
        sa.Column("carrier", sa.String(64), primary_key=True),
        sa.Column("carrier_id", sa.String(80), primary_key=True),
        sa.Column("delivered", sa.Boolean, nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("received_at", sa.Float, nullable=False),
    )
    op.create_table(
        "sms_optouts",
        sa.Column("sender", sa.String(16), primary_key=True),
        sa.Column("recipient", sa.String(32), primary_key=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "sms_inbound_parts",
        sa.Column("carrier", sa.String(64), primary_key=True),
        sa.Column("source", sa.String(32), primary_key=True),
        sa.Column("destination", sa.String(32), primary_key=True),
        sa.Column("ref", sa.Integer, primary_key=True),
        sa.Column("total", sa.SmallInteger, primary_key=True),
        sa.Column("seq", sa.SmallInteger, primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("received_at", sa.Float, nullable=False),
    )
    op.create_index("ix_sms_inbound_parts_received", "sms_inbound_parts", ["received_at"])


def downgrade() -> None:
    for table in (
        "sms_inbound_parts", "sms_optouts", "sms_unmatched_receipts", "sms_carrier_ids", "sms_messages",
        "number_operations", "number_reservations", "number_searches", "number_holds", "phone_numbers",
    ):  # fmt: skip
        op.drop_table(table)
