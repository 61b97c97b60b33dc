"""Redis away: a node that starts without it serves /realtime by polling the log, says so in
/readyz while staying ready, logs the outage once (not once per message), and uses Redis again
once it is back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from telex.app import Node
from telex.client import RealtimeClient
from tests.chat.conftest import OPEN_LIMITS, users_of
from tests.conftest import make_settings
from tests.support.apiversions import async_hooks
from tests.support.metrics import samples, scrape
from tests.support.pg import PostgresCluster
from tests.support.procs import free_port
from tests.support.redis import find_redis, redis_server
from tests.support.serve import running


async def _until(predicate: Callable[[], bool], seconds: float = 10) -> None:
    async with asyncio.timeout(seconds):
        while not predicate():
            await asyncio.sleep(0.02)


async def test_nodes_started_without_redis_deliver_by_polling(
    pg_cluster: PostgresCluster, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    if find_redis() is None:
        pytest.skip("redis-server not installed")
    database = pg_cluster.create_database()
    port = free_port()
    bus = f"redis://127.0.0.1:{port}/0"
    opened: list[Node] = []
    caplog.set_level(logging.INFO, logger="telex")
    try:
        for name in ("a", "b"):
            settings = make_settings(
                tmp_path / name, database, bus=bus, chat=OPEN_LIMITS, realtime={"poll_seconds": 0.2}
            )
            opened.append(await Node.open(settings))
        a, b = opened
        async with running(a) as url_a, running(b) as url_b:
            make = users_of(a)
            owner, reader = await make(), await make()
            async with httpx.AsyncClient(event_hooks=async_hooks(), base_url=url_a) as api:
                ready = await api.get(f"{url_b}/readyz")
                assert ready.status_code == 200, ready.text
                assert ready.json()["bus"].startswith("unreachable")
                body = {"topic": "t", "participants": [{"communicationIdentifier": {"rawId": reader.id}}]}
                r = await api.post("/chat/threads", json=body, headers=owner.headers)
                assert r.status_code == 201, r.text
                messages = f"/chat/threads/{r.json()['chatThread']['id']}/messages"
                async with RealtimeClient(url_b, reader.token) as rt:
                    async with asyncio.timeout(10):
                        await rt.wait_connected()
                    sent = []
                    for i in range(20):
                        r = await api.post(messages, json={"content": f"m{i}"}, headers=owner.headers)
                        sent.append(r.json()["id"])
                    got: list[str] = []
                    async with asyncio.timeout(10):
                        async for event in rt:
                            if event.type == "chatMessageReceived":
                                got.append(event.data["id"])
                                if len(got) == len(sent):
                                    break
                    assert got == sent
                    metrics = samples(await scrape(b))
                    assert metrics["telex_bus_up"] == 0
                    assert metrics["telex_bus_outages_total"] == 1
                    assert metrics["telex_realtime_connections"] == 1
                    assert metrics["telex_realtime_events_total"] >= 20
                    assert metrics["telex_hub_lag_events"] == 0
                lines = [r.getMessage() for r in caplog.records if r.name.startswith("telex.bus")]
                assert len(lines) == 2, lines  # one per node, however many messages
                assert all(line.startswith("bus (Redis) unreachable") for line in lines)
                (tmp_path / "redis").mkdir()
                with redis_server(tmp_path / "redis", port):
                    await _until(lambda: a.bus.up and b.bus.up, 15)
                    assert (await api.get(f"{url_b}/readyz")).json()["bus"] == "ok"
                    assert samples(await scrape(b))["telex_bus_up"] == 1
                back = [r.getMessage() for r in caplog.records if "reachable again" in r.getMessage()]
                assert len(back) == 2, back
    finally:
        for node in opened:
            await node.close()
