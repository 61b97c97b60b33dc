"""Calling fixtures: a node (its users made through the HMAC-signed identity API), an in-process
HTTP client, and the same node served by uvicorn with its TURN server on free loopback ports."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from telex.app import Node, build_app
from telex.core.clock import SystemClock
from tests.conftest import make_settings
from tests.support.apiversions import async_hooks
from tests.support.live import free_port
from tests.support.signing import HmacSigner
from tests.support.users import MakeUser, User


async def open_node(tmp_path: Path, **calling: Any) -> Node:
    # Every listener on a free port: tests run in parallel, next to real servers.
    turn = {"port": free_port(socket.SOCK_DGRAM), "tls_port": 0, "allow_loopback_peers": True, "tcp": False}
    settings = make_settings(tmp_path, calling=calling, turn=turn)
    return await Node.open(settings, SystemClock())


def user_maker(base_url: str, key: bytes, transport: httpx.AsyncBaseTransport | None = None) -> MakeUser:
    """Users with tokens, created as a trusted service would: ``POST /identities``, HMAC-signed."""

    async def make(*scopes: str) -> User:
        async with httpx.AsyncClient(
            event_hooks=async_hooks(), base_url=base_url, transport=transport, auth=HmacSigner(key)
        ) as c:
            r = await c.post("/identities", json={"createTokenWithScopes": list(scopes or ("chat", "voip"))})
        assert r.status_code == 201, r.text
        body = r.json()
        return User(body["identity"]["id"], body["accessToken"]["token"])

    return make


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    n = await open_node(tmp_path, max_participants=3)
    try:
        yield n
    finally:
        await n.close()


@pytest.fixture
def transport(node: Node) -> httpx.ASGITransport:
    return httpx.ASGITransport(app=build_app(node))  # one app per node: it registers metrics


@pytest.fixture
async def api(transport: httpx.ASGITransport) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(event_hooks=async_hooks(), transport=transport, base_url="http://t") as c:
        yield c


@pytest.fixture
def make_user(node: Node, transport: httpx.ASGITransport) -> MakeUser:
    return user_maker("http://t", node.keyring.state.primary_key, transport)
