"""A deeply nested JSON body is a 400 InvalidJson on every way in, never a 500."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from telex.app import Node, build_app
from telex.core.clock import SystemClock
from tests.chat.conftest import open_node, users_of
from tests.chat.test_realtime import close_code
from tests.conftest import make_settings
from tests.support.apiversions import async_hooks
from tests.support.serve import running
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


async def test_deep_json_on_the_demo_sign_in_is_a_400_without_a_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Item 7: unauthenticated, on /demo/api/session, a 2 KB body nested 1,000 deep was a 500
    with two tracebacks logged per request."""
    node = await Node.open(make_settings(tmp_path, demo={"enabled": True}), SystemClock())
    try:
        transport = httpx.ASGITransport(app=build_app(node))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            for _ in range(3):
                r = await http.post(
                    "/demo/api/session", content=DEEP, headers={"content-type": "application/json"}
                )
                assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidJson"
        assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR or rec.exc_info]
    finally:
        await node.close()


async def test_deep_json_as_the_first_realtime_frame_closes_with_4400(node: Node) -> None:
    """Item 7: as the first /realtime frame it dropped the socket without a close frame."""
    async with running(node) as url:
        ws = await connect(url.replace("http://", "ws://") + "/realtime")
        await ws.send("[" * 1000 + "]" * 1000)
        assert await close_code(ws) == 4400


async def test_no_route_answers_a_deep_body_with_a_500(node: Node, caplog: pytest.LogCaptureFixture) -> None:
    """Every route that takes a body, the ones added since the guard included (SMS, numbers,
    subscriptions, push, Call Automation): a deep body is refused, never a 500 or a traceback."""
    app = build_app(node)
    user = await users_of(node)()
    headers = {**user.headers, "content-type": "application/json"}
    tried = set()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(event_hooks=async_hooks(), transport=transport, base_url="http://t") as http:
        for path, operations in app.openapi()["paths"].items():  # every documented route
            methods = {m.upper() for m in operations} & {"POST", "PUT", "PATCH"}
            if not methods:
                continue
            concrete = re.sub(r"\{[^}]+\}", "x", path)
            for method in sorted(methods):
                for auth in (HmacSigner(node.keyring.state.primary_key), None):
                    r = await http.request(method, concrete, content=DEEP, headers=headers, auth=auth)
                    assert r.status_code < 500 or r.status_code == 501, (method, path, r.text)
                tried.add(path.split("/")[1])
    assert {"sms", "phoneNumbers", "eventSubscriptions", "push", "calling"} <= tried, tried
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR or rec.exc_info]
