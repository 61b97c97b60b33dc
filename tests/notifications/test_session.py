"""The notification session, sans I/O, on a FakeClock: every (state, input) pair of its transition
table, the resume rule (each frame with durable events names the position of its last one), the
keep-alive, and framing that never raises into the shell (malformed, oversized, out-of-order)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telex.chat import events as ev
from telex.chat.models import Message, MessageType
from telex.core.clock import FakeClock
from telex.core.ids import UserId
from telex.events.model import DomainEvent
from telex.identity import Principal, Scope
from telex.notifications import framing as f
from telex.notifications.gateway import connection_of
from telex.notifications.session import (
    TRANSITIONS,
    CheckTicket,
    CloseConnection,
    Input,
    NotificationSession,
    ReadReplay,
    SessionMisuse,
    State,
)

ME = UserId("8:acs:00000000-0000-0000-0000-000000000001_00000000-0000-0000-0000-000000000001")
OTHER = UserId("8:acs:00000000-0000-0000-0000-000000000001_00000000-0000-0000-0000-000000000002")
PRINCIPAL = Principal(ME, frozenset({Scope.CHAT}), 0, 10**10, 0, "k")
CONN = connection_of("https://h:1", "cc", 60)


def session(clock: FakeClock, cursor: int | None = 5, limit: int = 64) -> NotificationSession:
    return NotificationSession(
        clock.monotonic(), CONN, cursor, heartbeat=25, client_timeout=100, max_frame_bytes=4096,
        queue_limit=limit, permits=lambda e, s: True,
    )  # fmt: skip


def message(position: int, text: str = "hi") -> DomainEvent:
    m = Message(str(position), MessageType.TEXT, position, str(position), 1.0, OTHER, "O", text)
    event = ev.message_received("19:t@thread.v2", m, OTHER, 1.0)
    event.position = position
    return event


def frames(s: NotificationSession, now: float = 0.0) -> list[str]:
    out = []
    while (frame := s.pop_frame(now)) is not None:
        out.append(frame)
    return out


def packets(frame: str) -> list[f.Packet]:
    return f.decode_frame(frame)


def live(clock: FakeClock, cursor: int = 5, head: int = 5) -> NotificationSession:
    s = session(clock, cursor)
    assert s.effects() == [CheckTicket()]
    s.verified(PRINCIPAL, head, head, clock.monotonic())
    assert s.state is State.LIVE
    frames(s)
    return s


# --- every (state, input) pair --------------------------------------------------------------------
def _in(state: State, clock: FakeClock) -> NotificationSession:
    s = session(clock)
    if state is State.VERIFYING:
        return s
    if state is State.REPLAYING:
        s.verified(PRINCIPAL, 9, 9, 0.0)
        assert s.state is State.REPLAYING
    elif state is State.LIVE:
        s.verified(PRINCIPAL, 5, 5, 0.0)
    else:
        s.rejected("unauthorized")
    s.effects()
    frames(s)
    return s


def _feed(s: NotificationSession, event: Input) -> None:
    client = {
        Input.HEARTBEAT: "2::", Input.CLIENT_EVENT: '5:1+::{"name":"ping"}', Input.RESPONSE: '3:::{"id":1}',
        Input.QUIET: "8::", Input.DISCONNECT: "0::", Input.BAD_FRAME: "not a packet",
    }  # fmt: skip
    if event in client:
        s.receive(client[event], 1.0)
    elif event is Input.VERIFIED:
        s.verified(PRINCIPAL, 5, 5, 1.0)
    elif event is Input.REJECTED:
        s.rejected("unauthorized")
    elif event is Input.REPLAY_PAGE:
        s.replayed([], 5, True)
    elif event is Input.EVENT:
        s.offer(message(6))
    elif event is Input.TIMER:
        s.handle_timer(1.0)
    elif event is Input.REVOKED:
        s.revoked()
    else:
        s.peer_gone()


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("event", list(Input))
def test_every_state_input_pair(state: State, event: Input) -> None:
    clock = FakeClock(0.0)
    s = _in(state, clock)
    expected = TRANSITIONS.get((state, event))
    client = event in (Input.HEARTBEAT, Input.CLIENT_EVENT, Input.RESPONSE, Input.QUIET, Input.DISCONNECT)
    if expected is None and not client and event is not Input.BAD_FRAME:
        with pytest.raises(SessionMisuse):
            _feed(s, event)
        return
    _feed(s, event)
    if expected is None or event is Input.BAD_FRAME:
        assert s.state is State.CLOSED  # a client that breaks the protocol is disconnected
        assert s.close is not None and s.close.frame.startswith("0::")
    elif expected is State.REPLAYING and event in (Input.VERIFIED, Input.REPLAY_PAGE):
        assert s.state in (State.REPLAYING, State.LIVE)  # LIVE when nothing is owed
    else:
        assert s.state is expected


# --- the protocol --------------------------------------------------------------------------------
def test_ready_sends_connect_then_trouter_connected_with_the_cursor() -> None:
    clock = FakeClock(0.0)
    s = session(clock, cursor=5)
    s.verified(PRINCIPAL, 5, 5, 0.0)
    (frame,) = frames(s)
    connect, connected = packets(frame)
    assert connect.type is f.PacketType.CONNECT
    name, args = connected.event()
    assert name == "trouter.connected" and args[0]["connectparams"] == {"cur": "5"}
    assert args[0]["socketio"] == "https://h:1/" and args[0]["reconnectUrl"] == "https://h:1/v4/a"


def test_each_frame_names_the_position_of_its_last_event() -> None:
    s = live(FakeClock(0.0))
    for p in (6, 7, 8):
        assert s.offer(message(p, f"m{p}"))
    (frame,) = frames(s)
    *requests, update = packets(frame)
    bodies = [json.loads(json.loads(r.data)["body"]) for r in requests]
    assert [b["messageBody"] for b in bodies] == ["m6", "m7", "m8"]
    assert all(b["eventId"] == 200 and b["recipientMri"] == ME for b in bodies)
    assert update.event()[1][0]["connectparams"] == {"cur": "8"}


def test_typing_moves_no_position_and_duplicates_never_go_out() -> None:
    s = live(FakeClock(0.0))
    typing = ev.typing("19:t@thread.v2", OTHER, "O", 1.0)
    s.offer(typing)
    (frame,) = frames(s)
    assert packets(frame)[0].type is f.PacketType.MESSAGE and len(packets(frame)) == 1
    s.offer(message(6))
    s.offer(message(6))  # the hub and a replay may both hand it over
    s.offer(message(4))  # at or below the cursor: the client has it
    (frame,) = frames(s)
    assert len(packets(frame)) == 2


def test_replay_then_held_live_events_in_order_without_duplicates() -> None:
    s = session(FakeClock(0.0), cursor=2)
    s.effects()
    s.verified(PRINCIPAL, 4, 4, 0.0)
    assert s.effects() == [ReadReplay(2)]
    s.offer(message(4))
    s.offer(message(5))  # live while replaying: held
    s.replayed([message(3), message(4)], 4, True)
    assert s.state is State.LIVE
    texts = [json.loads(json.loads(p.data)["body"])["eventId"] for fr in frames(s) for p in packets(fr)
             if p.type is f.PacketType.MESSAGE]  # fmt: skip
    assert len(texts) == 3


def test_events_of_other_capabilities_and_to_the_actor_are_skipped() -> None:
    s = live(FakeClock(0.0))
    call = DomainEvent("callStarted", "call:1", {}, 1.0, OTHER, position=6)
    s.offer(call)
    mine = ev.typing("19:t@thread.v2", ME, "me", 1.0)  # typing never reaches its typist
    s.offer(mine)
    assert frames(s) == []


def test_acks_pings_and_heartbeats_and_drops_a_silent_client() -> None:
    clock = FakeClock(0.0)
    s = live(clock)
    s.receive('5:3+::{"name":"ping","args":[]}', 1.0)
    assert frames(s, 1.0) == ["6:::3+[]"]
    s.handle_timer(26.0)
    assert frames(s, 26.0) == ["2::"]
    s.receive("2::", 30.0)
    s.handle_timer(129.0)
    assert s.state is State.LIVE
    s.handle_timer(131.0)
    assert s.close is not None and s.close.reason == "timeout"


def test_slow_consumer_is_closed_and_resumes() -> None:
    s = session(FakeClock(0.0), limit=8)
    s.verified(PRINCIPAL, 5, 5, 0.0)
    for p in range(6, 20):
        if not s.offer(message(p)):
            break
    assert s.close is not None and s.close.reason == "slow"


def test_revocation_disconnects_with_unauthorized() -> None:
    s = live(FakeClock(0.0))
    s.revoked()
    assert s.effects()[-1] == CloseConnection(1008, "unauthorized", '0:::{"reason":"unauthorized"}')


def test_a_cursor_ahead_of_the_log_is_refused() -> None:
    s = session(FakeClock(0.0), cursor=50)
    s.verified(PRINCIPAL, 10, 10, 0.0)
    assert s.close is not None and s.close.reason == "cursor"


# --- fuzz: no input makes the session raise -------------------------------------------------------
FRAMES = st.one_of(
    st.text(max_size=200),
    st.sampled_from(["2::", "0::", "1::", "8::", '5:1+::{"name":"ping"}', '3:::{"id":1}', "6:::1+[]"]),
    st.builds(lambda n, body: f"{n}:{body}", st.integers(0, 12), st.text(max_size=60)),
    st.lists(st.text(max_size=30), max_size=4).map(
        lambda ps: "".join(f"\ufffd{len(p)}\ufffd{p}" for p in ps)
    ),
    st.just("x" * 5000),  # over the frame limit
    st.none(),  # a binary frame
)


@settings(max_examples=400, deadline=None, database=None)
@given(st.lists(FRAMES, max_size=8), st.booleans(), st.integers(0, 3))
def test_framing_never_raises_in_any_state(texts: list[Any], ready: bool, events: int) -> None:
    clock = FakeClock(0.0)
    s = session(clock)
    if ready:
        s.verified(PRINCIPAL, 5, 5, 0.0)
    for i in range(events):
        s.offer(message(6 + i))
    for text in texts:
        s.receive(text, 1.0)
        frames(s)
    if s.state is not State.CLOSED:
        s.handle_timer(2.0)


def test_payload_lengths_count_utf16_units() -> None:
    text = "a😀b"
    payload = f.encode_payload([f"3:::{text}", "2::"])
    assert payload.startswith("\ufffd8\ufffd")  # 4 + 4 UTF-16 units
    assert [p.data for p in f.decode_frame(payload)] == [text, ""]


def test_a_slow_consumer_is_closed_by_bytes_before_items() -> None:
    """Bounded in bytes too, not only in packets: 4 KiB messages fill a 16 KiB budget in a few
    packets, far below the 1,024 packets of the item limit."""
    s = NotificationSession(
        0.0, CONN, 5, heartbeat=25, client_timeout=100, max_frame_bytes=4096,
        queue_limit=1024, permits=lambda e, s: True, queue_bytes=16 * 1024,
    )  # fmt: skip
    s.verified(PRINCIPAL, 5, 5, 0.0)
    frames(s)
    offered = 0
    for p in range(6, 100):
        offered += 1
        if not s.offer(message(p, "x" * 4096)):
            break
    assert s.close is not None and s.close.reason == "slow"
    assert offered <= 5
