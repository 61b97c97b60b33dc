"""The ringing timer through the service and the store, on a FakeClock: an unanswered call is
``missed`` exactly when ``ring_timeout_seconds`` has passed, on both sides, with its events."""

from __future__ import annotations

import socket
from pathlib import Path

from telex.app import Node
from telex.calling.machine import CallState, EndReason, LegState
from telex.core.clock import FakeClock
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
        assert events[-1].payload["durationSeconds"] == 0
        async with service.store.read() as tx:
            assert await tx.next_deadline() is None
    finally:
        await node.close()


async def test_an_answer_before_the_deadline_stops_the_timer(tmp_path: Path) -> None:
    clock = FakeClock()
    settings = make_settings(tmp_path, turn={"port": free_port(socket.SOCK_DGRAM)})
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
