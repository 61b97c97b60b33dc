"""Hot routes answer the same below FastAPI as through it (web/lean.py): the same request, sent to
a node's app with the lean table on and off, gets the same status, error code and body shape;
and ``/openapi.json`` describes every hot route."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from telex.app import Node, build_app
from tests.chat.conftest import open_node, users_of
from tests.support.apiversions import async_hooks
from tests.support.signing import HmacSigner


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    n = await open_node(tmp_path)
    try:
        yield n
    finally:
        await n.close()


def _shape(body: bytes) -> Any:
    """The body with its generated values (ids, times, tokens) blanked out."""
    if not body:
        return None
    data = json.loads(body)
    if isinstance(data, dict) and "error" in data:
        return data
    if isinstance(data, dict):
        return {
            k: _shape(json.dumps(v).encode()) if isinstance(v, dict) else type(v).__name__
            for k, v in data.items()
        }
    return type(data).__name__


async def _both(node: Node, method: str, path: str, **kw: Any) -> tuple[httpx.Response, httpx.Response]:
    out = []
    for lean in (True, False):
        transport = httpx.ASGITransport(app=build_app(node, lean=lean))
        async with httpx.AsyncClient(
            event_hooks=async_hooks(), transport=transport, base_url="http://testserver"
        ) as http:
            out.append(await http.request(method, path, **kw))
    return out[0], out[1]


def _same(a: httpx.Response, b: httpx.Response) -> None:
    assert a.status_code == b.status_code, (a.text, b.text)
    assert a.headers.get("x-ms-error-code") == b.headers.get("x-ms-error-code")
    assert a.headers.get("content-type") == b.headers.get("content-type")
    assert _shape(a.content) == _shape(b.content)
    assert "x-ms-request-id" in a.headers and "x-ms-request-id" in b.headers


async def test_chat_hot_routes_answer_alike(node: Node) -> None:
    make = users_of(node)
    a, b = await make(), await make()
    thread, _ = await node.chat.create_thread(
        await node.verifier.verify(a.token), "t", [], None
    )  # a alone: b is a stranger
    base = f"/chat/threads/{thread.id}"
    cases: list[tuple[str, dict[str, Any]]] = [
        ("/messages", {"json": {"content": "hi"}, "headers": a.headers}),
        ("/messages", {"json": {"content": "hi"}}),  # no token
        ("/messages", {"json": {"content": "hi"}, "headers": b.headers}),  # not a member
        ("/messages", {"content": b"{", "headers": {**a.headers, "content-type": "application/json"}}),
        ("/messages", {"content": b"x", "headers": {**a.headers, "content-type": "text/plain"}}),
        ("/messages", {"json": {"content": 7}, "headers": a.headers}),
        ("/messages", {"json": {}, "headers": a.headers}),
        ("/typing", {"json": {}, "headers": a.headers}),
        ("/typing", {"headers": a.headers}),
        ("/readReceipts", {"json": {"chatMessageId": "nope"}, "headers": a.headers}),
        ("/readReceipts", {"json": {"chatMessageId": 1}, "headers": a.headers}),
    ]
    for tail, kw in cases:
        _same(*await _both(node, "POST", base + tail, **kw))
    _same(
        *await _both(
            node, "POST", "/chat/threads/19:nope@thread.v2/messages", json={"content": "x"}, headers=a.headers
        )
    )


async def test_identity_and_health_hot_routes_answer_alike(node: Node) -> None:
    key = node.keyring.state.primary_key
    signed = {"auth": HmacSigner(key)}
    _same(*await _both(node, "GET", "/healthz"))
    _same(*await _both(node, "POST", "/identities", json={"createTokenWithScopes": ["chat"]}, **signed))
    _same(*await _both(node, "POST", "/identities", json={"createTokenWithScopes": ["chat"]}))  # unsigned
    _same(*await _both(node, "POST", "/identities", json={"createTokenWithScopes": ["nope"]}, **signed))
    user = (await node.identity.create_user(None)).user
    path = f"/identities/{user}/:issueAccessToken"
    _same(*await _both(node, "POST", path, json={"scopes": ["voip"]}, **signed))
    _same(*await _both(node, "POST", path, json={"scopes": ["voip"], "expiresInMinutes": 5}, **signed))
    _same(
        *await _both(
            node, "POST", f"/identities/8:acs:{uuid.uuid4()}/:issueAccessToken", json={"scopes": []}, **signed
        )
    )
    voip = await node.identity.create_user(["voip"])
    assert voip.token is not None
    relay = "/networkTraversal/:issueRelayConfiguration"
    _same(*await _both(node, "POST", relay, headers={"authorization": f"Bearer {voip.token.token}"}))
    _same(*await _both(node, "POST", relay, json={"ttl": 600}, **signed))
    _same(*await _both(node, "POST", relay, json={"id": "8:acs:x"}, **signed))
    _same(*await _both(node, "POST", relay))


async def test_every_hot_route_is_in_the_openapi_document(node: Node) -> None:
    app = build_app(node)
    assert app.lean is not None
    spec = app.openapi()
    hot = app.lean.routes()
    assert len(hot) >= 8
    for method, path in hot:
        assert method.lower() in spec["paths"][path], (method, path)
