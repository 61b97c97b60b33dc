"""Domain values of chat. Times are epoch seconds (floats); the web layer formats them."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, NewType, TypeVar

from telex.core.ids import UserId

__all__ = [
    "InvalidParticipant",
    "Message",
    "MessageType",
    "Page",
    "Participant",
    "ParticipantSpec",
    "ReadReceipt",
    "Thread",
    "ThreadId",
    "ThreadItem",
]

ThreadId = NewType("ThreadId", str)
T = TypeVar("T")


class MessageType(StrEnum):
    TEXT = "text"
    HTML = "html"
    TOPIC_UPDATED = "topicUpdated"
    PARTICIPANT_ADDED = "participantAdded"
    PARTICIPANT_REMOVED = "participantRemoved"

    @property
    def is_system(self) -> bool:
        return self not in (MessageType.TEXT, MessageType.HTML)


@dataclass(frozen=True, slots=True)
class ParticipantSpec:
    """A participant as a request names it: any raw id (validated by the service)."""

    raw_id: str
    display_name: str | None = None
    share_history_time: float | None = None
    metadata: dict[str, str] | None = None  # api-version 2025-03-15


@dataclass(frozen=True, slots=True)
class Participant:
    user_id: UserId
    display_name: str | None
    share_history_time: float | None
    metadata: dict[str, str] | None = None  # api-version 2025-03-15


@dataclass(frozen=True, slots=True)
class InvalidParticipant:
    raw_id: str
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Thread:
    id: ThreadId
    topic: str
    created_by: UserId
    created_at: float
    deleted_at: float | None = None
    metadata: dict[str, str] | None = None  # api-version 2025-03-15
    retention_days: int | None = None  # delete this many days after creation (None: keep)


@dataclass(frozen=True, slots=True)
class ThreadItem:
    id: ThreadId
    topic: str
    last_message_at: float
    deleted_at: float | None = None


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    type: MessageType
    sequence_id: int
    version: str
    created_at: float
    sender_id: UserId | None = None
    sender_display_name: str | None = None
    content: str | None = None
    participants: tuple[Participant, ...] = ()
    initiator_id: UserId | None = None
    metadata: dict[str, str] | None = None
    edited_at: float | None = None
    deleted_at: float | None = None


@dataclass(frozen=True, slots=True)
class ReadReceipt:
    sender_id: UserId
    message_id: str
    read_at: float


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing; ``next_token`` (opaque) continues it, None at the end."""

    items: list[T] = field(default_factory=list)
    next_token: str | None = None
