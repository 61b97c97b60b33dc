"""Call Automation's domain events: callbacks to applications, and ``IncomingCall``.

    callbacks      type "callAutomation.<Event>" (``CallConnected``, ``PlayCompleted`` …)
                   topic "automation:<callConnectionId>"   (no member: realtime never sends them)
                   data  {"uri": where to POST it, "event": the ACS ``data`` object}
    IncomingCall   type "incomingCallNotification", topic "automation:incoming", data = the ACS
                   ``data`` of ``Microsoft.Communication.IncomingCall`` (with its signed
                   ``incomingCallContext``), subject "/caller/<rawId>/recipient/<rawId>"
    recording file type "recordingFileStatusUpdated", topic "automation:recordings", data = the
                   ACS ``data`` of ``Microsoft.Communication.RecordingFileStatusUpdated``

A callback is appended in the same unit as the change it reports (the call's participants
changed, a media operation ended), so the log holds every callback exactly once; the callback
dispatcher (``callbacks``) reads each connection's topic from its cursor and POSTs them, in
order. Every callback's ``data`` starts with the fields ACS puts in all of them (acs-wire.md
§3.7): ``callConnectionId``, ``serverCallId``, ``correlationId``, ``operationContext`` and
``resultInformation``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from telex.events.model import DomainEvent

__all__ = [
    "CALLBACK_PREFIX",
    "INCOMING_CALL",
    "INCOMING_TOPIC",
    "RECORDINGS_TOPIC",
    "RECORDING_FILE_STATUS",
    "TOPIC_PREFIX",
    "callback_event",
    "connection_topic",
    "result",
]

TOPIC_PREFIX = "automation:"
CALLBACK_PREFIX = "callAutomation."
INCOMING_CALL = "incomingCallNotification"
INCOMING_TOPIC = TOPIC_PREFIX + "incoming"
RECORDING_FILE_STATUS = "recordingFileStatusUpdated"
RECORDINGS_TOPIC = TOPIC_PREFIX + "recordings"


def connection_topic(connection_id: str) -> str:
    return f"{TOPIC_PREFIX}{connection_id}"


def result(code: int = 200, sub_code: int = 0, message: str = "") -> dict[str, Any]:
    """``resultInformation``."""
    return {"code": code, "subCode": sub_code, "message": message or _MESSAGES.get(sub_code, "")}


_MESSAGES = {
    0: "Action completed successfully.",
    5001: "The call was ended.",
    5300: "The participant declined or did not answer.",
    7000: "The call was canceled.",
}


def callback_event(
    type_: str,
    *,
    connection_id: str,
    call_id: str,
    uri: str,
    now: float,
    context: str | None = None,
    result_information: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
) -> DomainEvent:
    """One callback, ``type_`` without the ``Microsoft.Communication.`` prefix."""
    event: dict[str, Any] = {
        "callConnectionId": connection_id,
        "serverCallId": call_id,
        "correlationId": call_id,
        "operationContext": context,
        "resultInformation": dict(result_information or result()),
    }
    event.update(data or {})
    return DomainEvent(
        CALLBACK_PREFIX + type_,
        connection_topic(connection_id),
        {"uri": uri, "event": event},
        now,
        subject=f"calling/callConnections/{connection_id}",
    )
