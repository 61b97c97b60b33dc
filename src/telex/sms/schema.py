"""SMS tables. Migration ``0011_telephony`` creates exactly these.

    sms_messages            every SMS sent or received: the message log per number, the carriers'
                            durable outbox (``queued`` rows of a carrier, oldest ``seq`` first) and
                            the repeatability record (``request_id`` unique, ``request_hash``)
    sms_carrier_ids         the id a carrier gave each part of a sent message (receipts name it)
    sms_unmatched_receipts  receipts that arrived before the part they report on was recorded
    sms_optouts             (our number, recipient) pairs that must not be sent to
    sms_inbound_parts       parts of long inbound messages until the last one arrives

Statuses of a sent message: queued ─► submitted ─► delivered | failed (or failed at once: refused
by the carrier, or blocked by an opt-out). A received message is ``received``.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Float, Index, Integer, SmallInteger, String, Table, Text

from telex.store.schema import metadata

__all__ = ["sms_carrier_ids", "sms_inbound_parts", "sms_messages", "sms_optouts", "sms_unmatched_receipts"]

_SEQ = BigInteger().with_variant(Integer, "sqlite")

sms_messages = Table(
    "sms_messages",
    metadata,
    Column("seq", _SEQ, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("direction", String(3), nullable=False),  # out | in
    Column("number", String(16), nullable=False),  # ours: the sender of "out", the recipient of "in"
    Column("peer", String(32), nullable=False),
    Column("body", Text, nullable=False),
    Column("segments", SmallInteger, nullable=False),
    Column("encoding", String(8), nullable=False),
    Column("status", String(16), nullable=False),
    Column("status_details", Text, nullable=True),
    Column("delivery_report", Boolean, nullable=False),
    Column("tag", Text, nullable=True),
    Column("carrier", String(64), nullable=False),
    Column("request_id", String(64), nullable=True, unique=True),
    Column("request_hash", String(64), nullable=True),
    Column("created_at", Float, nullable=False),
    Column("submitted_at", Float, nullable=True),
    Column("done_at", Float, nullable=True),
    # Receipts still expected (one per carrier id), and how many parts succeeded and failed.
    Column("parts_pending", SmallInteger, nullable=False, server_default="0"),
    Column("parts_delivered", SmallInteger, nullable=False, server_default="0"),
    Column("parts_failed", SmallInteger, nullable=False, server_default="0"),
    # Which node's carrier connection is sending it, until when (several nodes share an outbox).
    Column("claimed_by", String(64), nullable=True),
    Column("claim_until", Float, nullable=True),
    Index("ix_sms_messages_number", "number", "seq"),
    Index("ix_sms_messages_peer", "peer", "seq"),
    Index("ix_sms_messages_outbox", "carrier", "status", "seq"),
    sqlite_autoincrement=True,
)

sms_carrier_ids = Table(
    "sms_carrier_ids",
    metadata,
    Column("carrier", String(64), primary_key=True),
    Column("carrier_id", String(80), primary_key=True),
    Column("message_id", String(64), nullable=False),
    Column("outcome", String(16), nullable=True),  # delivered | failed, once its receipt came
)

sms_unmatched_receipts = Table(
    "sms_unmatched_receipts",
    metadata,
    Column("carrier", String(64), primary_key=True),
    Column("carrier_id", String(80), primary_key=True),
    Column("delivered", Boolean, nullable=False),
    Column("details", Text, nullable=False),
    Column("received_at", Float, nullable=False),
)

sms_optouts = Table(
    "sms_optouts",
    metadata,
    Column("sender", String(16), primary_key=True),
    Column("recipient", String(32), primary_key=True),
    Column("source", String(16), nullable=False),  # keyword | api
    Column("created_at", Float, nullable=False),
)

sms_inbound_parts = Table(
    "sms_inbound_parts",
    metadata,
    Column("carrier", String(64), primary_key=True),
    Column("source", String(32), primary_key=True),
    Column("destination", String(32), primary_key=True),
    Column("ref", Integer, primary_key=True),
    Column("total", SmallInteger, primary_key=True),
    Column("seq", SmallInteger, primary_key=True),
    Column("text", Text, nullable=False),
    Column("received_at", Float, nullable=False),
    Index("ix_sms_inbound_parts_received", "received_at"),
)
