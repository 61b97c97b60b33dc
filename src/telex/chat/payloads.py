"""Event payloads in the shapes of the ACS JavaScript chat SDK's realtime events.

The payload is stored in the log once; the gateway adds ``recipient`` per connection. Times are
ISO 8601 strings (the JS SDK turns them into ``Date``s).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from telex.chat.models import Message, Participant

__all__ = [
    "EventType",
    "identifier_kind",
    "iso_time",
    "message_payload",
    "participant_payload",
]


class EventType:
    MESSAGE_RECEIVED = "chatMessageReceived"
    MESSAGE_EDITED = "chatMessageEdited"
    MESSAGE_DELETED = "chatMessageDeleted"
    TYPING = "typingIndicatorReceived"
    READ_RECEIPT = "readReceiptReceived"
    THREAD_CREATED = "chatThreadCreated"
    THREAD_UPDATED = "chatThreadPropertiesUpdated"
    THREAD_DELETED = "chatThreadDeleted"
    PARTICIPANTS_ADDED = "participantsAdded"
    PARTICIPANTS_REMOVED = "participantsRemoved"


def iso_time(ts: float) -> str:
    """``2026-01-01T00:00:00.123Z``."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def identifier_kind(user: str) -> dict[str, str]:
    """A ``CommunicationIdentifierKind`` as the JS SDK has it (plus ``rawId``)."""
    return {"kind": "communicationUser", "communicationUserId": user, "rawId": user}


def participant_payload(p: Participant) -> dict[str, Any]:
    out: dict[str, Any] = {"id": identifier_kind(p.user_id), "displayName": p.display_name or ""}
    if p.share_history_time is not None:
        out["shareHistoryTime"] = iso_time(p.share_history_time)
    return out


def actor_payload(user: str, display_name: str | None) -> dict[str, Any]:
    return {"id": identifier_kind(user), "displayName": display_name or ""}


def message_payload(thread_id: str, m: Message) -> dict[str, Any]:
    """The common part of chatMessageReceived/Edited/Deleted."""
    assert m.sender_id is not None
    out: dict[str, Any] = {
        "threadId": thread_id,
        "sender": identifier_kind(m.sender_id),
        "senderDisplayName": m.sender_display_name or "",
        "id": m.id,
        "createdOn": iso_time(m.created_at),
        "version": m.version,
        "type": m.type.value,
    }
    if m.deleted_at is not None:
        out["deletedOn"] = iso_time(m.deleted_at)
        return out
    out["message"] = m.content or ""
    out["metadata"] = m.metadata or {}
    if m.edited_at is not None:
        out["editedOn"] = iso_time(m.edited_at)
    return out
