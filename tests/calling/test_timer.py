"""The calling timers through the service and the store, on a FakeClock: an unanswered call is
``missed`` exactly when ``ring_timeout_seconds`` has passed, on both sides, with its events; a
participant whose client sends no keep-alive for ``keepalive_timeout_seconds`` is dropped."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from telex.app import Node
from telex.calling.machine import CallState, EndReason, LegState
from telex.core.clock import FakeClock
from telex.core.errors import ErrorCode, TelexError
from telex.identity.scopes import Scope
from telex.identity.tokens import Principal
from tests.conftest import make_settings
from tests.support.live import free_port


def principal(user: str) -> Principal:
    return Principal(user, frozenset({Scope.VOIP}), 0, 2**31, 0, "kid")  # type: ignore[arg-type]


async def test_unanswered_call_is_missed_at_the_configured_timeout(tmp_path: Path) -> None:
    clock = FakeClock()
    settings = make_settings(
        tmp_path, calling={"ring_timeout_seconds": 20}, turn={"port": free_port(socket.SOCK_DGRAM)}
    )
    node = await Node.open(settings, clock)
    try:
        service = node.calling
        a, b = "8:acs:r_a", "8:acs:r_b"
        joined = await service.start_call(principal(a), [b])
        call_id = joined.call.id
        async with service.store.read() as tx:
            assert await tx.next_deadline() == clock.now() + 20
        clock.advance(19.9)
        assert await service.expire_due() == 0
        clock.advance(0.1)
        head = await node.events.head()
        assert await service.expire_due() == 1
        assert await service.expire_due() == 0  # fired once
        call = await service.get_call(principal(b), call_id)
        assert (call.state, call.end_reason) == (CallState.ENDED, EndReason.MISSED)
        assert {(x.user_id, x.state, x.end_reason) for x in call.legs} == {
            (a, LegState.DISCONNECTED, EndReason.MISSED),
            (b, LegState.DISCONNECTED, EndReason.MISSED),
        }
        events = await node.events.read_after(head, 10)
        assert [e.type for e in events] == ["callParticipantRemoved", "callParticipantRemoved", "callEnded"]
        assert {e.actor for e in events} == {None}  # the server did it, not a user
        assert events[-1].data["durationSeconds"] == 0
        async with service.store.read() as tx:
            assert await tx.next_deadline() is None
    finally:
        await node.close()


async def test_an_answer_before_the_deadline_stops_the_timer(tmp_path: Path) -> None:
    clock = FakeClock()
    # Keep-alives off: this test is about ringing alone (the caller sends none for an hour).
    settings = make_settings(
        tmp_path, calling={"keepalive_timeout_seconds": 0}, turn={"port": free_port(socket.SOCK_DGRAM)}
    )
    node = await Node.open(settings, clock)
    try:
        service = node.calling
        a, b = "8:acs:r_a", "8:acs:r_b"
        joined = await service.start_call(principal(a), [b])
        b_leg = next(x.id for x in joined.call.legs if x.user_id == b)
        clock.advance(59)
        await service.accept(principal(b), joined.call.id, b_leg)
        clock.advance(3600)
        assert await service.expire_due() == 0
        call = await service.get_call(principal(a), joined.call.id)
        assert call.state is CallState.CONNECTED
    finally:
        await node.close()


async def _node(tmp_path: Path, clock: FakeClock, **calling: object) -> Node:
    settings = make_settings(tmp_path, calling=calling, turn={"port": free_port(socket.SOCK_DGRAM)})
    return await Node.open(settings, clock)


async def test_a_participant_without_keep_alives_is_dropped_as_connection_lost(tmp_path: Path) -> None:
    clock = FakeClock()
    node = await _node(tmp_path, clock, keepalive_timeout_seconds=45)
    try:
        service = node.calling
        a, b = principal("8:acs:r_a"), principal("8:acs:r_b")
        group = "2f1c0d3e-8a5b-4c6d-9e7f-0a1b2c3d4e5f"
        first = await service.join_group(a, group)
        second = await service.join_group(b, group)
        assert first.keep_alive_interval == second.keep_alive_interval == 15
        call_id = first.call.id
        clock.advance(30)
        await service.keep_alive(a, call_id, first.participant.id)  # a's client is still there
        clock.advance(14.9)
        assert await service.expire_due() == 0
        clock.advance(0.1)  # 45 s since b joined, and b never said a word
        head = await node.events.head()
        assert await service.expire_due() == 1
        call = await service.get_call(a, call_id)
        assert call.state is CallState.CONNECTED
        assert {x.user_id: (x.state, x.end_reason) for x in call.legs} == {
            a.user_id: (LegState.CONNECTED, None),
            b.user_id: (LegState.DISCONNECTED, EndReason.CONNECTION_LOST),
        }
        removed = await node.events.read_after(head, 10)
        assert [e.type for e in removed] == ["callParticipantRemoved"]
        assert removed[0].data["participant"]["callEndReason"] == "connectionLost"
        # A client that comes back too late learns it was dropped.
        with pytest.raises(TelexError) as refused:
            await service.keep_alive(b, call_id, second.participant.id)
        assert refused.value.code is ErrorCode.CONFLICT
        clock.advance(30.1)  # a's last keep-alive was 45 s ago: the last one out ends the call
        assert await service.expire_due() == 1
        ended = await service.get_call(a, call_id)
        assert (ended.state, ended.end_reason) == (CallState.ENDED, EndReason.HUNG_UP)
        assert ended.legs[0].end_reason is EndReason.CONNECTION_LOST
    finally:
        await node.close()


async def test_a_caller_vanishing_while_it_rings_cancels_the_call(tmp_path: Path) -> None:
    clock = FakeClock()
    node = await _node(tmp_path, clock, keepalive_timeout_seconds=10, ring_timeout_seconds=60)
    try:
        service = node.calling
        a, b = principal("8:acs:r_a"), principal("8:acs:r_b")
        joined = await service.start_call(a, [b.user_id])
        clock.advance(10)
        assert await service.expire_due() == 1
        call = await service.get_call(b, joined.call.id)
        assert (call.state, call.end_reason) == (CallState.ENDED, EndReason.CANCELLED)
        assert {x.user_id: x.end_reason for x in call.legs} == {
            a.user_id: EndReason.CONNECTION_LOST,
            b.user_id: EndReason.CANCELLED,
        }
    finally:
        await node.close()


async def test_keep_alives_can_be_turned_off(tmp_path: Path) -> None:
    clock = FakeClock()
    node = await _node(tmp_path, clock, keepalive_timeout_seconds=0)
    try:
        joined = await node.calling.join_group(principal("8:acs:r_a"), "2f1c0d3e-8a5b-4c6d-9e7f-0a1b2c3d4e5f")
        assert joined.keep_alive_interval is None and joined.participant.alive_until is None
        clock.advance(86400)
        assert await node.calling.expire_due() == 0
        async with node.calling.store.read() as tx:
            assert await tx.next_deadline() is None
    finally:
        await node.close()


async def test_a_restart_gives_participants_a_whole_timeout_to_reach_the_node_again(tmp_path: Path) -> None:
    """Keep-alives sent while the node was down reached no one: after a restart longer than the
    timeout, the participants whose clients are still there must not be dropped at once."""
    clock = FakeClock()
    group = "2f1c0d3e-8a5b-4c6d-9e7f-0a1b2c3d4e5f"
    a, b = principal("8:acs:r_a"), principal("8:acs:r_b")
    node = await _node(tmp_path, clock, keepalive_timeout_seconds=45)
    try:
        first = await node.calling.join_group(a, group)
        await node.calling.join_group(b, group)
    finally:
        await node.close()
    clock.advance(100)  # down for longer than the keep-alive timeout
    node = await _node(tmp_path, clock, keepalive_timeout_seconds=45)
    try:
        service = node.calling
        await service.defer_silence_after_start()  # what run_timers does first
        assert await service.expire_due() == 0
        clock.advance(10)
        await service.keep_alive(a, first.call.id, first.participant.id)  # a's client comes back
        clock.advance(34.9)
        assert await service.expire_due() == 0
        clock.advance(0.1)  # a whole timeout since the restart, and b never came back
        assert await service.expire_due() == 1
        call = await service.get_call(a, first.call.id)
        assert {x.user_id: (x.state, x.end_reason) for x in call.legs} == {
            a.user_id: (LegState.CONNECTED, None),
            b.user_id: (LegState.DISCONNECTED, EndReason.CONNECTION_LOST),
        }
    finally:
        await node.close()
