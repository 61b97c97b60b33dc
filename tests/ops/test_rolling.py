"""Two `telex serve` nodes on one PostgreSQL and one Redis, a realtime client given both: kill -9
one node, bring it back, then stop the other with SIGTERM (drain) — every acknowledged message
reaches the client once and in order, and the client follows the nodes."""

from __future__ import annotations

import asyncio
import base64
import signal
from pathlib import Path

import httpx
import pytest

from telex.client import RealtimeClient, RealtimeEvent
from tests.support.apiversions import async_hooks
from tests.support.live import LiveServer
from tests.support.pg import PostgresCluster
from tests.support.signing import HmacSigner


async def _received(events: object, want: int, got: list[str]) -> None:
    async with asyncio.timeout(20):
        while len(got) < want:
            event: RealtimeEvent = await anext(events)  # type: ignore[call-overload]
            if event.type == "chatMessageReceived":
                got.append(event.data["id"])


@pytest.mark.e2e
async def test_kill_and_rolling_restart_lose_nothing(
    pg_cluster: PostgresCluster, redis_url: str, tmp_path: Path
) -> None:
    database = pg_cluster.create_database()
    env = {
        "TELEX_HTTP__DRAIN_SECONDS": "1",
        "TELEX_REALTIME__POLL_SECONDS": "0.5",
        "TELEX_CHAT__MESSAGES_PER_THREAD_PER_10S": "0",
        "TELEX_CHAT__MESSAGES_PER_THREAD_PER_MINUTE": "0",
    }
    a, b = (
        LiveServer(tmp_path / n, database=database, env=env, extra_args=["--bus", redis_url]) for n in "ab"
    )
    a.start()
    b.start()
    try:
        async with httpx.AsyncClient(event_hooks=async_hooks(), timeout=10) as http:
            signer = HmacSigner(base64.b64decode(a.access_key))
            people = []
            for _ in range(2):
                r = await http.post(
                    f"{a.http_url}/identities", json={"createTokenWithScopes": ["chat"]}, auth=signer
                )
                people.append((r.json()["identity"]["id"], r.json()["accessToken"]["token"]))
            (_, owner), (reader_id, reader) = people
            auth = {"authorization": f"Bearer {owner}"}
            body = {"topic": "t", "participants": [{"communicationIdentifier": {"rawId": reader_id}}]}
            r = await http.post(f"{b.http_url}/chat/threads", json=body, headers=auth)
            path = f"/chat/threads/{r.json()['chatThread']['id']}/messages"

            async def send(node: LiveServer, n: int) -> list[str]:
                ids = []
                for i in range(n):
                    r = await http.post(f"{node.http_url}{path}", json={"content": f"m{i}"}, headers=auth)
                    assert r.status_code == 201, r.text
                    ids.append(str(r.json()["id"]))
                return ids

            sent: list[str] = []
            got: list[str] = []
            async with RealtimeClient([a.http_url, b.http_url], reader, max_backoff=0.5) as rt:
                events = aiter(rt)
                async with asyncio.timeout(10):
                    await rt.wait_connected()
                sent += await send(b, 5)  # through the other node: Redis rings A's doorbell
                await _received(events, len(sent), got)
                a.stop(signal.SIGKILL)  # the client's node dies
                sent += await send(b, 5)
                await _received(events, len(sent), got)
                assert rt.endpoint == b.http_url
                a.start()
                sent += await send(a, 5)
                await _received(events, len(sent), got)
                b.signal(signal.SIGTERM)  # a rolling restart reaches the client's node: drain, 1012
                sent += await send(a, 5)
                assert b.proc is not None
                await asyncio.to_thread(b.proc.wait, 30)
                sent += await send(a, 5)
                await _received(events, len(sent), got)
                assert rt.endpoint == a.http_url
                assert rt.connects == 3
        assert got == sent  # once each, in order, across a kill and a restart
    finally:
        a.stop()
        b.stop()
