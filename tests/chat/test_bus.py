"""The bus contract on both implementations, and two ``telex serve`` nodes on one PostgreSQL
and one Redis: a message sent through node A reaches a realtime client on node B."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from azure.communication.identity import CommunicationIdentityClient
from azure.core.credentials import AzureKeyCredential

from telex.bus import Bus, LocalBus, open_bus
from telex.bus.redis import RedisBus
from telex.client import ChatClient, RealtimeClient
from tests.support.apiversions import async_hooks
from tests.support.live import LiveServer, free_port
from tests.support.pg import PostgresCluster


@pytest.fixture(params=["local", "redis"])
async def make_bus(request: pytest.FixtureRequest) -> AsyncIterator[Callable[[], Bus]]:
    opened: list[Bus] = []
    url = request.getfixturevalue("redis_url") if request.param == "redis" else ""

    def make() -> Bus:
        bus = open_bus(url)
        opened.append(bus)
        return bus

    yield make
    for bus in opened:
        await bus.close()


async def _until(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_sending_never_blocks_nor_raises(make_bus: Callable[[], Bus]) -> None:
    bus = make_bus()
    bus.announce(1)  # before start: kept (Redis) or nothing to do (one node)
    bus.broadcast({"type": "typing"})
    await bus.start()
    bus.announce(7)
    bus.broadcast({"type": "typing"})


async def test_redis_carries_positions_and_ephemeral_events_to_other_nodes_only(redis_url: str) -> None:
    a, b = RedisBus(redis_url), RedisBus(redis_url)
    got_a: list[object] = []
    got_b: list[object] = []
    a.subscribe(got_a.append, got_a.append)
    b.subscribe(got_b.append, got_b.append)
    try:
        await a.start()
        await b.start()
        # the subscription is live once an announced position arrives; announce until one does
        async with asyncio.timeout(5):
            position = 0
            while not got_b:
                position += 1
                a.announce(position)
                await asyncio.sleep(0.02)
        a.announce(42)
        a.broadcast({"type": "typingIndicatorReceived", "topic": "19:x"})
        await _until(lambda: 42 in got_b and {"type": "typingIndicatorReceived", "topic": "19:x"} in got_b)
        assert got_a == []  # a node never hears itself: its own hub has it already
    finally:
        await a.close()
        await b.close()


async def test_a_dead_redis_costs_latency_not_errors() -> None:
    bus = RedisBus(f"redis://127.0.0.1:{free_port()}/0")
    bus.subscribe(lambda _: None)
    await bus.start()  # returns at once: the bus keeps trying, the hub polls the log meanwhile
    async with asyncio.timeout(5):
        while bus.outage.up:
            await asyncio.sleep(0.01)
    assert not bus.up
    bus.announce(3)
    bus.broadcast({"type": "typing"})
    await bus.close()
    assert isinstance(open_bus(""), LocalBus)
    with pytest.raises(ValueError, match="unsupported bus"):
        open_bus("amqp://x")


@pytest.mark.e2e
async def test_two_nodes_share_postgresql_and_redis(
    tmp_path: Path, pg_cluster: PostgresCluster, redis_url: str
) -> None:
    database = pg_cluster.create_database()
    # A long poll interval: delivery within the timeout below can only come through Redis.
    env = {"TELEX_REALTIME__POLL_SECONDS": "60"}
    args = ["--bus", redis_url]
    with (
        LiveServer(tmp_path / "a", database=database, env=env, extra_args=args) as node_a,
        LiveServer(tmp_path / "b", database=database, env=env, extra_args=args) as node_b,
    ):
        identity = CommunicationIdentityClient(node_a.http_url, AzureKeyCredential(node_a.access_key))
        (_, ta), (ub, tb) = (identity.create_user_and_token(["chat"]) for _ in range(2))
        async with ChatClient(node_a.http_url, ta.token) as chat:
            thread = await chat.create_thread("two nodes", [ub.properties["id"]])
            async with RealtimeClient(node_b.http_url, tb.token) as rt:
                async with asyncio.timeout(10):
                    await rt.wait_connected()
                sent = [await chat.send_message(thread, f"via A {i}") for i in range(10)]
                got = []
                async with asyncio.timeout(10):
                    async for event in rt:
                        if event.type == "chatMessageReceived":
                            got.append(event.data["id"])
                            if len(got) == len(sent):
                                break
        assert got == sent
        async with httpx.AsyncClient(event_hooks=async_hooks(), base_url=node_b.http_url) as http:
            r = await http.get(
                f"/chat/threads/{thread}/messages", headers={"authorization": f"Bearer {tb.token}"}
            )
            assert sum(m["type"] == "text" for m in r.json()["value"]) == 10
