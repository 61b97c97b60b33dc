"""Crash durability of webhook delivery (security.md G17): 4 senders post 1,000 chat messages
while a subscription delivers them to a slow loopback receiver; ``kill -9`` of ``telex serve`` at a
seeded moment; restart on the same data: every message whose send was acknowledged reaches the
receiver (duplicates allowed, each time with the same event id), in order per thread."""

from __future__ import annotations

import asyncio
import base64
import random
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from tests.subscriptions.test_delivery import IN_THREAD
from tests.support.live import LiveServer
from tests.support.signing import HmacSigner
from tests.webhooks import receiver as loopback

pytestmark = pytest.mark.e2e

SENDERS = 4
PER_SENDER = 250
CONFIG = """
[chat]
messages_per_thread_per_10s = 0
messages_per_thread_per_minute = 0
[outbound]
allow_http = true
allowed = ["127.0.0.1"]
response_timeout_seconds = 2.0
[events]
retry_schedule_seconds = [0.01, 0.03, 0.06, 0.3]
retry_jitter = 0
poll_seconds = 0.2
lease_seconds = 2.0
"""


class Sink:
    """The customer's endpoint: validates, then records every delivered event, a little slowly
    (so delivery is still under way when the server dies)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if request.headers.get("aeg-event-type") == "SubscriptionValidation":
            return web.json_response({"validationResponse": body[0]["data"]["validationCode"]})
        await asyncio.sleep(0.002)
        self.events.extend(body)
        return web.Response(status=200)


async def _sender(url: str, token: str, thread: str, k: int, acked: list[str]) -> None:
    async with httpx.AsyncClient(
        base_url=url, headers={"authorization": f"Bearer {token}"}, timeout=5
    ) as http:
        for i in range(PER_SENDER):
            try:
                r = await http.post(
                    f"/chat/threads/{thread}/messages?api-version=2024-03-07",
                    json={"content": f"s{k}-{i:03d}"},
                )
            except httpx.HTTPError:
                return  # the server died under this request
            if r.status_code != 201:
                return
            acked.append(r.json()["id"])


@pytest.mark.parametrize("seed", [1, 2])
def test_kill_9_during_delivery_loses_no_event(tmp_path: Path, seed: int) -> None:
    config = tmp_path / "telex.toml"
    config.write_text(CONFIG)
    data = tmp_path / "data"
    sink = Sink()

    async def run() -> None:
        async with loopback.serve(sink.handle) as port:
            server = await asyncio.to_thread(LiveServer(data, extra_args=["--config", str(config)]).start)
            try:
                key = base64.b64decode(server.access_key)
                async with httpx.AsyncClient(
                    base_url=server.http_url, auth=HmacSigner(key), timeout=10
                ) as admin:
                    users = []
                    for _ in range(SENDERS):
                        r = await admin.post(
                            "/identities?api-version=2023-10-01", json={"createTokenWithScopes": ["chat"]}
                        )
                        users.append((r.json()["identity"]["id"], r.json()["accessToken"]["token"]))
                    body = {"properties": {
                        "destination": {"properties": {"endpointUrl": f"http://127.0.0.1:{port}/hook"}},
                        "filter": {"includedEventTypes": [IN_THREAD]}}}  # fmt: skip
                    r = await admin.put("/eventSubscriptions/durable", json=body)
                    assert r.status_code == 201, r.text
                thread_body = {
                    "topic": "crash",
                    "participants": [{"communicationIdentifier": {"rawId": u}} for u, _ in users[1:]],
                }
                r = httpx.post(f"{server.http_url}/chat/threads?api-version=2024-03-07", json=thread_body,
                               headers={"authorization": f"Bearer {users[0][1]}"})  # fmt: skip
                thread = r.json()["chatThread"]["id"]
                acked: list[list[str]] = [[] for _ in range(SENDERS)]
                senders = [
                    asyncio.create_task(_sender(server.http_url, users[k][1], thread, k, acked[k]))
                    for k in range(SENDERS)
                ]
                rng = random.Random(seed)
                target = rng.randint(300, 700)
                async with asyncio.timeout(60):
                    while sum(map(len, acked)) < target:
                        await asyncio.sleep(0.005)
                delivered_before = len(sink.events)
                server.stop(signal.SIGKILL)
                await asyncio.gather(*senders)
            finally:
                server.stop(signal.SIGKILL)
            all_acked = {m for a in acked for m in a}
            assert len(all_acked) >= target and delivered_before < len(all_acked), "nothing was in flight"
            again = await asyncio.to_thread(LiveServer(data, extra_args=["--config", str(config)]).start)
            try:
                async with asyncio.timeout(60):
                    while not all_acked <= {e["data"]["messageId"] for e in sink.events}:
                        await asyncio.sleep(0.05)
            finally:
                await asyncio.to_thread(again.stop)
        by_message: dict[str, set[str]] = {}
        for event in sink.events:
            by_message.setdefault(event["data"]["messageId"], set()).add(event["id"])
        assert all(len(ids) == 1 for ids in by_message.values()), "a redelivery changed an event's id"
        # In order: the first delivery of each message follows the thread's order.
        first_seen = list(dict.fromkeys(e["data"]["messageId"] for e in sink.events))
        mine = [m for m in first_seen if m in all_acked]
        assert mine == sorted(mine, key=int)

    asyncio.run(run())
