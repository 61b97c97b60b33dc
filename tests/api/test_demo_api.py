"""``serve --demo``: the sample trusted service signs visitors in, refreshes their tokens through
a session cookie and puts everyone in a room into the room's chat thread."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from telex.app import Node, build_app
from telex.core.clock import SystemClock
from tests.conftest import make_settings
from tests.support.apiversions import async_hooks

CHAT = "?api-version=2021-09-07"


async def _open(tmp_path: Path, demo: bool = True) -> Node:
    return await Node.open(make_settings(tmp_path, demo={"enabled": demo}), SystemClock())


@pytest.fixture
async def demo_node(tmp_path: Path) -> AsyncIterator[Node]:
    node = await _open(tmp_path)
    try:
        yield node
    finally:
        await node.close()


@pytest.fixture
def app(demo_node: Node) -> FastAPI:
    return build_app(demo_node)


def _browser(app: FastAPI) -> httpx.AsyncClient:
    """A client with its own cookie jar, as one browser is."""
    return httpx.AsyncClient(
        event_hooks=async_hooks(), transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    )


async def _sign_in(client: httpx.AsyncClient, name: str) -> dict[str, str]:
    r = await client.post("/demo/api/session", json={"displayName": name})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_sign_in_gives_a_chat_and_voip_token_and_a_cookie_only_for_the_api(app: FastAPI) -> None:
    async with _browser(app) as browser:
        r = await browser.post("/demo/api/session", json={"displayName": " Ada "})
        assert r.status_code == 200
        body = r.json()
        assert body["displayName"] == "Ada"
        assert body["userId"].startswith("8:acs:")
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/demo/api" in cookie
        auth = {"Authorization": f"Bearer {body['token']}"}
        relay = await browser.post("/networkTraversal/:issueRelayConfiguration", headers=auth, json={})
        assert relay.status_code == 200, relay.text
        threads = await browser.get(f"/chat/threads{CHAT}", headers=auth)
        assert threads.status_code == 200, threads.text


async def test_token_refresh_needs_the_session(app: FastAPI, demo_node: Node) -> None:
    async with _browser(app) as browser, _browser(app) as stranger:
        me = await _sign_in(browser, "Ada")
        r = await browser.post("/demo/api/token")
        assert r.status_code == 200
        principal = await demo_node.verifier.verify(r.json()["token"])
        assert principal.user_id == me["userId"]
        r = await stranger.post("/demo/api/token")
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "Unauthorized"
        tampered = browser.cookies["telex_demo"][:-2] + "AA"
        stranger.cookies.set("telex_demo", tampered)
        r = await stranger.post("/demo/api/token")
        assert r.status_code == 401


async def test_a_deleted_user_cannot_refresh(app: FastAPI, demo_node: Node) -> None:
    async with _browser(app) as browser:
        me = await _sign_in(browser, "Ada")
        await demo_node.identity.delete_user(demo_node.identity.parse_user(me["userId"]))
        r = await browser.post("/demo/api/token")
        assert r.status_code == 401


@pytest.mark.parametrize(
    "body", [{}, {"displayName": ""}, {"displayName": "   "}, {"displayName": "x" * 65}, {"displayName": 7},
             {"displayName": "a\nb"}],
)  # fmt: skip
async def test_bad_names_are_400(app: FastAPI, body: dict[str, object]) -> None:
    async with _browser(app) as browser:
        r = await browser.post("/demo/api/session", json=body)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "ValidationFailed"


async def test_everyone_in_a_room_shares_its_thread_and_its_history(app: FastAPI) -> None:
    room = str(uuid.uuid4())
    async with _browser(app) as a, _browser(app) as b:
        ada = await _sign_in(a, "Ada")
        bob = await _sign_in(b, "Bob")
        r = await a.post(f"/demo/api/rooms/{room}")
        assert r.status_code == 200, r.text
        thread = r.json()["threadId"]
        assert r.json()["groupId"] == room
        ada_auth = {"Authorization": f"Bearer {ada['token']}"}
        sent = await a.post(
            f"/chat/threads/{thread}/messages{CHAT}", headers=ada_auth, json={"content": "before Bob"}
        )
        assert sent.status_code == 201, sent.text
        r = await b.post(f"/demo/api/rooms/{room.upper()}")
        assert r.json()["threadId"] == thread
        bob_auth = {"Authorization": f"Bearer {bob['token']}"}
        messages = (await b.get(f"/chat/threads/{thread}/messages{CHAT}", headers=bob_auth)).json()["value"]
        assert "before Bob" in [m["content"].get("message") for m in messages if m["type"] == "text"]
        other = (await a.post(f"/demo/api/rooms/{uuid.uuid4()}")).json()["threadId"]
        assert other != thread


async def test_rooms_need_a_session_and_a_uuid(app: FastAPI) -> None:
    async with _browser(app) as browser:
        r = await browser.post(f"/demo/api/rooms/{uuid.uuid4()}")
        assert r.status_code == 401
        await _sign_in(browser, "Ada")
        r = await browser.post("/demo/api/rooms/not-a-uuid")
        assert r.status_code == 400
        assert r.json()["error"]["code"] == "ValidationFailed"


async def test_a_room_keeps_its_thread_across_a_restart(tmp_path: Path) -> None:
    room = str(uuid.uuid4())
    threads = []
    for _ in range(2):
        node = await _open(tmp_path)
        try:
            async with _browser(build_app(node)) as browser:
                await _sign_in(browser, "Ada")
                threads.append((await browser.post(f"/demo/api/rooms/{room}")).json()["threadId"])
        finally:
            await node.close()
    assert threads[0] == threads[1]
    assert (tmp_path / "data" / "demo.json").stat().st_mode & 0o077 == 0


async def test_without_demo_there_is_no_demo_page_and_no_sign_in(node: Node) -> None:
    async with _browser(build_app(node)) as browser:
        home = await browser.get("/")  # the small page about this server (tests/api/test_home.py)
        assert home.status_code == 200 and "telex serve --demo" in home.text
        assert (await browser.get("/demo.js")).status_code == 404
        r = await browser.post("/demo/api/session", json={"displayName": "Ada"})
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "NotFound"


async def test_sdk_files_are_served_and_nothing_else(node: Node) -> None:
    async with _browser(build_app(node)) as browser:
        r = await browser.get("/sdk/telex.js")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/javascript")
        for path in ("/sdk/nope.js", "/sdk/..%2Fapp.py", "/sdk/../routes_sdk.py"):
            r = await browser.get(path)
            assert r.status_code == 404, path
