"""The durable log (``events``) and who may read which topic (``topic_members``).

One row per domain event, never one per recipient: who may read an event is computed from
``topic_members`` intervals on read, so a message to a thread of N members is one row.

    events         position (monotonic) · topic · type · version · id · subject · actor · time
                   · payload (JSON) · audience (topics whose membership this event's unit changed)
    topic_members  topic · user_id · joined_pos · left_pos
                   a user receives an event of ``topic`` iff joined_pos <= position <= left_pos
                   (left_pos NULL: still a member) — see events/audience.py
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, SmallInteger, String, Table, Text

from telex.store.schema import metadata

__all__ = ["events", "topic_members"]

_POS = BigInteger().with_variant(Integer, "sqlite")

events = Table(
    "events",
    metadata,
    # BIGINT on PostgreSQL; on SQLite an INTEGER PRIMARY KEY is the rowid, and AUTOINCREMENT
    # guarantees a position is never reused.
    Column("position", _POS, primary_key=True, autoincrement=True),
    # Who may read it is decided by the topic: a chat thread id, ``call:<id>``, ``call:<id>/<leg>``.
    Column("topic", String(160), nullable=False),
    Column("type", String(64), nullable=False),
    # The version of the type's ``data`` shape (renderers may read older versions).
    Column("version", SmallInteger, nullable=False, server_default="1"),
    # A unique id, the same wherever the event is delivered (webhooks retry with it).
    Column("id", String(36), nullable=True),
    Column("subject", String(512), nullable=True),
    # The user who caused the event, if any.
    Column("actor", String(128), nullable=True),
    Column("created_at", Float, nullable=False),
    Column("payload", Text, nullable=False),
    # Space-separated topics whose membership the unit that appended this event changed (set on
    # the unit's first event): readers that cache audiences re-read those topics here.
    Column("audience", Text, nullable=True),
    Index("ix_events_topic_position", "topic", "position"),
    sqlite_autoincrement=True,
)

topic_members = Table(
    "topic_members",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("topic", String(160), nullable=False),
    Column("user_id", String(128), nullable=False),
    Column("joined_pos", _POS, nullable=False),
    Column("left_pos", _POS, nullable=True),
    Index("ix_topic_members_topic", "topic"),
    Index("ix_topic_members_user_topic", "user_id", "topic"),
    sqlite_autoincrement=True,
)
