"""Client failover: a ``RealtimeClient`` given every node's endpoint resumes on the next node
with its cursor when its node stops, and misses nothing."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from telex.app import Node
from telex.client import RealtimeClient
from tests.chat.conftest import OPEN_LIMITS, users_of
from tests.conftest import make_settings
from tests.support.apiversions import async_hooks
from tests.support.pg import PostgresCluster
from tests.support.serve import running


async def test_realtime_client_fails_over_to_the_next_node(
    pg_cluster: PostgresCluster, tmp_path: Path
) -> None:
    database = pg_cluster.create_database()
    nodes = [
        await Node.open(
            make_settings(tmp_path / n, database, chat=OPEN_LIMITS, realtime={"poll_seconds": 0.2})
        )
        for n in ("a", "b")
    ]
    try:
        owner, reader = await users_of(nodes[0])(), await users_of(nodes[0])()
        async with running(nodes[1]) as url_b:
            serving_a = running(nodes[0])
            url_a = await serving_a.__aenter__()
            a_up = True
            try:
                async with httpx.AsyncClient(event_hooks=async_hooks(), base_url=url_b) as api:
                    body = {"topic": "t", "participants": [{"communicationIdentifier": {"rawId": reader.id}}]}
                    r = await api.post("/chat/threads", json=body, headers=owner.headers)
                    messages = f"/chat/threads/{r.json()['chatThread']['id']}/messages"

                    async def send(i: int) -> str:
                        r = await api.post(messages, json={"content": f"m{i}"}, headers=owner.headers)
                        assert r.status_code == 201, r.text
                        return str(r.json()["id"])

                    async with RealtimeClient([url_a, url_b], reader.token) as rt:
                        async with asyncio.timeout(10):
                            await rt.wait_connected()
                        assert rt.endpoint == url_a
                        sent = [await send(i) for i in range(5)]
                        got: list[str] = []
                        events = aiter(rt)
                        async with asyncio.timeout(10):
                            while len(got) < 5:
                                event = await anext(events)
                                if event.type == "chatMessageReceived":
                                    got.append(event.data["id"])
                        stopped = time.monotonic()
                        await serving_a.__aexit__(None, None, None)  # node A stops: 1012
                        a_up = False
                        sent += [await send(i) for i in range(5, 10)]
                        async with asyncio.timeout(15):
                            while len(got) < 10:
                                event = await anext(events)
                                if event.type == "chatMessageReceived":
                                    got.append(event.data["id"])
                        assert rt.endpoint == url_b
                        assert rt.connects == 2
                        took = time.monotonic() - stopped
                    assert got == sent  # every message once, in order, across the move
                    print(
                        f"failover: the last message reached the client {took * 1000:.0f} ms after A stopped"
                    )
            finally:
                if a_up:
                    await serving_a.__aexit__(None, None, None)
    finally:
        for node in nodes:
            await node.close()
