"""The demo in headless Chromium: group calls through Telex TURN, 1:1 calls, a Python participant.

Two pages are two browser contexts of one Chromium (separate cookies, storage and peer
connections, one process: a 2-party call already takes half a core here).
"""

from __future__ import annotations

import asyncio
import math
import signal
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page

from telex.client.calling import CallClient
from tests.browser.conftest import DEMO_ENV, Console, new_page
from tests.browser.demo import (
    assert_relayed,
    sign_in,
    start_group_call,
    stats,
    wait_media_flowing,
    wait_state,
    wait_true,
)
from tests.support.apiversions import async_hooks
from tests.support.live import LiveServer

pytestmark = pytest.mark.browser

TIMEOUT = 30_000  # ms, for Playwright waits
PINGED = "/\\d+(\\.\\d+)?\\s*ms/.test(document.querySelector('#ping-result').textContent)"


def _tone(seconds: float = 60.0, hz: float = 440.0) -> Iterator[bytes]:
    """20 ms frames of a 440 Hz tone, s16 mono 48 kHz."""
    n = 0
    for _ in range(int(seconds * 50)):
        yield b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * hz * (n + i) / 48000))) for i in range(960)
        )
        n += 960


async def _page_token(page: Page) -> str:
    """A fresh token for the page's user, from the demo service (its session cookie)."""
    body: dict[str, str] = await page.evaluate(
        "fetch('/demo/api/token', {method: 'POST'}).then((r) => r.json())"
    )
    return body["token"]


async def _call_on_server(server: LiveServer, token: str, call_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(event_hooks=async_hooks(), base_url=server.http_url) as http:
        r = await http.get(f"/calling/calls/{call_id}", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body


async def _relay_allocations(server: LiveServer) -> float:
    async with httpx.AsyncClient(event_hooks=async_hooks(), base_url=server.admin_url) as http:
        text = (await http.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith("telex_turn_allocations "):
            return float(line.split()[1])
    raise AssertionError("no telex_turn_allocations metric")


async def _two_in_a_group_call(url: str, browser: Browser, console: Console) -> tuple[Page, Page, str]:
    """Ada starts a group call from the demo, Bob opens its link; both see each other connected."""
    a = await new_page(browser, console, "Ada")
    b = await new_page(browser, console, "Bob")
    await sign_in(a, url, "Ada")
    room = await start_group_call(a)
    await wait_state(a, "Connected")
    await sign_in(b, url, "Bob", room=room)
    await wait_state(b, "Connected")
    for page in (a, b):
        await page.wait_for_selector(".participant:not(.local)[data-state='Connected']", timeout=TIMEOUT)
    return a, b, room


async def test_two_browsers_talk_chat_and_ping_through_telex_turn(
    demo_server: LiveServer, browser: Browser, console: Console, artifacts: Path
) -> None:
    a, b, _ = await _two_in_a_group_call(demo_server.http_url, browser, console)

    # Media both ways, relay to relay: only Telex's TURN server can have carried it.
    for page in (a, b):
        flowing = await wait_media_flowing(page, remotes=1)
        for peer in flowing.values():
            assert_relayed(peer)
            assert peer["framesDecoded"] > 0
    assert await _relay_allocations(demo_server) >= 2

    # A data-channel ping each way shows a round-trip time.
    for page in (a, b):
        await page.click("#ping")
        await wait_true(
            page, "/\\d+(\\.\\d+)?\\s*ms/.test(document.querySelector('#ping-result').textContent)"
        )

    # Mute shows on the other side, and so does unmute.
    await a.click("#mute")
    await b.wait_for_selector(".participant:not(.local)[data-muted='true']", timeout=TIMEOUT)
    await a.click("#mute")
    await b.wait_for_selector(".participant:not(.local)[data-muted='false']", timeout=TIMEOUT)

    # The chat panel is the room's thread: a message from one arrives live at the other.
    await a.fill("#chat-input", "hello from Ada")
    await a.click("#chat-send")
    await wait_true(
        b,
        "[...document.querySelectorAll('#chat-messages .chat-message')]"
        ".some((m) => m.textContent.includes('hello from Ada'))",
    )

    # Bob joining the room's thread after Ada showed up live in her chat panel.
    await wait_true(
        a,
        "[...document.querySelectorAll('#chat-messages .chat-message.system')]"
        ".some((m) => m.textContent.includes('Bob joined'))",
    )

    shot = artifacts / "demo-call.png"
    await b.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000

    # The caller ends the call for everyone: both pages end, with the reason, as does the server.
    call_id = await a.evaluate("window.telexDemo.call.id")
    await a.click("#end-for-everyone")
    for page in (a, b):
        await wait_state(page, "Disconnected")
        assert (await page.text_content("#call-end-reason") or "").strip() == "endedForEveryone"
    call = await _call_on_server(demo_server, await _page_token(b), call_id)
    assert call["state"] == "ended"
    assert call["callEndReason"] == "endedForEveryone"
    await a.context.close()
    await b.context.close()


async def test_a_declined_one_to_one_call_ends_declined_on_both_sides(
    demo_server: LiveServer, browser: Browser, console: Console
) -> None:
    url = demo_server.http_url
    a = await new_page(browser, console, "Ada")
    b = await new_page(browser, console, "Bob")
    ada = await sign_in(a, url, "Ada")
    bob = await sign_in(b, url, "Bob")
    await a.fill("#callee-id", bob)
    await a.click("#call-user")
    await b.wait_for_selector("#incoming-call", state="visible", timeout=TIMEOUT)
    call_id = await a.evaluate("window.telexDemo.call.id")
    await b.click("#incoming-decline")
    await wait_state(a, "Disconnected")
    assert (await a.text_content("#call-end-reason") or "").strip() == "declined"
    await b.wait_for_selector("#incoming-call", state="hidden", timeout=TIMEOUT)
    call = await _call_on_server(demo_server, await _page_token(b), call_id)
    assert call["state"] == "ended"
    reasons = {p["identifier"]["rawId"]: p["callEndReason"] for p in call["participants"]}
    assert reasons == {ada: "declined", bob: "declined"}, call
    await a.context.close()
    await b.context.close()


async def test_a_python_participant_hears_two_browsers_and_they_hear_it(
    demo_server: LiveServer, browser: Browser, console: Console
) -> None:
    url = demo_server.http_url
    a, b, room = await _two_in_a_group_call(url, browser, console)
    async with httpx.AsyncClient(event_hooks=async_hooks(), base_url=url) as http:
        bot = (await http.post("/demo/api/session", json={"displayName": "bot"})).json()
    browsers = {await page.evaluate("window.telexDemo.call.participantId") for page in (a, b)}
    async with CallClient(url, bot["token"], display_name="bot") as client:
        call = await client.join(room, audio=_tone())

        def heard(c: Any) -> set[str]:
            return {pid for pid, p in c.participants.items() if p.audio_frames_received > 25}

        async with asyncio.timeout(45):
            await call.wait_for(lambda c: len(heard(c)) >= 2)
        assert heard(call) == browsers
        # Each browser receives the bot's audio (it sends no video).
        for page in (a, b):
            async with asyncio.timeout(30):
                while (await stats(page)).get(call.participant_id, {}).get("audio", 0) <= 50:
                    await asyncio.sleep(0.25)
        # One browser leaves: the call goes on for the others.
        bob = await b.evaluate("window.telexDemo.call.participantId")
        await b.click("#hang-up")
        await wait_state(b, "Disconnected")
        assert (await b.text_content("#call-end-reason") or "").strip() == "hungUp"
        async with asyncio.timeout(15):
            await call.wait_for(lambda c: c.participants[bob].state == "disconnected")
        assert call.state == "connected"
        gone = f".participant[data-participant-id='{bob}']"
        await a.wait_for_selector(gone, state="detached", timeout=TIMEOUT)
        await call.hang_up()
    await a.context.close()
    await b.context.close()


async def test_a_page_stays_in_past_the_keep_alive_timeout_and_leaves_when_closed(
    demo_server: LiveServer, browser: Browser, console: Console
) -> None:
    a, b, _ = await _two_in_a_group_call(demo_server.http_url, browser, console)
    bob = await b.evaluate("window.telexDemo.call.participantId")
    tile = f".participant[data-participant-id='{bob}']"
    await asyncio.sleep(8)  # longer than the server's 6 s keep-alive timeout
    assert await a.get_attribute(tile, "data-state") == "Connected"
    await wait_state(b, "Connected")
    # Closing the tab leaves the call (a keepalive fetch on pagehide, or else the keep-alive
    # timeout): Ada sees Bob go; the call goes on with her.
    await b.close()
    await a.wait_for_selector(tile, state="detached", timeout=TIMEOUT)
    await wait_state(a, "Connected")
    call_id = await a.evaluate("window.telexDemo.call.id")
    call = await _call_on_server(demo_server, await _page_token(a), call_id)
    reasons = {p["participantId"]: p.get("callEndReason") for p in call["participants"]}
    # pagehide's keepalive request is what ended it here; the timeout is the fallback.
    assert reasons[bob] in ("hungUp", "connectionLost"), reasons
    await a.context.close()


async def test_media_comes_back_after_the_server_is_killed_and_restarted(
    tmp_path: Path, browser: Browser, console: Console
) -> None:
    # Its own server: this test kills it. The TURN allocations die with it, so both media paths
    # break while both participants stay in the call (they are in the database).
    server = LiveServer(tmp_path / "data", env=DEMO_ENV, extra_args=["--demo"]).start()
    try:
        a, b, _ = await _two_in_a_group_call(server.http_url, browser, console)
        for page in (a, b):
            await wait_media_flowing(page, remotes=1)
        server.stop(signal.SIGKILL)
        server.start(attempts=1)  # the same ports: the pages' URLs and ICE servers still hold
        # The later joiner (Bob) starts the connection over; Ada answers; media flows again.
        for page in (a, b):
            flowing = await wait_media_flowing(page, remotes=1, timeout=60)
            for peer in flowing.values():
                assert_relayed(peer)
        await wait_state(a, "Connected")
        await wait_state(b, "Connected")
        await a.context.close()
        await b.context.close()
    finally:
        server.stop()


async def test_denied_camera_and_microphone_show_a_clear_error(
    demo_server: LiveServer, playwright: Any, console: Console
) -> None:
    from tests.browser.conftest import launch

    denying = await launch(playwright, fake_ui=False)
    try:
        page = await new_page(denying, console, "Ada")
        await sign_in(page, demo_server.http_url, "Ada")
        await page.click("#new-call")
        await page.wait_for_selector("#error-banner", state="visible", timeout=TIMEOUT)
        text = (await page.text_content("#error-banner") or "").lower()
        assert "permission" in text and ("camera" in text or "microphone" in text), text
    finally:
        await denying.close()


async def test_the_sdk_refuses_an_expired_token_without_a_refresher(
    demo_server: LiveServer, browser: Browser, console: Console
) -> None:
    page = await new_page(browser, console, "sdk")
    await page.goto(demo_server.http_url + "/sdk/telex.js")
    code = await page.evaluate(
        """async () => {
          const sdk = await import('/sdk/telex.js');
          const b64 = (o) =>
            btoa(JSON.stringify(o)).replace(/=+$/, '').replace(/\\+/g, '-').replace(/\\//g, '_');
          const expired = `${b64({alg: 'ES256', typ: 'JWT'})}.${b64({exp: 1000, skypeid: 'x'})}.c2ln`;
          const credential = new sdk.AccessTokenCredential({ token: expired });
          const client = new sdk.TelexClient(location.origin, credential);
          try { await client.calling.createCallAgent({ displayName: 'x' }); return 'no error'; }
          catch (e) { return `${e.name}:${e.code}`; }
        }"""
    )
    assert code == "TelexError:TokenExpired"
