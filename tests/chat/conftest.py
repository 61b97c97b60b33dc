"""Chat fixtures: a node with chat limits opened up for load, users with tokens, an HTTP client
of the in-process app, and a real uvicorn server (for WebSockets) on a free loopback port."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from telex.app import Node, build_app
from telex.core.clock import SystemClock
from telex.realtime.settings import RealtimeSettings
from tests.conftest import make_settings
from tests.support.apiversions import async_hooks
from tests.support.serve import running
from tests.support.users import MakeUser, User

# Rate limits off (0) so tests can send quickly; tests of the limits set their own.
OPEN_LIMITS: dict[str, Any] = {
    "threads_per_user_per_10s": 0,
    "messages_per_thread_per_10s": 0,
    "messages_per_thread_per_minute": 0,
    "typing_per_user_per_10s": 0,
}


_REALTIME_KEYS = frozenset(RealtimeSettings.model_fields)


async def open_node(
    tmp_path: Path, database: str = "", http: dict[str, Any] | None = None, **overrides: Any
) -> Node:
    """A node with chat's rate limits lifted; ``overrides`` are chat or realtime settings,
    ``http`` the ``[http]`` section."""
    chat = {k: v for k, v in overrides.items() if k not in _REALTIME_KEYS}
    realtime = {k: v for k, v in overrides.items() if k in _REALTIME_KEYS}
    settings = make_settings(
        tmp_path, database=database, chat={**OPEN_LIMITS, **chat}, realtime=realtime, http=http or {}
    )
    return await Node.open(settings, SystemClock())


@pytest.fixture
async def chat_node(tmp_path: Path) -> AsyncIterator[Node]:
    node = await open_node(tmp_path)
    try:
        yield node
    finally:
        await node.close()


@pytest.fixture
def make_user(chat_node: Node) -> MakeUser:
    return users_of(chat_node)


@pytest.fixture
async def api(chat_node: Node) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(chat_node))
    async with httpx.AsyncClient(
        event_hooks=async_hooks(), transport=transport, base_url="http://testserver"
    ) as c:
        yield c


@pytest.fixture
async def server_url(chat_node: Node) -> AsyncIterator[str]:
    async with running(chat_node) as url:
        yield url


@pytest.fixture
async def db_node(tmp_path: Path, database_url: str) -> AsyncIterator[Node]:
    """A chat node on each backend in turn (SQLite, then PostgreSQL)."""
    node = await open_node(tmp_path, database=database_url)
    try:
        yield node
    finally:
        await node.close()


def users_of(node: Node) -> MakeUser:
    async def make(*scopes: str) -> User:
        created = await node.identity.create_user(list(scopes or ("chat",)))
        assert created.token is not None
        return User(created.user, created.token.token)

    return make


@contextlib.asynccontextmanager
async def client_of(node: Node) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        event_hooks=async_hooks(), transport=httpx.ASGITransport(app=build_app(node)), base_url="http://t"
    ) as c:
        yield c
