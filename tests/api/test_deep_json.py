"""A deeply nested JSON body is a 400 InvalidJson on every way in, never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from telex.app import Node, build_app
from tests.chat.conftest import open_node, users_of
from tests.support.apiversions import async_hooks
from tests.support.signing import HmacSigner

DEEP = b"[" * 2000 + b"]" * 2000


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    n = await open_node(tmp_path)
    try:
        yield n
    finally:
        await n.close()


@pytest.mark.parametrize("lean", [True, False])
async def test_deep_json_is_invalid_json(node: Node, lean: bool) -> None:
    user = await users_of(node)()
    thread, _ = await node.chat.create_thread(await node.verifier.verify(user.token), "t", [], None)
    json_type = {"content-type": "application/json"}
    transport = httpx.ASGITransport(app=build_app(node, lean=lean))
    async with httpx.AsyncClient(event_hooks=async_hooks(), transport=transport, base_url="http://t") as http:
        for path, headers, auth in [
            (f"/chat/threads/{thread.id}/messages", {**user.headers, **json_type}, None),  # a hot route
            ("/chat/threads", {**user.headers, **json_type}, None),  # a FastAPI one
            ("/identities", json_type, HmacSigner(node.keyring.state.primary_key)),
        ]:
            r = await http.post(path, content=DEEP, headers=headers, auth=auth)
            assert r.status_code == 400, (path, r.text)
            assert r.json()["error"]["code"] == "InvalidJson"
