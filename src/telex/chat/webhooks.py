"""Chat's events as Event Grid delivers them (push-events-sms.md §5.6): the webhook catalogue.

    domain event                 thread level (once)              user level (each recipient)
    chatMessageReceived          ChatMessageReceivedInThread      ChatMessageReceived
    chatMessageEdited            ChatMessageEditedInThread        ChatMessageEdited
    chatMessageDeleted           ChatMessageDeletedInThread       ChatMessageDeleted
    chatThreadCreated            ChatThreadCreated                ChatThreadCreatedWithUser
    chatThreadPropertiesUpdated  ChatThreadPropertiesUpdated      ChatThreadPropertiesUpdatedPerUser
    chatThreadDeleted            ChatThreadDeleted                ChatThreadWithUserDeleted
    participantsAdded            ChatThreadParticipantAdded       ChatParticipantAddedToThreadWithUser
    participantsRemoved          ChatThreadParticipantRemoved     ChatParticipantRemovedFromThreadWithUser
    (one per participant added or removed, as ACS sends them)

The recipients of a user-level event are the thread's members at the event's position (those
added by this very change included, those removed by it too), except the user who caused it:
ten members and one message give one thread-level and nine user-level events. ``data`` has the
names and shapes of ACS's catalogue: identifiers as ``CommunicationIdentifierModel``, versions as
numbers, times in RFC 3339, ``transactionId`` the domain event's id (shared by everything one
change produced), and the legacy raw-id strings ACS still sends (``senderId``, ``recipientId``,
``createdBy``). Read receipts and typing have no Event Grid type.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from telex.chat.events import EventType
from telex.events.model import DomainEvent
from telex.webhooks.catalogue import NAMESPACE, AcsEvent, Rendering, communication_identifier, raw_id

__all__ = ["RENDERINGS"]

_P = NAMESPACE

_Body = Callable[[DomainEvent], dict[str, Any]]


def _version(value: Any) -> int | str:
    text = str(value)
    return int(text) if text.isdigit() else text


def _message_type(value: Any) -> str:
    # The chat REST API says "text"/"html"; Event Grid's samples say "Text".
    text = str(value or "text")
    return text[:1].upper() + text[1:]


def _common(event: DomainEvent) -> dict[str, Any]:
    return {"transactionId": event.id, "threadId": event.data["threadId"]}


def _message(event: DomainEvent) -> dict[str, Any]:
    d = event.data
    sender = raw_id(d.get("sender")) or (event.actor or "")
    out: dict[str, Any] = {
        "messageId": d["id"],
        "senderId": sender,
        "senderCommunicationIdentifier": communication_identifier(sender),
        "senderDisplayName": d.get("senderDisplayName", ""),
        "composeTime": d.get("createdOn"),
        "type": _message_type(d.get("type")),
        "version": _version(d.get("version")),
    }
    if "deletedOn" in d:
        out["deleteTime"] = d["deletedOn"]
    else:
        out["messageBody"] = d.get("message", "")
        out["metadata"] = d.get("metadata") or {}
        if "editedOn" in d:
            out["editTime"] = d["editedOn"]
    return {**out, **_common(event)}


def _by(event: DomainEvent, key: str) -> str:
    return raw_id((event.data.get(key) or {}).get("id")) or (event.actor or "")


def _participant(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "displayName": p.get("displayName", ""),
        "participantCommunicationIdentifier": communication_identifier(raw_id(p.get("id"))),
    }


def _thread_created(event: DomainEvent) -> dict[str, Any]:
    d = event.data
    creator = _by(event, "createdBy")
    parts = d.get("participants") or []
    return {
        "createdBy": creator,
        "createdByCommunicationIdentifier": communication_identifier(creator),
        "properties": dict(d.get("properties") or {}),
        "metadata": {},
        "members": [
            {"displayName": p.get("displayName", ""), "memberId": raw_id(p.get("id"))} for p in parts
        ],
        "participants": [_participant(p) for p in parts],
        "createTime": d.get("createdOn"),
        "version": _version(d.get("version")),
        **_common(event),
    }


def _thread_updated(event: DomainEvent) -> dict[str, Any]:
    d = event.data
    return {
        "editedByCommunicationIdentifier": communication_identifier(_by(event, "updatedBy")),
        "editTime": d.get("updatedOn"),
        "properties": dict(d.get("properties") or {}),
        "metadata": {},
        "version": _version(d.get("version")),
        **_common(event),
    }


def _thread_deleted(event: DomainEvent) -> dict[str, Any]:
    d = event.data
    return {
        "deletedByCommunicationIdentifier": communication_identifier(_by(event, "deletedBy")),
        "deleteTime": d.get("deletedOn"),
        "version": _version(d.get("version")),
        **_common(event),
    }


def _recipient(data: dict[str, Any], user: str, legacy: bool) -> dict[str, Any]:
    out = {**data, "recipientCommunicationIdentifier": communication_identifier(user)}
    if legacy:
        out["recipientId"] = user
    return out


def _simple(
    domain_type: str, thread_type: str, user_type: str, body: _Body, subject_key: str, legacy: bool = False
) -> Rendering:
    """A domain event that renders one thread-level event and one user-level event per recipient.

    ``subject_key`` names the subject's middle part: ``thread/{id}/sender/{raw}`` for messages,
    ``thread/{id}/createdBy/{raw}`` for thread creation, and so on."""
    thread_type, user_type = _P + thread_type, _P + user_type

    def render(event: DomainEvent, recipients: Sequence[str]) -> list[AcsEvent]:
        data = body(event)
        by = event.actor or ""
        subject = f"thread/{event.data['threadId']}/{subject_key}/{by}"
        out = [AcsEvent(thread_type, subject, data, thread_type)]
        for user in recipients:
            out.append(
                AcsEvent(
                    user_type,
                    f"{subject}/recipient/{user}",
                    _recipient(data, user, legacy),
                    f"{user_type}/{user}",
                )
            )
        return out

    return Rendering(domain_type, frozenset({thread_type, user_type}), frozenset({user_type}), render)


def _membership(domain_type: str, thread_type: str, user_type: str, change: str) -> Rendering:
    """participantsAdded/Removed: one thread-level event per participant, and one user-level
    event per participant and recipient. ``change`` is "Added" or "Removed"."""
    thread_type, user_type = _P + thread_type, _P + user_type
    verb = change.lower()
    listed, by_key, time_key = f"participants{change}", f"{verb}By", f"{verb}On"

    def render(event: DomainEvent, recipients: Sequence[str]) -> list[AcsEvent]:
        d = event.data
        by = _by(event, by_key)
        out: list[AcsEvent] = []
        for p in d.get(listed) or []:
            who = raw_id(p.get("id"))
            data = {
                "time": d.get(time_key),
                f"{verb}ByCommunicationIdentifier": communication_identifier(by),
                f"participant{change}": _participant(p),
                "version": _version(d.get("version")),
                **_common(event),
            }
            subject = f"thread/{d['threadId']}/participant{change}/{who}"
            out.append(AcsEvent(thread_type, subject, data, f"{thread_type}/{who}"))
            for user in recipients:
                out.append(
                    AcsEvent(
                        user_type,
                        f"{subject}/recipient/{user}",
                        _recipient(data, user, False),
                        f"{user_type}/{who}/{user}",
                    )
                )
        return out

    return Rendering(domain_type, frozenset({thread_type, user_type}), frozenset({user_type}), render)


RENDERINGS: tuple[Rendering, ...] = (
    _simple(EventType.MESSAGE_RECEIVED, "ChatMessageReceivedInThread", "ChatMessageReceived", _message,
            "sender", legacy=True),
    _simple(EventType.MESSAGE_EDITED, "ChatMessageEditedInThread", "ChatMessageEdited", _message,
            "sender", legacy=True),
    _simple(EventType.MESSAGE_DELETED, "ChatMessageDeletedInThread", "ChatMessageDeleted", _message,
            "sender", legacy=True),
    _simple(EventType.THREAD_CREATED, "ChatThreadCreated", "ChatThreadCreatedWithUser", _thread_created,
            "createdBy"),
    _simple(EventType.THREAD_UPDATED, "ChatThreadPropertiesUpdated", "ChatThreadPropertiesUpdatedPerUser",
            _thread_updated, "editedBy"),
    _simple(EventType.THREAD_DELETED, "ChatThreadDeleted", "ChatThreadWithUserDeleted", _thread_deleted,
            "deletedBy"),
    _membership(EventType.PARTICIPANTS_ADDED, "ChatThreadParticipantAdded",
                "ChatParticipantAddedToThreadWithUser", "Added"),
    _membership(EventType.PARTICIPANTS_REMOVED, "ChatThreadParticipantRemoved",
                "ChatParticipantRemovedFromThreadWithUser", "Removed"),
)  # fmt: skip
