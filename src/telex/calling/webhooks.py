"""Calls' events as Event Grid delivers them (push-events-sms.md §5.6): the webhook catalogue.

    domain event            Event Grid type           when
    callStarted             CallStarted               the call was placed or the group call began
    callEnded               CallEnded                 the call is over (duration, reason, who ended it)
    callParticipantAdded    CallParticipantAdded      a participant joined at once (the caller, a group
                                                      member); a ringing invitee is not in the call yet
    callParticipantUpdated  CallParticipantAdded      an invitee answered (its ``connectedOn`` is the
                                                      event's own instant)
    callParticipantRemoved  CallParticipantRemoved    a participant that had been in the call left
    incomingCall            IncomingCall              an invitation rings a user (once per callee)

``data`` has ACS's names and shapes: ``serverCallId`` and ``correlationId`` are the call id,
participants are ``{"communicationIdentifier", "role"}`` (role ``Organizer`` for whoever started
the call, ``Attendee`` otherwise), ``group`` appears for group calls, rooms do not exist yet
(``isRoomsCall`` false). ``reason`` of ``CallEnded`` carries a SIP-like ``code`` (0 for a normal
end, 487 cancelled, 480 unanswered, 603 declined, 410 connection lost) and the Telex reason as
``phrase``. ``IncomingCall`` carries ``to``, ``from``, ``serverCallId``, ``callerDisplayName``
and ``correlationId``; ``incomingCallContext`` (the token Call Automation answers with) comes
with Call Automation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from telex.calling.events import CallEvent
from telex.core.clock import iso_time
from telex.events.model import DomainEvent
from telex.webhooks.catalogue import NAMESPACE, AcsEvent, Rendering, communication_identifier, raw_id

__all__ = ["RENDERINGS"]

CALL_STARTED = NAMESPACE + "CallStarted"
CALL_ENDED = NAMESPACE + "CallEnded"
PARTICIPANT_ADDED = NAMESPACE + "CallParticipantAdded"
PARTICIPANT_REMOVED = NAMESPACE + "CallParticipantRemoved"
INCOMING_CALL = NAMESPACE + "IncomingCall"

_END_CODES = {"cancelled": 487, "missed": 480, "declined": 603, "connectionLost": 410}


def _role(role: Any) -> str:
    return "Organizer" if role == "caller" else "Attendee"


def _call(event: DomainEvent) -> dict[str, Any]:
    """The fields every calling event shares (ACS's ``AcsCallingEvent``)."""
    d = event.data
    caller = raw_id(d.get("caller"))
    out: dict[str, Any] = {
        "startedBy": {"communicationIdentifier": communication_identifier(caller), "role": "Organizer"},
        "serverCallId": d["callId"],
        "isTwoParty": bool(d.get("isTwoParty", False)),
        "correlationId": d["callId"],
        "isRoomsCall": False,
    }
    if d.get("groupId"):
        out["group"] = {"id": d["groupId"]}
    return out


def _started(event: DomainEvent, _: Sequence[str]) -> list[AcsEvent]:
    return [AcsEvent(CALL_STARTED, event.subject, _call(event), CALL_STARTED)]


def _ended(event: DomainEvent, _: Sequence[str]) -> list[AcsEvent]:
    d = event.data
    reason = str(d.get("callEndReason") or "hungUp")
    data = {
        **_call(event),
        "callDurationInSeconds": float(d.get("durationSeconds") or 0.0),
        "reason": {"code": _END_CODES.get(reason, 0), "subCode": 0, "phrase": reason},
    }
    if event.actor:
        data["endedBy"] = {
            "communicationIdentifier": communication_identifier(event.actor),
            "type": "Participant",
            "name": "",
        }
    return [AcsEvent(CALL_ENDED, event.subject, data, CALL_ENDED)]


def _participant(event: DomainEvent, type_: str) -> AcsEvent:
    p = event.data["participant"]
    who = raw_id(p.get("identifier"))
    data = {
        "user": {"communicationIdentifier": communication_identifier(who), "role": _role(p.get("role"))},
        "displayName": p.get("displayName", ""),
        "participantId": p["participantId"],
        "userAgent": "",
        **_call(event),
    }
    return AcsEvent(type_, event.subject, data, f"{type_}/{p['participantId']}")


def _added(event: DomainEvent, _: Sequence[str]) -> list[AcsEvent]:
    if event.data["participant"].get("state") == "ringing":
        return []  # invited, not in the call yet: added when it answers
    return [_participant(event, PARTICIPANT_ADDED)]


def _updated(event: DomainEvent, _: Sequence[str]) -> list[AcsEvent]:
    p = event.data["participant"]
    answered_now = (
        p.get("role") == "invitee"
        and p.get("state") == "connected"
        and p.get("connectedOn") == iso_time(event.time)
    )
    return [_participant(event, PARTICIPANT_ADDED)] if answered_now else []


def _removed(event: DomainEvent, _: Sequence[str]) -> list[AcsEvent]:
    p = event.data["participant"]
    if p.get("connectedOn") is None and p.get("role") == "invitee":
        return []  # never answered: it was never added
    return [_participant(event, PARTICIPANT_REMOVED)]


def _incoming(event: DomainEvent, recipients: Sequence[str]) -> list[AcsEvent]:
    d = event.data
    caller = raw_id(d.get("caller"))
    out = []
    for user in recipients:
        data = {
            "to": communication_identifier(user),
            "from": communication_identifier(caller),
            "serverCallId": d["callId"],
            "callerDisplayName": d.get("callerDisplayName", ""),
            "correlationId": d["callId"],
        }
        out.append(
            AcsEvent(INCOMING_CALL, f"/caller/{caller}/recipient/{user}", data, f"{INCOMING_CALL}/{user}")
        )
    return out


def _one(domain_type: str, type_: str, render: Any, per_recipient: bool = False) -> Rendering:
    return Rendering(
        domain_type, frozenset({type_}), frozenset({type_}) if per_recipient else frozenset(), render
    )


RENDERINGS: tuple[Rendering, ...] = (
    _one(CallEvent.CALL_STARTED, CALL_STARTED, _started),
    _one(CallEvent.CALL_ENDED, CALL_ENDED, _ended),
    _one(CallEvent.PARTICIPANT_ADDED, PARTICIPANT_ADDED, _added),
    _one(CallEvent.PARTICIPANT_UPDATED, PARTICIPANT_ADDED, _updated),
    _one(CallEvent.PARTICIPANT_REMOVED, PARTICIPANT_REMOVED, _removed),
    _one(CallEvent.INCOMING_CALL, INCOMING_CALL, _incoming, per_recipient=True),
)
