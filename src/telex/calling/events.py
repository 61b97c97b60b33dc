"""Calls' domain events: their names, payloads and the topics they go to.

    call:<callId>                  every participant of the call (state, joins, leaves, media)
    call:<callId>/<participantId>  that participant only (incomingCall, SDP and ICE addressed to it)

A participant's user is a member of both topics from the unit that added the participant to the
one that removed it (``CallTx.save``), so an addressed signal is one log row that only its
addressee's connections ever see. Payload fields follow the ACS Calling SDK's names where it
has one (``isMuted``, ``callEndReason`` …). Times are ISO 8601 strings. Subjects are Event Grid's
(``call/<id>/startedBy/<rawId>``, ``call/<id>/participant/<rawId>``, ``call/<id>``).
"""

from __future__ import annotations

from typing import Any

from telex.calling.machine import Call, CallKind, Effect, EffectKind, Leg, LegState
from telex.core.clock import iso_time
from telex.core.ids import identifier_kind
from telex.events.model import DomainEvent

__all__ = [
    "CALL_TOPIC_PREFIX",
    "CallEvent",
    "call_payload",
    "call_topic",
    "events_for",
    "leg_payload",
    "leg_topic",
    "signal_event",
]

CALL_TOPIC_PREFIX = "call:"


class CallEvent:
    INCOMING_CALL = "incomingCall"
    CALL_STARTED = "callStarted"
    CALL_STATE_CHANGED = "callStateChanged"
    CALL_ENDED = "callEnded"
    PARTICIPANT_ADDED = "callParticipantAdded"
    PARTICIPANT_UPDATED = "callParticipantUpdated"
    PARTICIPANT_REMOVED = "callParticipantRemoved"
    SIGNAL = "callSignal"
    DATA_CHANNEL_OPENED = "callDataChannelOpened"


def call_topic(call_id: str) -> str:
    return f"{CALL_TOPIC_PREFIX}{call_id}"


def leg_topic(call_id: str, leg_id: str) -> str:
    return f"{CALL_TOPIC_PREFIX}{call_id}/{leg_id}"


def _iso(ts: float | None) -> str | None:
    return None if ts is None else iso_time(ts)


def leg_payload(leg: Leg) -> dict[str, Any]:
    out: dict[str, Any] = {
        "participantId": leg.id,
        "identifier": identifier_kind(leg.user_id),
        "displayName": leg.display_name or "",
        "role": leg.role.value,
        "state": leg.state.value,
        "isMuted": leg.muted,
        "isVideoOn": leg.video,
        "isScreenSharing": leg.screen_sharing,
        "isOnHold": leg.state is LegState.ON_HOLD,
    }
    if leg.connected_at is not None:
        out["connectedOn"] = _iso(leg.connected_at)
    if leg.end_reason is not None:
        out["callEndReason"] = leg.end_reason.value
    return out


def _two_party(call: Call) -> bool:
    """A direct call between two users (ACS's ``isTwoParty``)."""
    return call.kind is not CallKind.GROUP and len({leg.user_id for leg in call.legs}) == 2


def call_payload(call: Call, *, participants: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "callId": call.id,
        # To its participants a hunt call is a direct call with whoever answered.
        "kind": "group" if call.kind is CallKind.GROUP else "direct",
        "state": call.state.value,
        "caller": identifier_kind(call.caller_id),
        "videoOffered": call.video_offered,
        "startedOn": _iso(call.created_at),
        "isTwoParty": _two_party(call),
    }
    if call.group_id is not None:
        out["groupId"] = call.group_id
    if call.connected_at is not None:
        out["connectedOn"] = _iso(call.connected_at)
    if call.ended_at is not None:
        out["endedOn"] = _iso(call.ended_at)
        out["callEndReason"] = call.end_reason.value if call.end_reason else None
        out["durationSeconds"] = round(call.duration, 3)
    if participants:
        out["participants"] = [leg_payload(leg) for leg in call.legs]
    return out


def _incoming(call: Call, leg: Leg) -> dict[str, Any]:
    caller = next((x for x in call.legs if x.user_id == call.caller_id), None)
    return {
        "callId": call.id,
        "participantId": leg.id,
        "caller": identifier_kind(call.caller_id),
        "callerDisplayName": (caller.display_name if caller else None) or "",
        "callerParticipantId": caller.id if caller else None,
        "videoOffered": call.video_offered,
        "ringingUntil": _iso(leg.ring_deadline),
    }


def _event(
    type_: str, topic: str, data: dict[str, Any], actor: str | None, now: float, subject: str
) -> DomainEvent:
    return DomainEvent(type_, topic, data, now, actor, subject=subject)


def events_for(call: Call, effect: Effect, actor: str | None, now: float) -> list[DomainEvent]:
    """The domain events recording one effect of the state machine."""
    topic = call_topic(call.id)
    kind, leg = effect.kind, effect.leg
    if kind is EffectKind.CALL_STARTED:
        subject = f"call/{call.id}/startedBy/{call.caller_id}"
        return [
            _event(CallEvent.CALL_STARTED, topic, call_payload(call, participants=False), actor, now, subject)
        ]
    if kind is EffectKind.CALL_STATE_CHANGED:
        data = {"callId": call.id, "state": call.state.value}
        return [_event(CallEvent.CALL_STATE_CHANGED, topic, data, actor, now, f"call/{call.id}")]
    if kind is EffectKind.CALL_ENDED:
        return [
            _event(
                CallEvent.CALL_ENDED,
                topic,
                call_payload(call, participants=False),
                actor,
                now,
                f"call/{call.id}",
            )
        ]
    assert leg is not None
    # The call's facts beside the participant, so a reader of this one event (a webhook) knows
    # who started the call and what kind it is.
    body: dict[str, Any] = {
        "callId": call.id,
        "participant": leg_payload(leg),
        "caller": identifier_kind(call.caller_id),
        "isTwoParty": _two_party(call),
    }
    if call.group_id is not None:
        body["groupId"] = call.group_id
    subject = f"call/{call.id}/participant/{leg.user_id}"
    if kind is EffectKind.LEG_ADDED:
        out = [_event(CallEvent.PARTICIPANT_ADDED, topic, body, actor, now, subject)]
        if leg.state is LegState.RINGING:
            incoming = _incoming(call, leg)
            out.append(
                _event(CallEvent.INCOMING_CALL, leg_topic(call.id, leg.id), incoming, actor, now, subject)
            )
        return out
    if kind is EffectKind.LEG_REMOVED:
        return [_event(CallEvent.PARTICIPANT_REMOVED, topic, body, actor, now, subject)]
    return [_event(CallEvent.PARTICIPANT_UPDATED, topic, body, actor, now, subject)]


def signal_event(
    call: Call, sender: Leg, type_: str, data: dict[str, Any], topic: str, now: float
) -> DomainEvent:
    """A signaling message or data-channel announcement from ``sender`` (to one leg's topic or all)."""
    return _event(type_, topic, data, sender.user_id, now, f"call/{call.id}/participant/{sender.user_id}")
