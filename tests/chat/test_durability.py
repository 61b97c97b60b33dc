"""Crash durability (security.md G3): concurrent senders, ``kill -9`` of the server at a seeded
random moment, restart on the same data: every message whose send returned 201 is in the thread
exactly once, in each sender's order; an unanswered send is there at most once. With 32 senders
the sends are group-committed (many units per transaction, each behind its own savepoint), on
SQLite and on PostgreSQL: a unit is acknowledged only once its batch is durable."""

from __future__ import annotations

import asyncio
import random
import signal
from pathlib import Path

import httpx
import pytest
from azure.communication.identity import CommunicationIdentityClient
from azure.core.credentials import AzureKeyCredential

from tests.support.apiversions import async_hooks, hooks, versioned
from tests.support.live import LiveServer

pytestmark = pytest.mark.e2e

PER_SENDER = 250
ENV = {
    "TELEX_CHAT__MESSAGES_PER_THREAD_PER_10S": "0",
    "TELEX_CHAT__MESSAGES_PER_THREAD_PER_MINUTE": "0",
}


async def _sender(url: str, token: str, thread: str, k: int, acked: list[str], unknown: list[str]) -> None:
    async with httpx.AsyncClient(
        event_hooks=async_hooks(), base_url=url, headers={"authorization": f"Bearer {token}"}, timeout=5
    ) as http:
        for i in range(PER_SENDER):
            text = f"s{k}-{i:03d}"
            try:
                r = await http.post(f"/chat/threads/{thread}/messages", json={"content": text})
            except httpx.HTTPError:
                unknown.append(text)  # in flight when the server died
                return
            if r.status_code != 201:
                unknown.append(text)
                return
            acked.append(text)


@pytest.mark.parametrize(
    ("seed", "senders", "backend"),
    [(1, 4, "sqlite"), (2, 4, "sqlite"), (3, 4, "sqlite"), (4, 32, "sqlite"), (5, 4, "postgresql"),
     (6, 32, "postgresql")],
)  # fmt: skip
def test_kill_9_loses_no_acknowledged_message(
    tmp_path: Path, request: pytest.FixtureRequest, seed: int, senders: int, backend: str
) -> None:
    database = None
    if backend == "postgresql":
        database = request.getfixturevalue("pg_cluster").create_database()
    data = tmp_path / "data"
    server = LiveServer(data, database=database, env=ENV).start()
    try:
        identity = CommunicationIdentityClient(server.http_url, AzureKeyCredential(server.access_key))
        users = [identity.create_user_and_token(["chat"]) for _ in range(senders)]
        ids = [u.properties["id"] for u, _ in users]
        tokens = [t.token for _, t in users]
        body = {
            "topic": "crash",
            "participants": [{"communicationIdentifier": {"rawId": i}} for i in ids[1:]],
        }
        r = httpx.post(
            versioned(f"{server.http_url}/chat/threads"),
            json=body,
            headers={"authorization": f"Bearer {tokens[0]}"},
        )
        thread = r.json()["chatThread"]["id"]
        acked: list[list[str]] = [[] for _ in range(senders)]
        unknown: list[list[str]] = [[] for _ in range(senders)]

        async def run() -> None:
            tasks = [
                asyncio.create_task(_sender(server.http_url, tokens[k], thread, k, acked[k], unknown[k]))
                for k in range(senders)
            ]
            # Kill once the senders are in full flow (the first acknowledgement), at a seeded moment.
            async with asyncio.timeout(30):
                while not any(acked):
                    await asyncio.sleep(0.01)
            await asyncio.sleep(random.Random(seed).uniform(0.1, 1.2))
            server.stop(signal.SIGKILL)
            async with asyncio.timeout(30):
                await asyncio.gather(*tasks)

        asyncio.run(run())
    finally:
        server.stop(signal.SIGKILL)

    assert sum(map(len, acked)) > 0, "the server was killed before anything was sent"
    with LiveServer(data, database=database, env=ENV) as again:
        texts: list[str] = []
        url: str | None = f"/chat/threads/{thread}/messages?maxPageSize=200"
        with httpx.Client(
            event_hooks=hooks(), base_url=again.http_url, headers={"authorization": f"Bearer {tokens[0]}"}
        ) as http:
            while url:
                page = http.get(url).json()
                texts += [m["content"]["message"] for m in page["value"] if m["type"] == "text"]
                url = page.get("nextLink")
            after = http.post(f"/chat/threads/{thread}/messages", json={"content": "after restart"})
            assert after.status_code == 201
    texts.reverse()  # oldest first
    assert len(texts) == len(set(texts)), "a message was stored twice"
    for k in range(senders):
        mine = [t for t in texts if t.startswith(f"s{k}-")]
        assert mine[: len(acked[k])] == acked[k], f"sender {k}: an acknowledged message is missing"
        assert mine[len(acked[k]) :] in ([], unknown[k]), f"sender {k}: unexpected extra messages"
