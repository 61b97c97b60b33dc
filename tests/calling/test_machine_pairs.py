"""Every (state, input) pair of the call state machine's two transition tables (h11's style:
the table, not examples): an allowed pair moves to the table's state and records the effect that
goes with it; any other pair is refused with 409 and changes nothing."""

from __future__ import annotations

import pytest

from telex.calling.machine import (
    CALL_TRANSITIONS,
    LEG_TRANSITIONS,
    Call,
    CallInput,
    CallKind,
    CallState,
    EffectKind,
    EndReason,
    Leg,
    LegInput,
    LegState,
    Role,
)
from telex.core.errors import ErrorCode, TelexError

NOW = 1_000.0


def _call_with(state: LegState) -> tuple[Call, Leg]:
    call = Call("c", CallKind.GROUP, CallState.CONNECTED, "8:acs:a", NOW, group_id="g")
    leg = Leg("l", "8:acs:a", Role.MEMBER, state, NOW)
    call.legs.append(leg)
    return call, leg


@pytest.mark.parametrize("state", list(LegState))
@pytest.mark.parametrize("given", list(LegInput))
def test_every_participant_state_and_input(state: LegState, given: LegInput) -> None:
    call, leg = _call_with(state)
    after = LEG_TRANSITIONS.get((state, given))
    if after is None:
        with pytest.raises(TelexError) as info:
            call._step(leg, given, NOW + 1, "")
        assert info.value.code is ErrorCode.CONFLICT
        assert (leg.state, leg.dirty, call.effects) == (state, False, [])
        return
    call._step(leg, given, NOW + 1, "", EndReason.ENDED_FOR_EVERYONE)
    assert leg.state is after and leg.dirty
    [effect] = call.effects
    if after is LegState.DISCONNECTED:
        assert effect.kind is EffectKind.LEG_REMOVED and leg.left_at == NOW + 1
        assert leg.end_reason is not None and leg.ring_deadline is None and leg.alive_until is None
    else:
        assert effect.kind is EffectKind.LEG_UPDATED and leg.end_reason is None


@pytest.mark.parametrize("state", list(CallState))
@pytest.mark.parametrize("given", list(CallInput))
def test_every_call_state_and_input(state: CallState, given: CallInput) -> None:
    call = Call("c", CallKind.DIRECT, state, "8:acs:a", NOW)
    after = CALL_TRANSITIONS.get((state, given))
    if after is None:
        with pytest.raises(TelexError) as info:
            call._call_step(given, NOW + 1)
        assert info.value.code is ErrorCode.CONFLICT
        assert (call.state, call.dirty, call.effects) == (state, False, [])
        return
    call._call_step(given, NOW + 1)
    assert call.state is after and call.dirty
    [effect] = call.effects
    if after is CallState.ENDED:
        assert effect.kind is EffectKind.CALL_ENDED and call.ended_at == NOW + 1
    else:
        assert effect.kind is EffectKind.CALL_STATE_CHANGED and call.ended_at is None
