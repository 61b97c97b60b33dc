"""ACS APIs Telex does not have yet answer 501 naming the API (web/unsupported.py), never a 404
that reads as "that resource does not exist"; and the table shadows no real route."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.routing import BaseRoute, Route

from telex.app import Node, build_app
from telex.core.clock import SystemClock
from telex.web.unsupported import NOT_YET, unsupported_api
from tests.conftest import make_settings
from tests.support.signing import HmacSigner

# What the official SDKs send for APIs Telex lacks (acs-wire.md §3.5, §3.7; acs-js-sdks.md).
CALLS = [
    ("POST", "/rooms", "Rooms"),
    ("GET", "/rooms", "Rooms"),  # one segment: the demo serves its files by name at the root
    ("GET", "/rooms/99", "Rooms"),
    ("PATCH", "/rooms/99/participants", "Rooms"),
    ("GET", "/calling/serverCalls/abc", "Call Automation's server calls"),
    ("POST", "/emails:send", "Email"),
    ("GET", "/emails/operations/x", "Email"),
    ("POST", "/teamsUser/:exchangeAccessToken", "Teams user token exchange"),
    ("POST", "/messages/notifications:send", "Advanced Messaging"),
    ("GET", "/routing/queues", "Job Router"),
]


@pytest.fixture(params=[False, True], ids=["no-demo", "demo"])
async def node(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Node]:
    n = await Node.open(make_settings(tmp_path, demo={"enabled": request.param}), SystemClock())
    try:
        yield n
    finally:
        await n.close()


async def test_apis_telex_lacks_answer_501_naming_the_api(node: Node) -> None:
    signer = HmacSigner(node.keyring.state.primary_key)
    for lean in (True, False):
        transport = httpx.ASGITransport(app=build_app(node, lean=lean))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", auth=signer) as http:
            for method, path, name in CALLS:
                r = await http.request(method, path, params={"api-version": "2025-03-13"}, json={})
                assert r.status_code == 501, (method, path, r.text)
                assert r.json() == {
                    "error": {
                        "code": "NotImplemented",
                        "message": f"{name} is not supported by this Telex server yet.",
                    }
                }
                assert r.headers["x-ms-error-code"] == "NotImplemented"
            # A missing resource of an API Telex has is still a 404.
            r = await http.get("/chat/nope")
            assert r.status_code == 404 and r.json()["error"]["code"] == "NotFound"


def test_prefixes_match_whole_segments() -> None:
    assert unsupported_api("/rooms") == "Rooms"
    assert unsupported_api("/roomsx") is None
    assert unsupported_api("/chat/threads") is None
    assert unsupported_api("/calling/calls/x") is None  # Telex's own calling API
    assert all(prefix.startswith("/") and not prefix.endswith("/") for prefix, _ in NOT_YET)


def _routes(routes: Iterable[BaseRoute]) -> Iterator[tuple[str, str]]:
    """(method, path) of every route, through included routers (FastAPI keeps them nested)."""
    for route in routes:
        nested = getattr(route, "original_router", None)
        if nested is not None:
            yield from _routes(nested.routes)
        elif isinstance(route, Route) and route.methods:
            yield from ((m, route.path) for m in route.methods if m != "HEAD")


def _example(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


async def test_every_registered_route_still_answers_itself(node: Node) -> None:
    """No path of any route (FastAPI's or a hot one), in any method it has, gets the 501."""
    app = build_app(node)
    assert app.lean is not None
    routes = [*_routes(app.routes), *app.lean.routes()]
    assert len(routes) > 30
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        for method, path in routes:
            r = await http.request(method, _example(path))
            assert r.status_code != 501, (method, path)
            assert unsupported_api(_example(path)) is None, (method, path)
