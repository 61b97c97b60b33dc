"""The call state machine on its own: transition tables, end reasons, the ringing timer driven
by a FakeClock, mesh limit — no store, no I/O."""

from __future__ import annotations

import itertools

import pytest

from telex.calling.machine import (
    CALL_TRANSITIONS,
    LEG_TRANSITIONS,
    Call,
    CallState,
    EffectKind,
    EndReason,
    Leg,
    LegInput,
    LegState,
    Role,
)
from telex.core.clock import FakeClock
from telex.core.errors import ErrorCode, TelexError

RING = 60.0
_ids = itertools.count()


def leg(user: str, clock: FakeClock) -> Leg:
    return Leg(f"leg-{next(_ids)}", user, Role.MEMBER, LegState.CONNECTED, clock.now())


def direct(clock: FakeClock, *callees: str, limit: int = 6, hunt: bool = False) -> Call:
    invitees = [leg(u, clock) for u in callees]
    return Call.start_direct(
        "call",
        leg("A", clock),
        invitees,
        video=True,
        now=clock.now(),
        ring_timeout=RING,
        max_participants=limit,
        first_answer_only=hunt,
    )


def states(call: Call) -> dict[str, tuple[LegState, EndReason | None]]:
    return {x.user_id: (x.state, x.end_reason) for x in call.legs}


def kinds(call: Call) -> list[EffectKind]:
    out = [e.kind for e in call.effects]
    call.effects.clear()
    return out


def test_tables_only_leave_disconnected_and_ended_by_no_input() -> None:
    assert not any(s is LegState.DISCONNECTED for s, _ in LEG_TRANSITIONS)
    assert not any(s is CallState.ENDED for s, _ in CALL_TRANSITIONS)
    # Every state but disconnected can be ended by the call ending around it.
    assert {s for s, i in LEG_TRANSITIONS if i is LegInput.CALL_OVER} == set(LegState) - {
        LegState.DISCONNECTED
    }


def test_one_to_one_rings_is_answered_and_hung_up() -> None:
    clock = FakeClock()
    call = direct(clock, "B")
    a, b = call.legs
    assert (call.state, a.state, b.state) == (CallState.RINGING, LegState.CONNECTING, LegState.RINGING)
    assert b.ring_deadline == clock.now() + RING
    assert kinds(call) == [EffectKind.CALL_STARTED, EffectKind.LEG_ADDED, EffectKind.LEG_ADDED]
    clock.advance(5)
    call.accept(b.id, now=clock.now())
    assert (call.state, a.state, b.state) == (CallState.CONNECTED, LegState.CONNECTED, LegState.CONNECTED)
    assert call.next_deadline() is None
    clock.advance(30)
    call.hang_up(b.id, now=clock.now())
    assert states(call) == {
        "A": (LegState.DISCONNECTED, EndReason.REMOTE_HUNG_UP),
        "B": (LegState.DISCONNECTED, EndReason.HUNG_UP),
    }
    assert (call.state, call.end_reason, call.duration) == (CallState.ENDED, EndReason.HUNG_UP, 30.0)


def test_decline_ends_a_one_to_one_call_declined_on_both_sides() -> None:
    clock = FakeClock()
    call = direct(clock, "B")
    call.decline(call.legs[1].id, now=clock.now())
    assert states(call) == {
        "A": (LegState.DISCONNECTED, EndReason.DECLINED),
        "B": (LegState.DISCONNECTED, EndReason.DECLINED),
    }
    assert (call.state, call.end_reason, call.duration) == (CallState.ENDED, EndReason.DECLINED, 0.0)


def test_ringing_times_out_as_missed_only_at_the_deadline() -> None:
    clock = FakeClock()
    call = direct(clock, "B")
    kinds(call)
    assert call.next_deadline() == clock.now() + RING
    clock.advance(RING - 0.001)
    assert not call.expire(clock.now())
    assert call.state is CallState.RINGING and kinds(call) == []
    clock.advance(0.001)
    assert call.expire(clock.now())
    assert states(call) == {
        "A": (LegState.DISCONNECTED, EndReason.MISSED),
        "B": (LegState.DISCONNECTED, EndReason.MISSED),
    }
    assert call.end_reason is EndReason.MISSED
    assert kinds(call) == [EffectKind.LEG_REMOVED, EffectKind.LEG_REMOVED, EffectKind.CALL_ENDED]
    assert call.next_deadline() is None


def test_caller_hanging_up_before_an_answer_cancels_for_everyone() -> None:
    clock = FakeClock()
    call = direct(clock, "B", "C")
    call.hang_up(call.legs[0].id, now=clock.now())
    assert {s for s in states(call).values()} == {(LegState.DISCONNECTED, EndReason.CANCELLED)}
    assert call.end_reason is EndReason.CANCELLED


def test_invitation_to_several_goes_on_while_one_still_rings() -> None:
    clock = FakeClock()
    call = direct(clock, "B", "C")
    _, b, c = call.legs
    call.decline(b.id, now=clock.now())
    assert call.state is CallState.RINGING
    call.accept(c.id, now=clock.now())
    assert call.state is CallState.CONNECTED
    assert states(call)["B"] == (LegState.DISCONNECTED, EndReason.DECLINED)


def test_a_direct_call_with_a_ringing_invitee_left_ends_cancelled_for_it() -> None:
    clock = FakeClock()
    call = direct(clock, "B", "C")
    a, b, _ = call.legs
    call.accept(b.id, now=clock.now())
    call.hang_up(a.id, now=clock.now())
    # B and a still-ringing C: two participants, the call goes on.
    assert call.state is CallState.CONNECTED
    call.hang_up(b.id, now=clock.now())
    assert states(call)["C"] == (LegState.DISCONNECTED, EndReason.CANCELLED)
    assert call.state is CallState.ENDED


def test_a_hunt_call_goes_to_the_first_to_answer_only() -> None:
    """A number routed to several users: the first answer ends the other invitations in the
    same step, so a second answer racing it is refused and never joins."""
    clock = FakeClock()
    call = direct(clock, "B", "C", "D", hunt=True)
    _, b, c, d = call.legs
    call.decline(d.id, now=clock.now())
    call.accept(b.id, now=clock.now())
    assert states(call)["C"] == (LegState.DISCONNECTED, EndReason.CANCELLED)
    assert states(call)["D"] == (LegState.DISCONNECTED, EndReason.DECLINED)
    with pytest.raises(TelexError) as refused:
        call.accept(c.id, now=clock.now())
    assert refused.value.code is ErrorCode.CONFLICT
    assert [x.user_id for x in call.legs if x.joined] == ["A", "B"]
    call.hang_up(b.id, now=clock.now())
    assert call.state is CallState.ENDED  # a direct call between the two who talked


def test_hold_resume_and_media_flags() -> None:
    clock = FakeClock()
    call = direct(clock, "B")
    a, b = call.legs
    call.accept(b.id, now=clock.now(), video=True)
    kinds(call)
    call.hold(b.id, now=clock.now())
    assert b.state is LegState.ON_HOLD
    with pytest.raises(TelexError) as exc:
        call.hold(b.id, now=clock.now())
    assert exc.value.code is ErrorCode.CONFLICT
    call.resume(b.id, now=clock.now())
    assert b.state is LegState.CONNECTED
    call.set_media(a.id, muted=True, video=None, screen_sharing=True)
    call.set_media(a.id, muted=True, video=None, screen_sharing=None)  # no change: no effect
    assert (a.muted, a.video, a.screen_sharing, b.video) == (True, False, True, True)
    assert kinds(call) == [EffectKind.LEG_UPDATED] * 3


def test_misuse_is_refused_with_stable_codes() -> None:
    clock = FakeClock()
    call = direct(clock, "B")
    a, b = call.legs
    for action in (
        lambda: call.accept(a.id, now=0),  # the caller is not ringing
        lambda: call.hang_up(b.id, now=0),  # a ringing participant declines
        lambda: call.set_media(b.id, muted=True, video=None, screen_sharing=None),
        lambda: call.join(leg("D", clock), now=0, max_participants=6),  # not a group call
    ):
        with pytest.raises(TelexError) as exc:
            action()
        assert exc.value.code is ErrorCode.CONFLICT
    with pytest.raises(TelexError) as exc:
        call.leg("nope")
    assert exc.value.code is ErrorCode.NOT_FOUND
    call.accept(b.id, now=0)
    with pytest.raises(TelexError) as exc:
        call.hang_up(b.id, now=0, for_everyone=True)
    assert exc.value.code is ErrorCode.FORBIDDEN


def test_group_call_mesh_limit_and_end_for_everyone() -> None:
    clock = FakeClock()
    call = Call.start_group("g", "group", leg("A", clock), video=False, now=clock.now())
    assert call.state is CallState.CONNECTED
    for user in "BCD":
        call.join(leg(user, clock), now=clock.now(), max_participants=4)
    with pytest.raises(TelexError) as exc:
        call.join(leg("E", clock), now=clock.now(), max_participants=4)
    assert exc.value.code is ErrorCode.CALL_FULL and exc.value.status == 409
    # Leaving frees a place; a group call goes on with one participant.
    call.hang_up(call.legs_of("B")[0].id, now=clock.now())
    call.join(leg("E", clock), now=clock.now(), max_participants=4)
    clock.advance(12)
    call.hang_up(call.legs_of("A")[0].id, now=clock.now(), for_everyone=True)
    assert call.state is CallState.ENDED and call.duration == 12
    assert {x.user_id: x.end_reason for x in call.legs if x.user_id != "B"} == {
        u: EndReason.ENDED_FOR_EVERYONE for u in "ACDE"
    }


def test_a_caller_who_left_cannot_end_the_call_for_everyone() -> None:
    clock = FakeClock()
    call = Call.start_group("g", "group", leg("A", clock), video=False, now=clock.now())
    call.join(leg("B", clock), now=clock.now(), max_participants=6)
    call.join(leg("C", clock), now=clock.now(), max_participants=6)
    first = call.legs[0].id
    call.hang_up(first, now=clock.now())
    with pytest.raises(TelexError) as exc:
        call.hang_up(first, now=clock.now(), for_everyone=True)
    assert exc.value.code is ErrorCode.CONFLICT and call.state is CallState.CONNECTED
    # Back on another device, the caller may.
    call.join(leg("A", clock), now=clock.now(), max_participants=6)
    call.hang_up(call.legs[-1].id, now=clock.now(), for_everyone=True)
    assert call.end_reason is EndReason.ENDED_FOR_EVERYONE


def test_group_call_ends_when_the_last_one_leaves() -> None:
    clock = FakeClock()
    call = Call.start_group("g", "group", leg("A", clock), video=False, now=clock.now())
    call.join(leg("B", clock), now=clock.now(), max_participants=6)
    call.hang_up(call.legs[0].id, now=clock.now())
    assert call.state is CallState.CONNECTED
    call.hang_up(call.legs[1].id, now=clock.now())
    assert (call.state, call.end_reason) == (CallState.ENDED, EndReason.HUNG_UP)


def test_direct_call_beyond_the_mesh_limit_is_refused() -> None:
    clock = FakeClock()
    with pytest.raises(TelexError) as exc:
        direct(clock, "B", "C", limit=2)
    assert exc.value.code is ErrorCode.CALL_FULL


def test_early_media_signals_only_between_a_ringing_phone_and_the_waiting_caller() -> None:
    clock = FakeClock()
    call = direct(clock, "4:+15551230000", "8:acs:b")
    caller, phone, user = call.legs
    assert call.require_signaling(phone.id, caller.id) == (phone, caller)  # the 183's offer
    assert call.require_signaling(caller.id, phone.id) == (caller, phone)  # and its answer
    for sender, target in ((user.id, caller.id), (phone.id, user.id)):  # a user rings: no media yet
        with pytest.raises(TelexError) as refused:
            call.require_signaling(sender, target)
        assert refused.value.code is ErrorCode.CONFLICT
    call.accept(user.id, now=clock.now())  # answered: only joined participants signal again
    with pytest.raises(TelexError):
        call.require_signaling(phone.id, caller.id)
