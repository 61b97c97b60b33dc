"""A web app on another origin uses Telex from Chromium: the usual case, since the customer's app is
not served by Telex. The app's page loads the browser SDK from the Telex server, chats (REST and
/realtime) and joins a call; plain ``fetch`` works too. A page from an origin not on
``http.allowed_origins`` is refused on REST and on the WebSocket, and the refusal names it.

One small static server plays the customer's app; ``http://127.0.0.1:P`` and ``http://localhost:P``
are two origins of it: the first is allowed, the second is not.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page

from tests.browser.conftest import DEMO_ENV, Console, new_page
from tests.browser.demo import wait_true
from tests.support.live import LiveServer
from tests.support.signing import HmacSigner

pytestmark = pytest.mark.browser

PAGE = "<!doctype html><meta charset='utf-8'><title>Customer app</title><body>app</body>"


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def app_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    root = tmp_path_factory.mktemp("app")
    (root / "index.html").write_text(PAGE)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def telex(app_port: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {**DEMO_ENV, "TELEX_HTTP__ALLOWED_ORIGINS": f"http://127.0.0.1:{app_port}"}
    server = LiveServer(tmp_path_factory.mktemp("telex") / "data", env=env)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def _user(telex: LiveServer) -> dict[str, Any]:
    signer = HmacSigner(base64.b64decode(telex.access_key))
    async with httpx.AsyncClient(base_url=telex.http_url, auth=signer) as http:
        r = await http.post("/identities", json={"createTokenWithScopes": ["chat", "voip"]})
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return {"id": body["identity"]["id"], "token": body["accessToken"]["token"]}


async def _open_app(
    browser: Browser, console: Console, name: str, origin: str, telex: LiveServer, token: str
) -> Page:
    """The customer's page at ``origin``, with a TelexClient made from the SDK Telex serves."""
    page = await new_page(browser, console, name)
    await page.goto(f"{origin}/index.html")
    await page.evaluate(
        """async ([telex, token]) => {
          const sdk = await import(`${telex}/sdk/telex.js`);
          window.app = { sdk, client: new sdk.TelexClient(telex, token), received: [] };
        }""",
        [telex.http_url, token],
    )
    return page


async def test_an_app_on_another_origin_chats_and_calls_through_the_sdk(
    telex: LiveServer, app_port: int, browser: Browser, console: Console
) -> None:
    origin = f"http://127.0.0.1:{app_port}"
    ada, bob = await _user(telex), await _user(telex)
    a = await _open_app(browser, console, "Ada", origin, telex, ada["token"])
    b = await _open_app(browser, console, "Bob", origin, telex, bob["token"])

    # Chat: Bob listens on /realtime; Ada creates a thread with him and sends a message (REST).
    await b.evaluate(
        """async () => {
          app.client.chat.on("chatMessageReceived", (m) => app.received.push(m.message));
          await app.client.chat.startRealtimeNotifications();
        }"""
    )
    thread_id = await a.evaluate(
        """async (bob) => {
          const bobs = [{ id: { communicationUserId: bob }, displayName: "Bob" }];
          const topic = { topic: "cross-origin" };
          const created = await app.client.chat.createChatThread(topic, { participants: bobs });
          const id = created.chatThread.id;
          await app.client.chat.getChatThreadClient(id).sendMessage({ content: "hello from another origin" });
          return id;
        }""",
        bob["id"],
    )
    await wait_true(b, "app.received.includes('hello from another origin')")

    # Plain fetch with the token, reading a response header the SDKs need (Expose-Headers).
    fetched = await a.evaluate(
        """async ([telex, token, id]) => {
          const url = `${telex}/chat/threads/${encodeURIComponent(id)}/messages?api-version=2024-03-07`;
          const headers = { authorization: `Bearer ${token}`, "x-ms-client-request-id": "app-1" };
          const r = await fetch(url, { headers });
          const body = await r.json();
          return { status: r.status, requestId: r.headers.get("x-ms-client-request-id"),
                   texts: body.value.map((m) => m.content?.message) };
        }""",
        [telex.http_url, ada["token"], thread_id],
    )
    assert fetched["status"] == 200 and fetched["requestId"] == "app-1"
    assert "hello from another origin" in fetched["texts"]

    # A call: both join a group call relay-only through Telex TURN; media connects both ways.
    join = """async (group) => {
      const agent = await app.client.calling.createCallAgent({ displayName: "app" });
      window.app.call = await agent.join({ groupId: group }, { audio: true, video: false, relayOnly: true });
    }"""
    group = "5a1f9b0e-3c0d-4b5e-9f1a-0c2b7d6e8f90"
    await a.evaluate(join, group)
    await b.evaluate(join, group)
    for page in (a, b):
        await wait_true(page, "app.call.remoteParticipants[0]?.mediaState === 'connected'", timeout=60)
    for page in (a, b):
        await page.evaluate("app.call.hangUp()")
        await page.context.close()


async def test_an_origin_not_on_the_list_is_refused_on_rest_and_websocket(
    telex: LiveServer, app_port: int, browser: Browser, console: Console
) -> None:
    origin = f"http://localhost:{app_port}"  # the same app, but not the listed origin
    user = await _user(telex)
    page = await new_page(browser, console, "Mallory")
    await page.goto(f"{origin}/index.html")
    outcome = await page.evaluate(
        """async ([telex, token]) => {
          const out = {};
          try {
            await fetch(`${telex}/chat/threads`, { headers: { authorization: `Bearer ${token}` } });
            out.fetch = "answered";
          } catch (err) {
            out.fetch = err.name;  // a CORS refusal is a TypeError, the response hidden from the page
          }
          out.socket = await new Promise((resolve) => {
            const ws = new WebSocket(`${telex.replace("http", "ws")}/realtime`);
            ws.onopen = () => resolve("open");
            ws.onclose = (e) => resolve(`closed ${e.code}`);
          });
          return out;
        }""",
        [telex.http_url, user["token"]],
    )
    assert outcome == {"fetch": "TypeError", "socket": "closed 1006"}
    # What Chromium tells the developer names the origin; so does the server's log.
    logged = "\n".join(console.lines["Mallory"])
    assert f"from origin '{origin}' has been blocked by CORS policy" in logged
    assert "403" in logged  # the WebSocket handshake's answer
    await _until(lambda: f"refused a request from origin {origin}" in telex.stderr_text())
    await page.context.close()


async def _until(check: Any, timeout: float = 5.0) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            while not check():
                await asyncio.sleep(0.05)
    assert check()
