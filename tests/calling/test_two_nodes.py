"""Calls across two ``telex serve`` nodes on one PostgreSQL and one Redis, each with its own TURN
server: participants on different nodes hear each other, see each other's state, keep each
other's call alive with keep-alives that land on either node, and a 1:1 call placed through one
node rings, and is declined, through the other."""

from __future__ import annotations

import asyncio
import base64
import uuid
from pathlib import Path

import pytest

from telex.client.calling import CallClient
from tests.calling.conftest import user_maker
from tests.calling.test_e2e import hears, tone
from tests.support.live import LiveServer
from tests.support.pg import PostgresCluster

pytestmark = pytest.mark.e2e


async def test_a_call_spans_two_nodes(tmp_path: Path, pg_cluster: PostgresCluster, redis_url: str) -> None:
    database = pg_cluster.create_database()
    env = {
        "TELEX_TURN__ALLOW_LOOPBACK_PEERS": "true",
        "TELEX_TURN__TCP": "false",
        # Events cross nodes through Redis only: the hubs' fallback poll is slower than the test.
        "TELEX_REALTIME__POLL_SECONDS": "60",
        # Shorter than the call below, so keep-alives must count whichever node they reach.
        "TELEX_CALLING__KEEPALIVE_TIMEOUT_SECONDS": "3",
        "TELEX_CALLING__TIMER_POLL_SECONDS": "0.2",
    }
    args = ["--bus", redis_url]
    with (
        LiveServer(tmp_path / "a", database=database, env=env, extra_args=args) as node_a,
        LiveServer(tmp_path / "b", database=database, env=env, extra_args=args) as node_b,
    ):
        make = user_maker(node_a.http_url, base64.b64decode(node_a.access_key))
        a, b = await make("voip"), await make("voip")
        group = str(uuid.uuid4())
        async with (
            CallClient(node_a.http_url, a.token, display_name="on A") as ca,
            CallClient(node_b.http_url, b.token, display_name="on B") as cb,
        ):
            call_a = await ca.join(group, audio=tone(440))
            call_b = await cb.join(group, audio=tone(660))
            assert call_a.id == call_b.id
            async with asyncio.timeout(30):
                await hears(call_a, call_b.participant_id)
                await hears(call_b, call_a.participant_id)
            await call_b.mute()
            async with asyncio.timeout(10):
                await call_a.wait_for(
                    lambda c: (
                        call_b.participant_id in c.participants
                        and c.participants[call_b.participant_id].is_muted
                    )
                )
            await asyncio.sleep(4)  # past the keep-alive timeout, with both nodes' timers running
            assert call_a.participants[call_b.participant_id].state == "connected"
            assert call_b.participants[call_a.participant_id].state == "connected"
            await call_a.hang_up(for_everyone=True)
            async with asyncio.timeout(10):
                assert await call_b.wait_ended() == "endedForEveryone"

            ringing = await ca.start_call([b.id])
            async with asyncio.timeout(10):
                incoming = await cb.incoming_call()
            assert incoming.id == ringing.id and incoming.caller_id == a.id
            await incoming.decline()
            async with asyncio.timeout(10):
                assert await ringing.wait_ended() == "declined"
