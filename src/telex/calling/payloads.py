"""Realtime event names and payloads of calls, and the log streams they go to.

    call:<callId>                  every participant of the call (state, joins, leaves, media)
    call:<callId>/<participantId>  that participant only (incomingCall, SDP and ICE addressed to it)

The hub asks ``CallStore.audiences`` who may receive each stream, so an addressed signal is one
log row that only its addressee's connections ever see. Payload fields follow the ACS Calling
SDK's names where it has one (``isMuted``, ``callEndReason`` …). Times are ISO 8601 strings.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from telex.calling.machine import Call, Effect, EffectKind, Leg, LegState

__all__ = [
    "CALL_STREAM_PREFIX",
    "CallEvent",
    "LogEntry",
    "call_payload",
    "call_stream",
    "entries_for",
    "identifier",
    "leg_payload",
    "leg_stream",
    "parse_stream",
]

CALL_STREAM_PREFIX = "call:"

# (stream, event type, payload)
LogEntry = tuple[str, str, dict[str, Any]]


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


def call_stream(call_id: str) -> str:
    return f"{CALL_STREAM_PREFIX}{call_id}"


def leg_stream(call_id: str, leg_id: str) -> str:
    return f"{CALL_STREAM_PREFIX}{call_id}/{leg_id}"


def parse_stream(stream: str) -> tuple[str, str | None] | None:
    """``(call id, participant id or None)`` of a call stream; None for another stream."""
    if not stream.startswith(CALL_STREAM_PREFIX):
        return None
    call_id, _, leg_id = stream[len(CALL_STREAM_PREFIX) :].partition("/")
    return call_id, leg_id or None


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def identifier(user: str) -> dict[str, str]:
    """A ``CommunicationIdentifierKind`` as the JS SDKs have it (plus ``rawId``)."""
    return {"kind": "communicationUser", "communicationUserId": user, "rawId": user}


def leg_payload(leg: Leg) -> dict[str, Any]:
    out: dict[str, Any] = {
        "participantId": leg.id,
        "identifier": identifier(leg.user_id),
        "displayName": leg.display_name or "",
        "role": leg.role.value,
        "state": leg.state.value,
        "isMuted": leg.muted,
        "isVideoOn": leg.video,
        "isScreenSharing": leg.screen_sharing,
        "isOnHold": leg.state is LegState.ON_HOLD,
    }
    if leg.end_reason is not None:
        out["callEndReason"] = leg.end_reason.value
    return out


def call_payload(call: Call, *, participants: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "callId": call.id,
        "kind": call.kind.value,
        "state": call.state.value,
        "caller": identifier(call.caller_id),
        "videoOffered": call.video_offered,
        "startedOn": _iso(call.created_at),
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
        "caller": identifier(call.caller_id),
        "callerDisplayName": (caller.display_name if caller else None) or "",
        "callerParticipantId": caller.id if caller else None,
        "videoOffered": call.video_offered,
        "ringingUntil": _iso(leg.ring_deadline),
    }


def entries_for(call: Call, effect: Effect) -> list[LogEntry]:
    """The log entries recording one effect of the state machine."""
    stream = call_stream(call.id)
    kind, leg = effect.kind, effect.leg
    if kind is EffectKind.CALL_STARTED:
        return [(stream, CallEvent.CALL_STARTED, call_payload(call, participants=False))]
    if kind is EffectKind.CALL_STATE_CHANGED:
        return [(stream, CallEvent.CALL_STATE_CHANGED, {"callId": call.id, "state": call.state.value})]
    if kind is EffectKind.CALL_ENDED:
        return [(stream, CallEvent.CALL_ENDED, call_payload(call, participants=False))]
    assert leg is not None
    body = {"callId": call.id, "participant": leg_payload(leg)}
    if kind is EffectKind.LEG_ADDED:
        out = [(stream, CallEvent.PARTICIPANT_ADDED, body)]
        if leg.state is LegState.RINGING:
            out.append((leg_stream(call.id, leg.id), CallEvent.INCOMING_CALL, _incoming(call, leg)))
        return out
    if kind is EffectKind.LEG_REMOVED:
        return [(stream, CallEvent.PARTICIPANT_REMOVED, body)]
    return [(stream, CallEvent.PARTICIPANT_UPDATED, body)]
