"""The ``events`` table: an append-only log with a monotonic ``position``.

One row per state change, never one per recipient: who may read an event is computed on read
(for chat, from membership intervals), so a message to a thread of N members is one row.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, String, Table, Text

from telex.store.schema import metadata

__all__ = ["events"]

events = Table(
    "events",
    metadata,
    # BIGINT on PostgreSQL; on SQLite an INTEGER PRIMARY KEY is the rowid, and AUTOINCREMENT
    # guarantees a position is never reused.
    Column("position", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    # The stream the event belongs to: a chat thread id (calls and others later).
    Column("stream", String(128), nullable=False),
    Column("type", String(64), nullable=False),
    # The user who caused the event, if any.
    Column("actor", String(128), nullable=True),
    Column("created_at", Float, nullable=False),
    Column("payload", Text, nullable=False),
    Index("ix_events_stream_position", "stream", "position"),
    sqlite_autoincrement=True,
)
