"""What a call's changes mean to the applications in it, sans-I/O.

    CallStore.save(call) ─► hook: connections of the call + their pending operations
                         ─► react(connections, operations, call, now)
                               walks call.effects (the state machine's record of this unit)
                               ─► callbacks (domain events) ─► appended after the call's own events
                               ─► connection and operation changes ─► written in the same unit
                               ─► commands: a transfer accepted takes the application out
                                  (call.hang_up of its participant: more effects, walked too)

Per connection (the application's participant ``leg_id`` in the call):

    its participant connected (answered, or its created call was answered)  ─► CallConnected
    its participant left (hung up, removed, transferred away, call over)    ─► CallDisconnected
      ... before ever connecting (a created call nobody answered)           ─► CreateCallFailed first
    the joined participants or their mute/hold changed                      ─► ParticipantsUpdated
    an invited participant answered / did not                               ─► AddParticipantSucceeded
                                                                               / AddParticipantFailed
      ... or the invitation was cancelled by cancelAddParticipant           ─► CancelAddParticipantSucceeded
    a transfer target answered ─► CallTransferAccepted, then the application leaves
    a transfer target did not  ─► CallTransferFailed (the application stays)
    a participant it removed left                                           ─► RemoveParticipantSucceeded

Result codes of failures are SIP-like, as ACS reports them: 603 declined, 408 no answer,
487 cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from telex.automation.events import callback_event, result
from telex.automation.identifiers import identifier
from telex.calling import Call, EffectKind, EndReason, Leg, LegState
from telex.events.model import DomainEvent

__all__ = ["Connection", "ConnectionState", "Operation", "participant", "participants", "react"]

_JOINED = (LegState.CONNECTING, LegState.CONNECTED, LegState.ON_HOLD)


class ConnectionState:
    CONNECTING = "connecting"
    CONNECTED = "connected"
    TRANSFERRING = "transferring"
    TRANSFER_ACCEPTED = "transferAccepted"
    DISCONNECTED = "disconnected"


@dataclass(eq=False)
class Connection:
    id: str
    call_id: str
    leg_id: str
    user_id: str
    kind: str  # answered | created | connected
    state: str
    callback_uri: str
    operation_context: str | None
    details: dict[str, Any]
    participants_seq: int
    created_at: float
    ended_at: float | None = None
    dirty: bool = False


@dataclass(eq=False)
class Operation:
    id: str
    connection_id: str
    kind: str  # add | transfer | remove
    leg_id: str
    target: str
    transferee: str | None
    operation_context: str | None
    callback_uri: str | None
    cancel_context: str | None = None
    cancel_callback_uri: str | None = None
    cancelled: bool = False  # cancelAddParticipant asked for it
    done: bool = False


def participant(leg: Leg) -> dict[str, Any]:
    """A ``CallParticipant``."""
    return {
        "identifier": identifier(leg.user_id),
        "isMuted": leg.muted,
        "isOnHold": leg.state is LegState.ON_HOLD,
    }


def participants(call: Call, own_leg: str) -> list[dict[str, Any]]:
    """Everyone in the call but the application itself."""
    return [participant(x) for x in call.legs if x.state in _JOINED and x.id != own_leg]


def _failure(leg: Leg) -> dict[str, Any]:
    reason = leg.end_reason
    if reason is EndReason.DECLINED:
        return result(603, 0, "The participant declined the call.")
    if reason is EndReason.CANCELLED:
        return result(487, 0, "The invitation was canceled.")
    if reason is EndReason.MISSED:
        return result(408, 0, "The participant did not answer.")
    if reason is EndReason.BUSY:
        return result(486, 0, "The participant is busy.")
    return result(480, 0, f"The participant is unavailable ({reason.value if reason else 'gone'}).")


@dataclass
class _Out:
    connection: Connection
    events: list[DomainEvent] = field(default_factory=list)
    participants_changed: bool = False


def react(
    connections: list[Connection], operations: list[Operation], call: Call, now: float
) -> list[DomainEvent]:
    """The callbacks this unit's effects produce; updates ``connections`` and ``operations``
    in place (``dirty``/``done``) and may apply commands to ``call`` (see the module docstring)."""
    outs = [_Out(c) for c in connections if c.state != ConnectionState.DISCONNECTED]
    if not outs:
        return []
    index = 0
    while index < len(call.effects):  # commands below may add effects: walk those too
        effect = call.effects[index]
        index += 1
        leg = effect.leg
        if leg is None:
            continue
        for out in outs:
            conn = out.connection
            if conn.state == ConnectionState.DISCONNECTED:
                continue
            if leg.id == conn.leg_id:
                _own(out, leg, effect.kind, operations, now)
            else:
                _other(out, call, leg, effect.kind, operations, now)
    events: list[DomainEvent] = []
    for out in outs:
        conn = out.connection
        if out.participants_changed and conn.state != ConnectionState.DISCONNECTED:
            conn.participants_seq += 1
            conn.dirty = True
            out.events.append(
                _callback(
                    conn,
                    "ParticipantsUpdated",
                    now,
                    data={
                        "sequenceNumber": conn.participants_seq,
                        "participants": participants(call, conn.leg_id),
                    },
                )
            )
        # The application hears it is gone last: nothing follows CallDisconnected.
        out.events.sort(key=lambda e: e.type.endswith(".CallDisconnected"))
        events += out.events
    return events


def _callback(
    conn: Connection,
    type_: str,
    now: float,
    *,
    context: str | None = None,
    uri: str | None = None,
    result_information: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
) -> DomainEvent:
    return callback_event(
        type_,
        connection_id=conn.id,
        call_id=conn.call_id,
        uri=uri or conn.callback_uri,
        now=now,
        context=context,
        result_information=result_information,
        data=data,
    )


def _own(out: _Out, leg: Leg, kind: EffectKind, operations: list[Operation], now: float) -> None:
    conn = out.connection
    if leg.state is LegState.CONNECTED and conn.state == ConnectionState.CONNECTING:
        conn.state, conn.dirty = ConnectionState.CONNECTED, True
        out.events.append(_callback(conn, "CallConnected", now, context=conn.operation_context))
        out.participants_changed = True
    elif kind is EffectKind.LEG_REMOVED:
        never_connected = conn.state == ConnectionState.CONNECTING
        for op in operations:
            if op.connection_id == conn.id and not op.done:
                op.done = True
                if op.kind == "add":
                    out.events.append(
                        _callback(
                            conn,
                            "AddParticipantFailed",
                            now,
                            context=op.operation_context,
                            uri=op.callback_uri,
                            result_information=result(487, 0, "The call ended."),
                            data={
                                "participant": {"identifier": identifier(op.target)},
                                "invitationId": op.id,
                            },
                        )
                    )
        if never_connected and conn.kind == "created":
            out.events.append(
                _callback(
                    conn,
                    "CreateCallFailed",
                    now,
                    context=conn.operation_context,
                    result_information=_failure(leg),
                )
            )
        conn.state, conn.ended_at, conn.dirty = ConnectionState.DISCONNECTED, now, True
        out.events.append(
            _callback(
                conn,
                "CallDisconnected",
                now,
                context=conn.operation_context,
                result_information=result(200, 5001),
            )
        )
    elif kind is EffectKind.LEG_UPDATED:
        out.participants_changed = out.participants_changed or conn.state == ConnectionState.CONNECTED


def _other(
    out: _Out, call: Call, leg: Leg, kind: EffectKind, operations: list[Operation], now: float
) -> None:
    conn = out.connection
    if leg.state in _JOINED or (kind is EffectKind.LEG_REMOVED and leg.connected_at is not None):
        out.participants_changed = True
    op = next(
        (o for o in operations if o.leg_id == leg.id and o.connection_id == conn.id and not o.done), None
    )
    if op is None:
        return
    answered = leg.state is LegState.CONNECTED
    gone = leg.state is LegState.DISCONNECTED
    if op.kind == "add" and (answered or gone):
        op.done = True
        who = {"participant": participant(leg), "invitationId": op.id}
        if answered:
            out.events.append(
                _callback(
                    conn,
                    "AddParticipantSucceeded",
                    now,
                    context=op.operation_context,
                    uri=op.callback_uri,
                    data=who,
                )
            )
        elif op.cancelled:
            out.events.append(
                _callback(
                    conn,
                    "CancelAddParticipantSucceeded",
                    now,
                    context=op.cancel_context,
                    uri=op.cancel_callback_uri,
                    data={"invitationId": op.id},
                )
            )
        else:
            out.events.append(
                _callback(
                    conn,
                    "AddParticipantFailed",
                    now,
                    context=op.operation_context,
                    uri=op.callback_uri,
                    result_information=_failure(leg),
                    data=who,
                )
            )
    elif op.kind == "transfer" and (answered or gone):
        op.done = True
        if answered:
            conn.state, conn.dirty = ConnectionState.TRANSFER_ACCEPTED, True
            data = {
                "transferTarget": identifier(op.target),
                "transferee": identifier(op.transferee) if op.transferee else None,
            }
            out.events.append(
                _callback(
                    conn,
                    "CallTransferAccepted",
                    now,
                    context=op.operation_context,
                    uri=op.callback_uri,
                    data=data,
                )
            )
            own = next((x for x in call.legs if x.id == conn.leg_id), None)
            if own is not None and own.state in _JOINED:
                call.hang_up(own.id, now=now)  # the application's part is done: it leaves
        else:
            conn.state, conn.dirty = ConnectionState.CONNECTED, True
            out.events.append(
                _callback(
                    conn,
                    "CallTransferFailed",
                    now,
                    context=op.operation_context,
                    uri=op.callback_uri,
                    result_information=_failure(leg),
                )
            )
    elif op.kind == "remove" and gone:
        op.done = True
        out.events.append(
            _callback(
                conn,
                "RemoveParticipantSucceeded",
                now,
                context=op.operation_context,
                uri=op.callback_uri,
                data={"participant": participant(leg)},
            )
        )
