"""Tables of event subscriptions. Migration ``0010_events_out`` creates exactly these.

event_subscriptions   one row per subscription: its spec, secrets, provisioning state
event_dead_letters    events given up on, with Event Grid's dead-letter fields
(each subscription's cursor and lease are a row of ``event_cursors``: telex.events.consumer)
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Float, Index, Integer, String, Table, Text, false

from telex.store.schema import metadata

__all__ = ["event_dead_letters", "event_subscriptions"]

_POS = BigInteger().with_variant(Integer, "sqlite")

event_subscriptions = Table(
    "event_subscriptions",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("url", Text, nullable=False),
    Column("schema", String(32), nullable=False),
    # JSON list of ACS event types; NULL: every type.
    Column("included_types", Text, nullable=True),
    Column("subject_begins_with", Text, nullable=False, server_default=""),
    Column("subject_ends_with", Text, nullable=False, server_default=""),
    Column("case_sensitive", Boolean, nullable=False, server_default=false()),
    Column("max_events_per_batch", Integer, nullable=False),
    Column("preferred_batch_kb", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("ttl_minutes", Integer, nullable=False),
    # Standard Webhooks secrets (whsec_…): the current one, and the previous one until a time.
    Column("secret", Text, nullable=False),
    Column("previous_secret", Text, nullable=True),
    Column("previous_secret_until", Float, nullable=True),
    Column("state", String(32), nullable=False),
    Column("validation_hash", String(64), nullable=True),
    Column("validation_deadline", Float, nullable=True),
    Column("allowed_rate", Integer, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

event_dead_letters = Table(
    "event_dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subscription", String(64), nullable=False),
    Column("position", _POS, nullable=False),
    Column("event_id", String(64), nullable=False),
    # The event as the subscription's schema renders it (JSON).
    Column("event", Text, nullable=False),
    Column("reason", String(64), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("outcome", String(64), nullable=False),
    Column("status", Integer, nullable=True),
    Column("published_at", Float, nullable=False),
    Column("last_attempt_at", Float, nullable=False),
    Index("ix_event_dead_letters_subscription", "subscription", "id"),
    sqlite_autoincrement=True,
)
