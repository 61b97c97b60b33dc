"""Call Automation tables. Migration ``0012_call_automation`` creates exactly these.

    call_connections       one per answered, created or connected call of an application: the
                           application's participant (leg) in the call and where its callbacks go
    automation_operations  add-participant, transfer and remove requests waiting for the call
                           to tell how they ended (their callbacks name them)
    callback_cursors       per call connection: the log position its callbacks were delivered up
                           to, and who delivers them (a lease), so delivery is durable and in order
    automation_requests    repeatable requests (Repeatability-Request-ID), kept five minutes
    recordings             recordings of calls: state and the file, downloadable with HMAC

The callbacks themselves are events in the durable log (topic ``automation:<connection>``):
nothing is written twice, and a cursor per connection replays what a callback server missed.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, String, Table, Text

from telex.store.schema import metadata

__all__ = [
    "automation_operations",
    "automation_requests",
    "call_connections",
    "callback_cursors",
    "recordings",
]

_POS = BigInteger().with_variant(Integer, "sqlite")

call_connections = Table(
    "call_connections",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("call_id", String(64), nullable=False),
    # The application's participant in the call and the identity it is in the call as.
    Column("leg_id", String(64), nullable=False),
    Column("user_id", String(128), nullable=False),
    Column("kind", String(16), nullable=False),  # answered | created | connected
    Column("state", String(24), nullable=False),
    Column("callback_uri", String(2048), nullable=False),
    Column("operation_context", Text, nullable=True),
    # JSON: targets of a created call, answeredBy, source display name and caller id.
    Column("details", Text, nullable=False, server_default="{}"),
    Column("participants_seq", Integer, nullable=False, server_default="0"),
    Column("created_at", Float, nullable=False),
    Column("ended_at", Float, nullable=True),
    Index("ix_call_connections_call", "call_id"),
)

automation_operations = Table(
    "automation_operations",
    metadata,
    # An add-participant's invitation id is the invited participant's id.
    Column("id", String(64), primary_key=True),
    Column("connection_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),  # add | transfer | remove
    Column("leg_id", String(64), nullable=False),  # the participant the operation is about
    Column("target", String(128), nullable=False),  # its raw id
    Column("transferee", String(128), nullable=True),
    Column("operation_context", Text, nullable=True),
    Column("callback_uri", String(2048), nullable=True),
    Column("cancel_context", Text, nullable=True),  # set by cancelAddParticipant
    Column("cancel_callback_uri", String(2048), nullable=True),
    Column("created_at", Float, nullable=False),
    Index("ix_automation_operations_connection", "connection_id"),
)

callback_cursors = Table(
    "callback_cursors",
    metadata,
    Column("connection_id", String(64), primary_key=True),
    Column("position", _POS, nullable=False),  # delivered up to (inclusive)
    Column("done", Integer, nullable=False, server_default="0"),  # 1: disconnected and drained
    Column("owner", String(64), nullable=True),
    Column("lease_until", Float, nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", Float, nullable=True),
    Index("ix_callback_cursors_done", "done"),
)

automation_requests = Table(
    "automation_requests",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("fingerprint", String(64), nullable=False),  # sha256 of method, path and body
    Column("status", Integer, nullable=False),  # 0 while the first request runs
    Column("body", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Index("ix_automation_requests_created", "created_at"),
)

recordings = Table(
    "recordings",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("call_id", String(64), nullable=False),
    Column("connection_id", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # active | inactive (paused) | stopped
    Column("callback_uri", String(2048), nullable=True),
    Column("content_type", String(16), nullable=False),
    Column("channel_type", String(16), nullable=False),
    Column("format", String(16), nullable=False),
    Column("path", String(1024), nullable=True),
    Column("bytes", BigInteger, nullable=True),
    Column("duration_ms", BigInteger, nullable=True),
    Column("started_at", Float, nullable=False),
    Column("stopped_at", Float, nullable=True),
    Column("deleted", Integer, nullable=False, server_default="0"),
    Index("ix_recordings_call", "call_id"),
)
