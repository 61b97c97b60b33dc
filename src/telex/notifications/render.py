"""Chat's domain events rendered as the notification payloads the JS chat SDK parses.

    DomainEvent (telex.chat.events: the SDK's public event shapes, identifiers as kinds)
        ─► payload(event) ─► Skype-style fields: a numeric ``eventId``, MRIs, ``groupId``,
                             thread payloads as JSON strings escaped the way JavaScript's
                             ``escape()`` does (the SDK reads them back with ``unescape()``)
        ─► body(payload, recipient) ─► the JSON text of one notification for one user

    chatMessageReceived 200 · typingIndicatorReceived 245 · readReceiptReceived 246
    chatMessageEdited 247 · chatMessageDeleted 248 · chatThreadCreated 257
    chatThreadPropertiesUpdated 258 · chatThreadDeleted 259 · participantsAdded 260
    participantsRemoved 261

The field names and formats are those ``@azure/communication-signaling`` reads (its
``TrouterNotificationPayload`` and the mapping to the public events); the values come from the
event's data, so every way out says the same thing. Events of other capabilities (calls) have no
payload here: the chat SDK's socket does not carry them.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

__all__ = ["EVENT_IDS", "body", "js_escape", "payload"]

EVENT_IDS: dict[str, int] = {
    "chatMessageReceived": 200,
    "typingIndicatorReceived": 245,
    "readReceiptReceived": 246,
    "chatMessageEdited": 247,
    "chatMessageDeleted": 248,
    "chatThreadCreated": 257,
    "chatThreadPropertiesUpdated": 258,
    "chatThreadDeleted": 259,
    "participantsAdded": 260,
    "participantsRemoved": 261,
}

# What JavaScript's escape() leaves as it is (ECMA-262, Annex B.2.1.1).
_UNESCAPED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789@*_+-./")


def js_escape(text: str) -> str:
    """JavaScript's ``escape()``: %XX below 256, %uXXXX for each UTF-16 code unit above."""
    out = []
    for ch in text:
        if ch in _UNESCAPED:
            out.append(ch)
            continue
        code = ord(ch)
        if code < 256:
            out.append(f"%{code:02X}")
        elif code < 0x10000:
            out.append(f"%u{code:04X}")
        else:
            code -= 0x10000
            out.append(f"%u{0xD800 + (code >> 10):04X}%u{0xDC00 + (code & 0x3FF):04X}")
    return "".join(out)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _escaped(value: Any) -> str:
    return js_escape(_json(value))


def _mri(identifier: Any) -> str:
    """The raw id (an MRI: ``8:acs:…``) of an identifier kind as chat's events carry them."""
    if isinstance(identifier, dict):
        raw = identifier.get("rawId") or identifier.get("communicationUserId") or identifier.get("id")
        return str(raw or "")
    return str(identifier or "")


def _epoch_ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def _participant(p: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"participantId": _mri(p.get("id")), "displayName": p.get("displayName") or ""}
    if p.get("shareHistoryTime"):
        out["shareHistoryTime"] = p["shareHistoryTime"]
    if p.get("metadata"):
        out["memberMetaData"] = _json(p["metadata"])
    return out


def _retention(policy: Any) -> str | None:
    """A thread's retention policy as the service writes it (a .NET TimeSpan, ``d.hh:mm:ss``)."""
    if not isinstance(policy, dict) or policy.get("kind") != "threadCreationDate":
        return None
    days = int(policy.get("deleteThreadAfterDays", 0))
    return _json({"retentionPolicyType": "DeleteAfterCreationTime", "executeAfter": f"{days}.00:00:00"})


def _properties(data: dict[str, Any]) -> str:
    props = data.get("properties") or {}
    out: dict[str, Any] = {"topic": props.get("topic", "")}
    if props.get("metadata"):
        out["acsChatThreadMetadata"] = _json(props["metadata"])
    retention = _retention(data.get("retentionPolicy"))
    if retention is not None:
        out["retentionPolicy"] = retention
    return _escaped(out)


def _message(event_id: int, data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "eventId": event_id,
        "senderId": _mri(data.get("sender")),
        "groupId": data["threadId"],
        "messageId": data["id"],
        "clientMessageId": "",
        "senderDisplayName": data.get("senderDisplayName") or "",
        "messageType": data.get("type", "text"),
        "version": str(data.get("version", "")),
        "originalArrivalTime": data["createdOn"],
    }
    if event_id == 248:
        out["deletetime"] = data.get("deletedOn", data["createdOn"])
        return out
    out["messageBody"] = data.get("message", "")
    out["acsChatMessageMetadata"] = _json(data.get("metadata") or {})
    if event_id == 247:
        out["edittime"] = data.get("editedOn", data["createdOn"])
    return out


def payload(event_type: str, data: dict[str, Any]) -> dict[str, Any] | None:
    """The notification for an event of chat (without ``recipientMri``); None for any other."""
    event_id = EVENT_IDS.get(event_type)
    if event_id is None:
        return None
    if event_id in (200, 247, 248):
        return _message(event_id, data)
    if event_id == 245:
        return {
            "eventId": 245, "senderId": _mri(data.get("sender")), "groupId": data["threadId"],
            "version": str(data.get("version", "")), "senderDisplayName": data.get("senderDisplayName") or "",
            "originalArrivalTime": data["receivedOn"],
        }  # fmt: skip
    if event_id == 246:
        sender = _mri(data.get("sender"))
        read_ms = _epoch_ms(data["readOn"])
        horizon = f"{data['chatMessageId']};{read_ms};{data['chatMessageId']}"
        receipt = {"user": sender, "consumptionhorizon": horizon, "messageVisibilityTime": read_ms,
                   "version": str(read_ms)}  # fmt: skip
        return {
            "eventId": 246, "senderId": sender, "groupId": data["threadId"],
            "messageId": data["chatMessageId"], "clientMessageId": "", "messageBody": _json(receipt),
        }  # fmt: skip
    thread: dict[str, Any] = {
        "eventId": event_id,
        "threadId": data["threadId"],
        "version": str(data["version"]),
    }
    if event_id == 257:
        thread["createTime"] = data["createdOn"]
        thread["createdBy"] = _escaped(_participant(data["createdBy"]))
        thread["members"] = _escaped([_participant(p) for p in data.get("participants", [])])
        thread["properties"] = _properties(data)
    elif event_id == 258:
        thread["editTime"] = data["updatedOn"]
        thread["editedBy"] = _escaped(_participant(data["updatedBy"]))
        thread["properties"] = _properties(data)
    elif event_id == 259:
        thread["deleteTime"] = data["deletedOn"]
        thread["deletedBy"] = _escaped(_participant(data["deletedBy"]))
    elif event_id == 260:
        thread["time"] = data["addedOn"]
        thread["addedBy"] = _escaped(_participant(data["addedBy"]))
        thread["participantsAdded"] = _escaped([_participant(p) for p in data["participantsAdded"]])
    else:
        thread["time"] = data["removedOn"]
        thread["removedBy"] = _escaped(_participant(data["removedBy"]))
        thread["participantsRemoved"] = _escaped([_participant(p) for p in data["participantsRemoved"]])
    return thread


def body(note: dict[str, Any], recipient: str) -> str:
    """The notification's JSON text for ``recipient`` (message and typing payloads name it)."""
    if "groupId" in note:
        note = {**note, "recipientMri": recipient}
    return _json(note)
