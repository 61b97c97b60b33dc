"""Chat tables. Migrations ``0002_chat`` and ``0009_chat_2025`` create exactly these.

Visibility is stored as *positions captured in the membership transaction*, not as wall-clock
times (security.md §2.3): ``visible_from_seq``/``visible_until_seq`` bound the messages a member
may read (``visible_until_seq`` NULL: a current member); which events of the log they receive is
the event backbone's business (``topic_members``, the thread id being the topic).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, String, Table, Text, UniqueConstraint

from telex.store.schema import metadata

__all__ = ["chat_memberships", "chat_messages", "chat_receipts", "chat_threads"]

chat_threads = Table(
    "chat_threads",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("topic", Text, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("deleted_at", Float, nullable=True),
    Column("last_message_at", Float, nullable=False),
    # The newest sequenceId and message id (epoch ms, strictly increasing per thread).
    Column("last_seq", Integer, nullable=False),
    Column("last_message_ms", BigInteger, nullable=False),
    Column("member_count", Integer, nullable=False),
    # Idempotent creation: "<creator> <repeatability-request-id>" and a hash of the request body.
    Column("request_key", String(320), nullable=True, unique=True),
    Column("request_hash", String(64), nullable=True),
    # api-version 2025-03-15: JSON name/value pairs, and the retention policy's days (NULL: none).
    Column("metadata", Text, nullable=True),
    Column("retention_days", Integer, nullable=True),
    Index("ix_chat_threads_last_message", "last_message_at", "id"),
)

chat_messages = Table(
    "chat_messages",
    metadata,
    Column("thread_id", String(128), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("id", String(32), nullable=False),
    Column("type", String(32), nullable=False),
    Column("sender_id", String(128), nullable=True),
    Column("sender_display_name", String(512), nullable=True),
    # The message text, or the new topic of a topicUpdated message.
    Column("content", Text, nullable=True),
    # JSON: participants of participantAdded/participantRemoved messages.
    Column("participants", Text, nullable=True),
    Column("initiator_id", String(128), nullable=True),
    Column("metadata", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("edited_at", Float, nullable=True),
    Column("deleted_at", Float, nullable=True),
    Column("version", String(32), nullable=False),
    UniqueConstraint("thread_id", "id", name="uq_chat_messages_thread_id"),
)

chat_memberships = Table(
    "chat_memberships",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("thread_id", String(128), nullable=False),
    Column("user_id", String(128), nullable=False),
    Column("display_name", String(512), nullable=True),
    Column("share_history_time", Float, nullable=True),
    Column("added_at", Float, nullable=False),
    Column("visible_from_seq", Integer, nullable=False),
    Column("visible_until_seq", Integer, nullable=True),
    Column("metadata", Text, nullable=True),  # api-version 2025-03-15: JSON name/value pairs
    Index("ix_chat_memberships_thread_user", "thread_id", "user_id"),
    Index("ix_chat_memberships_user", "user_id"),
    sqlite_autoincrement=True,
)

# The newest read receipt of each member (ACS lists one per participant).
chat_receipts = Table(
    "chat_receipts",
    metadata,
    Column("thread_id", String(128), primary_key=True),
    Column("user_id", String(128), primary_key=True),
    Column("message_id", String(32), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("read_at", Float, nullable=False),
)
