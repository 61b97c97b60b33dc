"""Chat's domain events, in the shapes of the ACS JavaScript chat SDK's realtime events.

Each function builds one ``DomainEvent`` whose topic is the thread id: the thread's members (from
the unit that added them to the one that removed them) receive it. The payload is stored once;
the realtime gateway adds ``recipient`` per connection, webhooks render the Event Grid types.
Times are ISO 8601 strings (the JS SDK turns them into ``Date``s).

    event type                     ACS Event Grid types (thread level / per user)
    chatMessageReceived            ChatMessageReceivedInThread / ChatMessageReceived
    chatMessageEdited              ChatMessageEditedInThread / ChatMessageEdited
    chatMessageDeleted             ChatMessageDeletedInThread / ChatMessageDeleted
    chatThreadCreated              ChatThreadCreated / ChatThreadCreatedWithUser
    chatThreadPropertiesUpdated    ChatThreadPropertiesUpdated / ChatThreadPropertiesUpdatedPerUser
    chatThreadDeleted              ChatThreadDeleted / ChatThreadWithUserDeleted
    participantsAdded              ChatThreadParticipantAdded / ChatParticipantAddedToThreadWithUser
    participantsRemoved            ChatThreadParticipantRemoved / ChatParticipantRemovedFromThreadWithUser
    readReceiptReceived            (none)
    typingIndicatorReceived        (none; ephemeral: never in the log, not sent to the typist)
"""

from __future__ import annotations

from typing import Any

from telex.chat.models import Message, Participant
from telex.core.clock import iso_time
from telex.core.ids import identifier_kind
from telex.events.model import DomainEvent

__all__ = [
    "EventType",
    "message_deleted",
    "message_edited",
    "message_received",
    "participant_payload",
    "participants_added",
    "participants_removed",
    "read_receipt",
    "retention_payload",
    "thread_created",
    "thread_deleted",
    "thread_updated",
    "typing",
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


def participant_payload(p: Participant) -> dict[str, Any]:
    out: dict[str, Any] = {"id": identifier_kind(p.user_id), "displayName": p.display_name or ""}
    if p.share_history_time is not None:
        out["shareHistoryTime"] = iso_time(p.share_history_time)
    if p.metadata:
        out["metadata"] = p.metadata
    return out


def retention_payload(days: int | None) -> dict[str, Any]:
    """A ``ChatRetentionPolicy`` as the JS SDK types it."""
    if days is None:
        return {"kind": "none"}
    return {"kind": "threadCreationDate", "deleteThreadAfterDays": days}


def _properties(topic: str, metadata: dict[str, str] | None) -> dict[str, Any]:
    return {"topic": topic, "metadata": metadata} if metadata else {"topic": topic}


def _actor(user: str, display_name: str | None) -> dict[str, Any]:
    return {"id": identifier_kind(user), "displayName": display_name or ""}


def _event(type_: str, thread_id: str, actor: str, now: float, data: dict[str, Any]) -> DomainEvent:
    return DomainEvent(type_, thread_id, data, now, actor, subject=f"thread/{thread_id}/sender/{actor}")


def _message(type_: str, thread_id: str, m: Message, actor: str, now: float) -> DomainEvent:
    """chatMessageReceived/Edited/Deleted share their fields."""
    assert m.sender_id is not None
    data: dict[str, Any] = {
        "threadId": thread_id,
        "sender": identifier_kind(m.sender_id),
        "senderDisplayName": m.sender_display_name or "",
        "id": m.id,
        "createdOn": iso_time(m.created_at),
        "version": m.version,
        "type": m.type.value,
    }
    if m.deleted_at is not None:
        data["deletedOn"] = iso_time(m.deleted_at)
    else:
        data["message"] = m.content or ""
        data["metadata"] = m.metadata or {}
        if m.edited_at is not None:
            data["editedOn"] = iso_time(m.edited_at)
    return _event(type_, thread_id, actor, now, data)


def message_received(thread_id: str, m: Message, actor: str, now: float) -> DomainEvent:
    return _message(EventType.MESSAGE_RECEIVED, thread_id, m, actor, now)


def message_edited(thread_id: str, m: Message, actor: str, now: float) -> DomainEvent:
    return _message(EventType.MESSAGE_EDITED, thread_id, m, actor, now)


def message_deleted(thread_id: str, m: Message, actor: str, now: float) -> DomainEvent:
    return _message(EventType.MESSAGE_DELETED, thread_id, m, actor, now)


def thread_created(
    thread_id: str,
    topic: str,
    parts: list[Participant],
    actor: str,
    actor_name: str | None,
    now: float,
    metadata: dict[str, str] | None = None,
    retention_days: int | None = None,
) -> DomainEvent:
    data = {
        "threadId": thread_id,
        "version": str(int(now * 1000)),
        "createdOn": iso_time(now),
        "properties": _properties(topic, metadata),
        "participants": [participant_payload(p) for p in parts],
        "createdBy": _actor(actor, actor_name),
        "retentionPolicy": retention_payload(retention_days),
    }
    return _event(EventType.THREAD_CREATED, thread_id, actor, now, data)


def thread_updated(
    thread_id: str,
    topic: str,
    version: str,
    actor: str,
    actor_name: str | None,
    now: float,
    metadata: dict[str, str] | None = None,
    retention_days: int | None = None,
) -> DomainEvent:
    data = {
        "threadId": thread_id,
        "version": version,
        "properties": _properties(topic, metadata),
        "updatedOn": iso_time(now),
        "updatedBy": _actor(actor, actor_name),
        "retentionPolicy": retention_payload(retention_days),
    }
    return _event(EventType.THREAD_UPDATED, thread_id, actor, now, data)


def thread_deleted(thread_id: str, actor: str, actor_name: str | None, now: float) -> DomainEvent:
    data = {
        "threadId": thread_id,
        "version": str(int(now * 1000)),
        "deletedOn": iso_time(now),
        "deletedBy": _actor(actor, actor_name),
    }
    return _event(EventType.THREAD_DELETED, thread_id, actor, now, data)


def participants_added(
    thread_id: str, version: str, added: list[Participant], actor: str, actor_name: str | None, now: float
) -> DomainEvent:
    data = {
        "threadId": thread_id,
        "version": version,
        "addedOn": iso_time(now),
        "participantsAdded": [participant_payload(p) for p in added],
        "addedBy": _actor(actor, actor_name),
    }
    return _event(EventType.PARTICIPANTS_ADDED, thread_id, actor, now, data)


def participants_removed(
    thread_id: str, version: str, removed: list[Participant], actor: str, actor_name: str | None, now: float
) -> DomainEvent:
    data = {
        "threadId": thread_id,
        "version": version,
        "removedOn": iso_time(now),
        "participantsRemoved": [participant_payload(p) for p in removed],
        "removedBy": _actor(actor, actor_name),
    }
    return _event(EventType.PARTICIPANTS_REMOVED, thread_id, actor, now, data)


def read_receipt(
    thread_id: str, message_id: str, actor: str, actor_name: str | None, now: float
) -> DomainEvent:
    data = {
        "threadId": thread_id,
        "sender": identifier_kind(actor),
        "senderDisplayName": actor_name or "",
        "chatMessageId": message_id,
        "readOn": iso_time(now),
    }
    return _event(EventType.READ_RECEIPT, thread_id, actor, now, data)


def typing(thread_id: str, actor: str, display_name: str, now: float) -> DomainEvent:
    """Ephemeral: live members only, never the typist, never in the log (so never replayed)."""
    data = {
        "threadId": thread_id,
        "sender": identifier_kind(actor),
        "senderDisplayName": display_name,
        "receivedOn": iso_time(now),
        "version": str(int(now * 1000)),
    }
    event = _event(EventType.TYPING, thread_id, actor, now, data)
    event.durable = False
    event.to_actor = False
    return event
