"""Calling tables. Migrations ``0003_calling`` and ``0004_keepalive`` create exactly these.

A participant row is one join of one user ("leg"). Which events it receives is the event
backbone's business: the leg's user is a member of the topics ``call:<call>`` and
``call:<call>/<participant>`` from the unit that added the leg to the one that removed it.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, String, Table

from telex.store.schema import metadata

__all__ = ["call_participants", "calls"]

calls = Table(
    "calls",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    # Group calls: the groupId joined. At most one call per group is not ended (the service
    # checks inside its write transaction, which appends are serialised by).
    Column("group_id", String(64), nullable=True),
    Column("state", String(16), nullable=False),
    Column("caller_id", String(128), nullable=False),
    Column("video_offered", Boolean, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("connected_at", Float, nullable=True),
    Column("ended_at", Float, nullable=True),
    Column("end_reason", String(32), nullable=True),
    Index("ix_calls_group_state", "group_id", "state"),
)

call_participants = Table(
    "call_participants",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("call_id", String(64), nullable=False),
    Column("user_id", String(128), nullable=False),
    Column("display_name", String(256), nullable=True),
    Column("role", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("end_reason", String(32), nullable=True),
    Column("created_at", Float, nullable=False),
    # Set while ringing: when the invitation becomes "missed" (the timer task's index).
    Column("ring_deadline", Float, nullable=True),
    Column("connected_at", Float, nullable=True),
    Column("left_at", Float, nullable=True),
    # Set while joined: dropped as connectionLost without a keep-alive by then (0004).
    Column("alive_until", Float, nullable=True),
    Column("muted", Boolean, nullable=False),
    Column("video", Boolean, nullable=False),
    Column("screen_sharing", Boolean, nullable=False),
    Index("ix_call_participants_call", "call_id"),
    Index("ix_call_participants_user", "user_id"),
    Index("ix_call_participants_ring_deadline", "ring_deadline"),
    Index("ix_call_participants_alive_until", "alive_until"),
)
