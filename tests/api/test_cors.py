"""CORS on the REST API (web/cors.py): one origin allowlist, answered alike on FastAPI's routes and
on the hot routes below it (lean on and off), correct preflights, nothing for origins not allowed.

Browsers are the judge in tests/browser/test_cross_origin.py; these check the exact headers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from telex.app import Node, build_app
from telex.core.clock import SystemClock
from telex.web.cors import ALLOW_HEADERS
from tests.chat.conftest import open_node, users_of
from tests.conftest import make_settings
from tests.support.apiversions import async_hooks

APP = "https://app.example"
EVIL = "https://evil.example"
PREFLIGHT = {
    "origin": APP,
    "access-control-request-method": "POST",
    "access-control-request-headers": "authorization,content-type,x-ms-client-request-id",
}


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    n = await open_node(tmp_path, http={"allowed_origins": [APP], "cors_max_age_seconds": 900})
    try:
        yield n
    finally:
        await n.close()


async def _both(node: Node, method: str, path: str, **kw: Any) -> list[httpx.Response]:
    """The same request to the app with the lean table on and off."""
    out = []
    for lean in (True, False):
        transport = httpx.ASGITransport(app=build_app(node, lean=lean))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", event_hooks=async_hooks()
        ) as http:
            out.append(await http.request(method, path, **kw))
    return out


def _cors(r: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in r.headers.items() if k.startswith("access-control-") or k == "vary"}


async def _thread(node: Node) -> tuple[str, dict[str, str]]:
    user = await users_of(node)()
    thread, _ = await node.chat.create_thread(await node.verifier.verify(user.token), "t", [], None)
    return f"/chat/threads/{thread.id}", user.headers


async def test_a_preflight_is_answered_alike_for_hot_and_other_routes(node: Node) -> None:
    base, _ = await _thread(node)
    # Hot routes (served below FastAPI when lean is on), FastAPI routes, and no route at all.
    for path in (base + "/messages", base + "/typing", "/identities", base, "/chat/threads", "/nope"):
        lean, fastapi = await _both(node, "OPTIONS", path, headers=PREFLIGHT)
        assert lean.status_code == fastapi.status_code == 204, (path, lean.text)
        assert _cors(lean) == _cors(fastapi), path
        headers = _cors(lean)
        assert headers["access-control-allow-origin"] == APP
        assert headers["vary"] == "Origin"
        assert set(headers["access-control-allow-methods"].split(", ")) == {
            "GET",
            "POST",
            "PUT",
            "PATCH",
            "DELETE",
        }
        assert "authorization" in headers["access-control-allow-headers"].split(", ")
        assert headers["access-control-max-age"] == "900"
        assert "access-control-allow-credentials" not in headers
        assert "x-ms-request-id" in lean.headers  # the request context saw it


def test_the_preflight_allows_every_header_the_sdks_send() -> None:
    allowed = set(ALLOW_HEADERS.split(", "))
    # acs-wire.md §1.2 (Python SDKs: HMAC and bearer), the browser build's x-ms-useragent,
    # repeatability (rooms, call automation), and the Telex browser SDK's own requests.
    sent = {
        "authorization", "content-type", "accept", "x-ms-client-request-id", "x-ms-return-client-request-id",
        "x-ms-date", "x-ms-content-sha256", "x-ms-useragent", "repeatability-request-id",
        "repeatability-first-sent",
    }  # fmt: skip
    assert sent <= allowed


async def test_responses_to_an_allowed_origin_carry_cors_headers_on_both_ways(node: Node) -> None:
    base, auth = await _thread(node)
    headers = {**auth, "origin": APP}
    for method, path, kw in (
        ("POST", base + "/messages", {"json": {"content": "hi"}}),  # hot
        ("GET", base + "/messages", {}),  # FastAPI
        ("POST", base + "/messages", {"json": {"content": 7}}),  # an error answer, hot
        ("GET", "/chat/threads/19:nope@thread.v2", {}),  # an error answer, FastAPI
        ("GET", "/healthz", {}),
    ):
        lean, fastapi = await _both(node, method, path, headers=headers, **kw)
        assert lean.status_code == fastapi.status_code
        assert _cors(lean) == _cors(fastapi), path
        assert lean.headers["access-control-allow-origin"] == APP
        exposed = lean.headers["access-control-expose-headers"].split(", ")
        assert {"x-ms-request-id", "x-ms-error-code", "retry-after", "operation-location"} <= set(exposed)
        assert "access-control-allow-credentials" not in lean.headers


async def test_an_origin_not_allowed_gets_a_403_naming_it_and_no_cors_header(node: Node) -> None:
    base, auth = await _thread(node)
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("OPTIONS", base + "/messages", {"headers": {**PREFLIGHT, "origin": EVIL}}),
        ("OPTIONS", "/chat/threads", {"headers": {**PREFLIGHT, "origin": EVIL}}),
        ("POST", base + "/messages", {"headers": {**auth, "origin": EVIL}, "json": {"content": "x"}}),
        ("GET", "/chat/threads", {"headers": {**auth, "origin": EVIL}}),
        ("OPTIONS", "/identities", {"headers": {**PREFLIGHT, "origin": "null"}}),
    ]
    for method, path, kw in cases:
        for r in await _both(node, method, path, **kw):
            assert r.status_code == 403, (method, path, r.text)
            error = r.json()["error"]
            assert error["code"] == "Forbidden"
            assert kw["headers"]["origin"] in error["message"] and "http.allowed_origins" in error["message"]
            assert _cors(r) == {}, (method, path)
    # Nothing reached the thread.
    messages = await _both(node, "GET", base + "/messages", headers=auth)
    assert all(m["type"] != "text" for m in messages[0].json()["value"])


async def test_same_origin_and_no_origin_requests_are_untouched(node: Node) -> None:
    _, auth = await _thread(node)
    for headers in (
        {**auth},
        {**auth, "origin": "http://testserver"},
        {**auth, "origin": "https://testserver"},
    ):
        for r in await _both(node, "GET", "/chat/threads", headers=headers):
            assert r.status_code == 200
            assert _cors(r) == {}
    # A same-origin OPTIONS with no preflight headers is an ordinary request (no such method).
    for r in await _both(node, "OPTIONS", "/chat/threads"):
        assert r.status_code == 405
        assert _cors(r) == {}


async def test_the_public_url_is_an_origin_of_the_server_itself(tmp_path: Path) -> None:
    node = await Node.open(make_settings(tmp_path, public_url="https://telex.example"), SystemClock())
    try:
        # Behind a reverse proxy the Host the server sees is not the public one.
        r = (
            await _both(
                node, "OPTIONS", "/chat/threads", headers={**PREFLIGHT, "origin": "https://telex.example"}
            )
        )[0]
        assert r.status_code == 405 and _cors(r) == {}
        r = (await _both(node, "OPTIONS", "/chat/threads", headers=PREFLIGHT))[0]
        assert r.status_code == 403  # nothing listed
    finally:
        await node.close()


async def test_any_origin_with_a_star_and_never_credentials(tmp_path: Path) -> None:
    node = await open_node(tmp_path, http={"allowed_origins": ["*"]})
    try:
        for r in await _both(node, "OPTIONS", "/chat/threads", headers={**PREFLIGHT, "origin": EVIL}):
            assert r.status_code == 204
            assert r.headers["access-control-allow-origin"] == "*"
            assert "vary" not in r.headers and "access-control-allow-credentials" not in r.headers
        for r in await _both(node, "GET", "/healthz", headers={"origin": EVIL}):
            assert r.headers["access-control-allow-origin"] == "*"
    finally:
        await node.close()


async def test_the_sdk_modules_are_served_to_any_origin(node: Node) -> None:
    for r in await _both(node, "GET", "/sdk/telex.js", headers={"origin": EVIL}):
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "*"


async def test_a_private_network_preflight_is_allowed_for_a_listed_origin(node: Node) -> None:
    headers = {**PREFLIGHT, "access-control-request-private-network": "true"}
    for r in await _both(node, "OPTIONS", "/chat/threads", headers=headers):
        assert r.headers["access-control-allow-private-network"] == "true"
