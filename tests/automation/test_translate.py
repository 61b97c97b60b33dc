"""``translate.react`` on state-machine effects, without a store: which callbacks each change of
a call gives each connection, in which order, and what they change."""

from __future__ import annotations

from typing import Any

from telex.automation.translate import Connection, ConnectionState, Operation, react
from telex.calling import Call, Leg, LegState
from telex.calling.machine import Role

NOW = 1000.0


def leg(pid: str, user: str, state: LegState = LegState.CONNECTED) -> Leg:
    return Leg(pid, user, Role.MEMBER, state, NOW)


def conn(leg_id: str = "bot", state: str = ConnectionState.CONNECTED, kind: str = "answered") -> Connection:
    return Connection("c1", "call", leg_id, "8:acs:bot", kind, state, "https://cb", "ctx", {}, 0, NOW)


def direct_call() -> Call:
    caller = leg("caller", "8:acs:caller", LegState.CONNECTING)
    bot = leg("bot", "8:acs:bot", LegState.RINGING)
    return Call.start_direct("call", caller, [bot], video=False, now=NOW, ring_timeout=60, max_participants=6)


def types(events: list[Any]) -> list[str]:
    return [e.type.removeprefix("callAutomation.") for e in events]


def connected_call() -> Call:
    call = direct_call()
    call.accept("bot", now=NOW)
    call.effects.clear()
    return call


def test_answer_connects_then_lists_participants() -> None:
    call = direct_call()
    call.effects.clear()
    call.accept("bot", now=NOW)
    c = conn(state=ConnectionState.CONNECTING)
    events = react([c], [], call, NOW)
    assert types(events) == ["CallConnected", "ParticipantsUpdated"]
    assert events[0].data["event"]["operationContext"] == "ctx" and events[0].data["uri"] == "https://cb"
    updated = events[1].data["event"]
    assert updated["sequenceNumber"] == 1 and [p["identifier"]["rawId"] for p in updated["participants"]] == [
        "8:acs:caller"
    ]
    assert c.state == ConnectionState.CONNECTED and c.dirty


def test_a_transfer_answered_takes_the_application_out_last_event_disconnected() -> None:
    call = connected_call()
    target = leg("agent", "8:acs:agent", LegState.RINGING)
    call.invite(target, now=NOW, ring_timeout=60, max_participants=6)
    op = Operation("agent", "c1", "transfer", "agent", "8:acs:agent", "8:acs:caller", "xfer", "https://op")
    c = conn(state=ConnectionState.TRANSFERRING)
    assert react([c], [op], call, NOW) == []  # ringing: nothing to say yet
    call.effects.clear()
    call.accept("agent", now=NOW)
    events = react([c], [op], call, NOW)
    assert types(events) == ["CallTransferAccepted", "CallDisconnected"]
    assert (
        events[0].data["uri"] == "https://op"
        and events[0].data["event"]["transferee"]["rawId"] == "8:acs:caller"
    )
    assert op.done and c.state == ConnectionState.DISCONNECTED
    assert call.leg("bot").state is LegState.DISCONNECTED and call.state.value == "connected"


def test_a_declined_transfer_keeps_the_application() -> None:
    call = connected_call()
    call.invite(leg("agent", "8:acs:agent", LegState.RINGING), now=NOW, ring_timeout=60, max_participants=6)
    call.effects.clear()
    call.decline("agent", now=NOW)
    op = Operation("agent", "c1", "transfer", "agent", "8:acs:agent", None, "xfer", None)
    c = conn(state=ConnectionState.TRANSFERRING)
    events = react([c], [op], call, NOW)
    assert types(events) == ["CallTransferFailed"]
    assert events[0].data["event"]["resultInformation"]["code"] == 603
    assert c.state == ConnectionState.CONNECTED


def test_add_cancelled_and_missed() -> None:
    for cancel in (True, False):
        call = connected_call()
        call.invite(leg("g", "8:acs:g", LegState.RINGING), now=NOW, ring_timeout=5, max_participants=6)
        call.effects.clear()
        op = Operation(
            "g", "c1", "add", "g", "8:acs:g", None, "add", None, cancelled=cancel, cancel_context="c"
        )
        if cancel:
            call.cancel_invite("g", now=NOW)
        else:
            call.expire(NOW + 10)
        events = react([conn()], [op], call, NOW)
        expected = "CancelAddParticipantSucceeded" if cancel else "AddParticipantFailed"
        assert types(events) == [expected]
        if not cancel:
            assert events[0].data["event"]["resultInformation"]["code"] == 408


def test_a_created_call_nobody_answers() -> None:
    bot = leg("bot", "8:acs:bot", LegState.CONNECTING)
    callee = leg("x", "8:acs:x", LegState.RINGING)
    call = Call.start_direct("call", bot, [callee], video=False, now=NOW, ring_timeout=60, max_participants=6)
    call.effects.clear()
    call.decline("x", now=NOW)
    c = conn(state=ConnectionState.CONNECTING, kind="created")
    pending = Operation("y", "c1", "add", "y", "8:acs:y", None, "add", None)
    events = react([c], [pending], call, NOW)
    assert types(events) == ["AddParticipantFailed", "CreateCallFailed", "CallDisconnected"]
    assert events[1].data["event"]["resultInformation"]["code"] == 603


def test_mute_and_removal_update_the_list_once_per_unit() -> None:
    call = connected_call()
    call.invite(leg("g", "8:acs:g", LegState.RINGING), now=NOW, ring_timeout=60, max_participants=6)
    call.accept("g", now=NOW)
    call.effects.clear()
    call.set_media("g", muted=True, video=None, screen_sharing=None)
    call.remove("g", now=NOW)
    op = Operation("r1", "c1", "remove", "g", "8:acs:g", None, "bye", None)
    c = conn()
    events = react([c], [op], call, NOW)
    assert types(events) == ["RemoveParticipantSucceeded", "ParticipantsUpdated"]
    assert c.participants_seq == 1


def test_disconnected_connections_hear_nothing() -> None:
    call = connected_call()
    call.hang_up("caller", now=NOW)
    assert react([conn(state=ConnectionState.DISCONNECTED)], [], call, NOW) == []
