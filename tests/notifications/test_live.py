"""The notification service over real sockets (uvicorn, as ``telex serve``): the configuration
and allocation routes, resume from the client's position, a revoked token cut off within 1 s, and
garbage frames that never take the server down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import websockets

from telex.app import Node
from tests.chat.conftest import open_node, users_of
from tests.notifications.client import NotificationClient
from tests.support.serve import running
from tests.support.users import User


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    n = await open_node(tmp_path)
    try:
        yield n
    finally:
        await n.close()


@pytest.fixture
async def url(node: Node) -> AsyncIterator[str]:
    async with running(node) as base:
        yield base


async def _thread(url: str, owner: User, *others: User) -> str:
    body = {"topic": "t", "participants": [{"communicationIdentifier": {"rawId": o.id}} for o in others]}
    async with httpx.AsyncClient(base_url=url, headers=owner.headers) as http:
        r = await http.post("/chat/threads?api-version=2025-03-15", json=body)
        return str(r.json()["chatThread"]["id"])


async def _send(url: str, user: User, thread: str, text: str) -> None:
    async with httpx.AsyncClient(base_url=url, headers=user.headers) as http:
        r = await http.post(f"/chat/threads/{thread}/messages?api-version=2025-03-15", json={"content": text})
        assert r.status_code == 201


async def _texts(client: NotificationClient, count: int) -> list[str]:
    texts: list[str] = []
    async with asyncio.timeout(10):
        while len(texts) < count:
            texts += [n["messageBody"] for n in await client.notifications() if n["eventId"] == 200]
    return texts


async def _closed(client: NotificationClient) -> None:
    """Read until the server closes the socket."""
    while True:
        try:
            await client.ws.recv()
        except websockets.ConnectionClosed:
            return


async def test_configuration_points_at_this_server(node: Node, url: str) -> None:
    user = await users_of(node)("chat")
    async with httpx.AsyncClient(base_url=url, headers=user.headers) as http:
        r = await http.get("/chat/config/realTimeNotifications?api-version=2024-09-01")
        assert r.json() == {"trouterServiceUrl": url, "registrarServiceUrl": url, "cloudType": "public"}
        assert (await http.get("/chat/config/realTimeNotifications")).status_code == 400
        assert (await http.post("/v4/a")).status_code == 401  # the token goes in X-Skypetoken
        skype = {"x-skypetoken": user.token}
        assert (await http.post("/v3/registrations", headers=skype, json={})).status_code == 202
        assert (await http.delete("/v3/registrations/x", headers=skype)).status_code == 204


async def test_resume_from_the_clients_position(node: Node, url: str) -> None:
    make = users_of(node)
    a, b = await make("chat"), await make("chat")
    thread = await _thread(url, a, b)
    client = NotificationClient(url, b.token)
    await client.connect()
    await _send(url, a, thread, "one")
    assert await _texts(client, 1) == ["one"]
    await client.close()
    await _send(url, a, thread, "two")  # while b is away
    await _send(url, a, thread, "three")
    await client.connect()  # with the position the last frame named
    assert await _texts(client, 2) == ["two", "three"]
    await client.close()


async def test_a_revoked_token_is_cut_off(node: Node, url: str) -> None:
    user = await users_of(node)("chat")
    client = NotificationClient(url, user.token)
    await client.connect()
    await node.identity.revoke_tokens(node.identity.parse_user(user.id))
    async with asyncio.timeout(5):  # at once: this node revoked it
        await _closed(client)
    async with httpx.AsyncClient(base_url=url) as http:  # and it cannot come back
        assert (await http.post("/v4/a", headers={"x-skypetoken": user.token})).status_code == 401


GARBAGE = [
    "",
    "x",
    "9::",
    "5:::not json",
    '5:::{"args":[]}',
    "3:::[1]",
    "\ufffd99\ufffd2::",
    "\ufffdx\ufffd",
    "7:::1+0",
    "0" * 70_000,
    b"\x00\x01",
]


async def test_garbage_frames_never_take_the_server_down(node: Node, url: str) -> None:
    make = users_of(node)
    a, b = await make("chat"), await make("chat")
    thread = await _thread(url, a, b)
    for frame in GARBAGE:
        client = NotificationClient(url, b.token)
        await client.connect()
        await client.ws.send(frame)
        async with asyncio.timeout(5):
            await _closed(client)  # disconnected, with a reason
    async with websockets.connect(
        url.replace("http", "ws") + "/socket.io/1/websocket/telex?tkt=forged"
    ) as ws:
        assert '"unauthorized"' in await ws.recv()  # no ticket, no socket
    client = NotificationClient(url, b.token)
    await client.connect()
    await _send(url, a, thread, "still here")
    assert await _texts(client, 1) == ["still here"]
    await client.close()
