"""The calling store on SQLite and PostgreSQL: a group call's rows and events round-trip, one
live call per group, audiences of call and addressed streams, the ringing-deadline index."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

from telex.app import Node
from telex.calling.machine import CallState, EndReason, LegState
from telex.identity.scopes import Scope
from telex.identity.tokens import Principal
from tests.conftest import make_settings
from tests.support.live import free_port


def principal(user: str, *scopes: Scope) -> Principal:
    return Principal(user, frozenset(scopes or {Scope.VOIP}), 0, 2**31, 0, "kid")  # type: ignore[arg-type]


async def test_group_calls_round_trip_on_each_backend(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database=database_url, turn={"port": free_port(socket.SOCK_DGRAM)})
    node = await Node.open(settings)
    try:
        service = node.calling
        group = str(uuid.uuid4())
        a, b, c = (principal(f"8:acs:r_{x}") for x in "abc")
        first = await service.join_group(a, group, display_name="Ann", video=True)
        second = await service.join_group(b, group.upper(), video=True)  # the same group, any case
        assert second.call.id == first.call.id and [x.id for x in second.peers] == [first.participant.id]
        call = await service.get_call(a, first.call.id)
        assert [(x.user_id, x.state, x.display_name, x.video) for x in call.legs] == [
            (a.user_id, LegState.CONNECTED, "Ann", True),  # the first one's camera too
            (b.user_id, LegState.CONNECTED, None, True),
        ]
        await service.set_media(b, call.id, second.participant.id, muted=True)
        await service.hang_up(a, call.id, first.participant.id)
        await service.hang_up(b, call.id, second.participant.id)
        ended = await service.get_call(b, call.id)
        assert (ended.state, ended.end_reason) == (CallState.ENDED, EndReason.HUNG_UP)
        assert ended.legs[1].muted and ended.legs[1].left_at is not None
        # The group's next call is a new one.
        third = await service.join_group(c, group)
        assert third.call.id != call.id and third.peers == []

        audiences = await node.events.audiences(
            [f"call:{call.id}", f"call:{call.id}/{second.participant.id}"]
        )
        assert [m.user for m in audiences[f"call:{call.id}"]] == [a.user_id, b.user_id]
        assert [m.user for m in audiences[f"call:{call.id}/{second.participant.id}"]] == [b.user_id]
        for member in audiences[f"call:{call.id}"]:
            assert member.left is not None and member.joined < member.left

        assert ended.legs[1].alive_until is None  # nobody watches a participant that left
        stored = (await service.get_call(c, third.call.id)).legs[0]
        assert stored.alive_until == third.participant.alive_until == third.call.created_at + 90

        direct = await service.start_call(a, [b.user_id])
        async with service.store.read() as tx:
            # The earliest of the keep-alive deadlines (c's, then a's as caller) and b's ringing.
            deadline = await tx.next_deadline()
        assert deadline == min(third.call.created_at + 90, direct.call.created_at + 60)
        events = [e for e in await node.events.read_after(0, 1000) if e.topic.startswith("call:")]
        assert [e.type for e in events].count("callEnded") == 1
    finally:
        await node.close()
