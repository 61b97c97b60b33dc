"""The demo tells the media path apart from the call: relay-only on one machine, with a TURN server
that (rightly) refuses loopback peers, shows "no media path" with a hint instead of a green
"Connected" beside an empty tile, and the pages stop signalling after a bounded number of tries."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, Request

from tests.browser.conftest import DEMO_ENV, Console, new_page
from tests.browser.demo import sign_in, start_group_call, wait_state, wait_true
from tests.support.live import LiveServer

pytestmark = pytest.mark.browser

# Connections one page may offer before it gives up (call.js MEDIA_ATTEMPTS), each an offer plus
# a few trickled candidates, and the other page's answers: a generous ceiling on the whole call.
MAX_SIGNALS = 60


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {k: v for k, v in DEMO_ENV.items() if k != "TELEX_TURN__ALLOW_LOOPBACK_PEERS"}
    server = LiveServer(tmp_path_factory.mktemp("strict") / "data", env=env, extra_args=["--demo"])
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _count_signals(page: Page) -> list[int]:
    sent = [0]

    def on_request(request: Request) -> None:
        if request.method == "POST" and request.url.split("?")[0].endswith("/:signal"):
            sent[0] += 1

    page.on("request", on_request)
    return sent


async def test_relay_only_on_one_machine_shows_no_media_path_and_stops_signalling(
    strict_server: LiveServer, browser: Browser, console: Console, artifacts: Path
) -> None:
    a = await new_page(browser, console, "Ada")
    b = await new_page(browser, console, "Bob")
    signals = {"Ada": _count_signals(a), "Bob": _count_signals(b)}
    await sign_in(a, strict_server.http_url, "Ada")
    room = await start_group_call(a)
    await wait_state(a, "Connected")
    await sign_in(b, strict_server.http_url, "Bob", room=room)
    await wait_state(b, "Connected")

    # While it tries, the tiles say so (never a bare "Connected" with an empty video).
    for page in (a, b):
        await wait_true(
            page, "document.querySelector('.participant:not(.local)')?.dataset.media !== undefined"
        )

    # Then: no media path, on both sides, with the hint that explains one machine and relay-only.
    for page in (a, b):
        await wait_true(
            page,
            "document.querySelector('.participant:not(.local)')?.dataset.media === 'failed'",
            timeout=120,
        )
        assert await page.get_attribute("#media-state", "data-media") == "failed"
        assert "no media path" in (await page.text_content(".participant:not(.local) .state") or "")
        assert await page.is_visible("#media-hint")
        hint = await page.text_content("#media-hint-text") or ""
        assert "turn.allow_loopback_peers" in hint and "docs/browser-sdk.md" in hint
        # The call itself is still up (signalling, chat): only the media path failed.
        assert await page.get_attribute("#call-state", "data-state") == "Connected"
    await b.screenshot(path=str(artifacts / "demo-no-media-path.png"))

    total = {name: sent[0] for name, sent in signals.items()}
    assert sum(total.values()) <= MAX_SIGNALS, total
    # And it has stopped: nothing more goes out (the bug sent ~30 signals a second, for ever).
    await asyncio.sleep(3)
    assert {name: sent[0] for name, sent in signals.items()} == total
    await a.context.close()
    await b.context.close()
