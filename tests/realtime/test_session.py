"""``RealtimeSession`` on its own, on a FakeClock: every (state, input) pair of its transition
table, then the behaviours the shell relies on (auth deadline, heartbeats, replay then live
exactly once, held frames, slow consumers, token refresh, scopes, ephemeral cursors)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from telex.core.clock import FakeClock
from telex.core.ids import UserId
from telex.events.audience import TopicScopes
from telex.events.model import DomainEvent
from telex.identity.scopes import Scope
from telex.identity.tokens import Principal
from telex.realtime.protocol import Close
from telex.realtime.session import (
    TRANSITIONS,
    CloseConnection,
    Input,
    ReadReplay,
    RealtimeSession,
    SessionMisuse,
    State,
    VerifyToken,
)

ANN = UserId("8:acs:ann")
BOB = UserId("8:acs:bob")
TOPICS = TopicScopes(frozenset({Scope.CHAT, Scope.CHAT_JOIN}), {"call:": frozenset({Scope.VOIP})})


def principal(user: UserId = ANN, *scopes: Scope) -> Principal:
    return Principal(user, frozenset(scopes or (Scope.CHAT,)), 0, 2**40, 0, "k")


def session(clock: FakeClock, limit: int = 8) -> RealtimeSession:
    return RealtimeSession(
        clock.monotonic(),
        auth_timeout=5.0,
        heartbeat=15.0,
        max_frame_bytes=4096,
        queue_limit=limit,
        permits=lambda event, scopes: TOPICS.permits(event.topic, scopes),
    )


def event(position: int, topic: str = "19:t", type_: str = "chatMessageReceived") -> DomainEvent:
    return DomainEvent(type_, topic, {"n": position}, 0.0, str(BOB), position=position)


def drain(s: RealtimeSession, clock: FakeClock) -> list[dict[str, Any]]:
    out = []
    while (frame := s.pop_frame(clock.monotonic())) is not None:
        out.append(json.loads(frame))
    return out


def in_state(state: State, clock: FakeClock) -> RealtimeSession:
    s = session(clock)
    if state is State.AWAITING_AUTH:
        return s
    s.receive('{"type":"auth","token":"t"}', clock.monotonic())
    if state is State.VERIFYING:
        return s
    s.verified(principal(), 100, 50, 10 if state is State.REPLAYING else None, clock.monotonic())
    if state is State.CLOSED:
        s.peer_gone()
    s.effects()
    drain(s, clock)
    return s


INPUTS: dict[Input, Callable[[RealtimeSession, FakeClock], object]] = {
    Input.AUTH_FRAME: lambda s, c: s.receive('{"type":"auth","token":"t2"}', c.monotonic()),
    Input.PING_FRAME: lambda s, c: s.receive('{"type":"ping"}', c.monotonic()),
    Input.BAD_FRAME: lambda s, c: s.receive("not json", c.monotonic()),
    Input.VERIFIED: lambda s, c: s.verified(principal(), 100, 50, None, c.monotonic()),
    Input.REFRESHED: lambda s, c: s.refreshed(principal()),
    Input.REJECTED: lambda s, c: s.rejected(Close.UNAUTHORIZED, "no"),
    Input.REPLAY_PAGE: lambda s, c: s.replayed([event(11)], 11, True),
    Input.EVENT: lambda s, c: s.offer(event(60)),
    Input.TIMER: lambda s, c: s.handle_timer(c.monotonic()),
    Input.REVOKED: lambda s, c: s.revoked(),
    Input.PEER_GONE: lambda s, c: s.peer_gone(),
}
# Where the concrete inputs above lead when the table names the usual state: no cursor makes a
# verified session LIVE at once, the last replay page makes it LIVE, and these inputs close.
_CONCRETE = {
    (State.VERIFYING, Input.VERIFIED): State.LIVE,
    (State.REPLAYING, Input.REPLAY_PAGE): State.LIVE,
}
_CLIENT = {Input.AUTH_FRAME, Input.PING_FRAME, Input.BAD_FRAME}


def test_the_table_names_an_input_for_every_state_or_leaves_it_to_the_rules() -> None:
    assert {s for s, _ in TRANSITIONS} == set(State)
    assert all(TRANSITIONS[(State.CLOSED, i)] is State.CLOSED for i in Input)


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("given", list(Input))
def test_every_state_and_input(state: State, given: Input) -> None:
    clock = FakeClock()
    s = in_state(state, clock)
    assert s.state is state
    expected = TRANSITIONS.get((state, given))
    if expected is None and given not in _CLIENT:
        with pytest.raises(SessionMisuse):
            INPUTS[given](s, clock)
        return
    INPUTS[given](s, clock)
    if expected is None:  # a client broke the protocol
        assert s.state is State.CLOSED and s.close == CloseConnection(Close.BAD_REQUEST, s.close.reason)
        return
    assert s.state is _CONCRETE.get((state, given), expected)
    if s.state is State.CLOSED and state is not State.CLOSED and given is not Input.PEER_GONE:
        assert s.close is not None and s.close in s.effects()


def test_the_auth_deadline_runs_on_the_clock() -> None:
    clock = FakeClock()
    s = session(clock)
    assert s.next_timer() == clock.monotonic() + 5.0
    clock.advance(4.9)
    s.handle_timer(clock.monotonic())
    assert s.state is State.AWAITING_AUTH
    clock.advance(0.1)
    s.handle_timer(clock.monotonic())
    assert s.close == CloseConnection(Close.AUTH_TIMEOUT, "no auth frame")
    assert s.next_timer() is None


def test_verifying_then_ready_then_live_with_frames_held_meanwhile() -> None:
    clock = FakeClock()
    s = session(clock)
    s.receive('{"type":"auth","token":"t","cursor":null}', clock.monotonic())
    assert s.effects() == [VerifyToken("t", first=True, cursor=None)]
    s.receive('{"type":"ping"}', clock.monotonic())  # held: nothing may precede "ready"
    assert drain(s, clock) == []
    s.verified(principal(), 0, 41, None, clock.monotonic())
    frames = drain(s, clock)
    assert [f["type"] for f in frames] == ["ready", "pong"]
    assert frames[0] == {"type": "ready", "userId": ANN, "cursor": "41", "heartbeatSeconds": 15.0}
    assert s.state is State.LIVE


def test_replay_then_live_is_exactly_once_in_order() -> None:
    clock = FakeClock()
    s = in_state(State.VERIFYING, clock)
    s.effects()
    s.verified(principal(), 100, 13, 10, clock.monotonic())
    assert s.effects() == [ReadReplay(10)]
    assert s.offer(event(12)) and s.offer(event(14))  # live while replaying: held
    s.replayed([event(11), event(12)], 12, False)
    assert s.effects() == [ReadReplay(12)]
    s.replayed([event(13)], 13, True)
    cursors = [f["cursor"] for f in drain(s, clock) if f["type"] == "event"]
    assert cursors == ["11", "12", "13", "14"] and s.state is State.LIVE
    s.offer(event(14))  # a duplicate never goes out again
    s.offer(event(15))
    assert [f["cursor"] for f in drain(s, clock)] == ["15"]


def test_a_cursor_ahead_of_the_log_is_refused() -> None:
    clock = FakeClock()
    s = in_state(State.VERIFYING, clock)
    s.verified(principal(), 5, 5, 6, clock.monotonic())
    assert s.close == CloseConnection(Close.BAD_REQUEST, "cursor is ahead of the log")


def test_heartbeats_come_after_silence_only() -> None:
    clock = FakeClock()
    s = in_state(State.LIVE, clock)
    clock.advance(10)
    s.offer(event(51))
    drain(s, clock)  # traffic at t+10 moves the heartbeat to t+25
    clock.advance(10)
    s.handle_timer(clock.monotonic())
    assert drain(s, clock) == []
    assert s.next_timer() == clock.monotonic() + 5
    clock.advance(5)
    s.handle_timer(clock.monotonic())
    assert drain(s, clock) == [{"type": "heartbeat", "cursor": "51"}]


def test_a_full_outbox_closes_the_slow_consumer() -> None:
    clock = FakeClock()
    s = session(clock, limit=3)
    s.receive('{"type":"auth","token":"t"}', clock.monotonic())
    s.verified(principal(), 0, 0, None, clock.monotonic())
    s.effects()
    assert s.offer(event(1)) and s.offer(event(2))  # with "ready": 3 frames unsent
    assert not s.offer(event(3))
    assert s.close == CloseConnection(Close.SLOW_CONSUMER, "slow consumer: reconnect with your last cursor")
    assert s.pending_frames == 0 and not s.offer(event(4))


def test_a_refresh_must_keep_the_user() -> None:
    clock = FakeClock()
    s = in_state(State.LIVE, clock)
    s.receive('{"type":"auth","token":"fresh"}', clock.monotonic())
    assert s.effects() == [VerifyToken("fresh", first=False, cursor=None)]
    s.refreshed(principal(ANN, Scope.CHAT_JOIN))
    assert s.state is State.LIVE and s.principal is not None and Scope.CHAT_JOIN in s.principal.scopes
    s.refreshed(principal(BOB))
    assert s.close is not None and s.close.code == Close.UNAUTHORIZED


def test_scopes_decide_which_topics_reach_the_socket() -> None:
    clock = FakeClock()
    s = session(clock)
    s.receive('{"type":"auth","token":"t"}', clock.monotonic())
    s.verified(principal(ANN, Scope.VOIP), 0, 0, None, clock.monotonic())
    drain(s, clock)
    s.offer(event(1, "19:t"))
    s.offer(event(2, "call:c", "callStarted"))
    frames = drain(s, clock)
    assert [f["event"] for f in frames] == ["callStarted"]
    clock.advance(15)
    s.handle_timer(clock.monotonic())
    assert drain(s, clock) == [{"type": "heartbeat", "cursor": "2"}]  # a skipped event still counts


def test_ephemeral_events_carry_the_last_cursor_and_skip_their_actor() -> None:
    clock = FakeClock()
    s = in_state(State.LIVE, clock)
    s.offer(event(52))
    typing = DomainEvent("typingIndicatorReceived", "19:t", {}, 0.0, str(BOB), durable=False, to_actor=False)
    s.offer(typing)
    frames = drain(s, clock)
    assert [(f["event"], f["cursor"]) for f in frames] == [
        ("chatMessageReceived", "52"),
        ("typingIndicatorReceived", "52"),
    ]
    own = DomainEvent("typingIndicatorReceived", "19:t", {}, 0.0, str(ANN), durable=False, to_actor=False)
    s.offer(own)
    assert drain(s, clock) == []


def test_protocol_errors_name_their_close_code() -> None:
    clock = FakeClock()
    s = in_state(State.LIVE, clock)
    s.receive("x" * 5000, clock.monotonic())
    assert s.close is not None and s.close.code == Close.TOO_BIG
    t = session(clock)
    t.receive('{"type":"ping"}', clock.monotonic())
    assert t.close == CloseConnection(Close.BAD_REQUEST, "the first frame must be auth")
