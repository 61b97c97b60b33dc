"""Driving the demo page the way a person does, and reading what the page knows (for checks)."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs, urlparse

from playwright.async_api import Page

# Per remote participant: inbound audio and video packets and the selected candidate pair's types.
STATS_JS = """async () => {
  const stats = await window.telexDemo.call.getStats();
  const entries = stats instanceof Map ? [...stats.entries()] : Object.entries(stats);
  const out = {};
  for (const [pid, report] of entries) {
    const s = { audio: 0, video: 0, framesDecoded: 0, local: null, remote: null };
    report.forEach((r) => {
      if (r.type === "inbound-rtp" && r.kind === "audio") s.audio += r.packetsReceived || 0;
      if (r.type === "inbound-rtp" && r.kind === "video") {
        s.video += r.packetsReceived || 0;
        s.framesDecoded += r.framesDecoded || 0;
      }
      if (r.type === "transport" && r.selectedCandidatePairId) {
        const pair = report.get(r.selectedCandidatePairId);
        if (pair) {
          s.local = report.get(pair.localCandidateId)?.candidateType ?? null;
          s.remote = report.get(pair.remoteCandidateId)?.candidateType ?? null;
        }
      }
    });
    out[pid] = s;
  }
  return out;
}"""


def assert_relayed(peer: dict[str, Any]) -> None:
    """The selected candidate pair goes through TURN on both sides. Our side's candidate is a
    relay one; the other side's may show as peer-reflexive when its first check arrived before
    its trickled relay candidate did; it is the same relayed address (both sides are
    relay-only, so they have no other candidates)."""
    assert peer["local"] == "relay" and peer["remote"] in ("relay", "prflx"), peer


async def wait_true(page: Page, expression: str, timeout: float = 30.0) -> None:
    """Poll a JavaScript expression until it is truthy. Playwright's ``wait_for_function`` would
    compile it inside the page, which the demo's Content-Security-Policy (no eval) forbids, and
    the tests keep that policy on so that they also prove the page works under it."""
    async with asyncio.timeout(timeout):
        while not await page.evaluate(expression):
            await asyncio.sleep(0.1)


async def sign_in(page: Page, base_url: str, name: str, room: str | None = None) -> str:
    """Open the demo (relay-only), sign in as ``name``; returns the user id the page shows."""
    query = f"?room={room}&relay=1" if room else "?relay=1"
    await page.goto(base_url + "/" + query)
    await page.fill("#display-name", name)
    await page.click("#sign-in")
    await wait_true(page, "document.querySelector('#my-user-id')?.textContent.startsWith('8:acs:')")
    return (await page.text_content("#my-user-id") or "").strip()


async def start_group_call(page: Page) -> str:
    """Click "new call" and return the room (group id) the page put into its URL."""
    await page.click("#new-call")
    await wait_true(page, "new URLSearchParams(location.search).has('room')")
    return parse_qs(urlparse(page.url).query)["room"][0]


async def wait_state(page: Page, state: str, timeout: float = 20_000) -> None:
    await page.wait_for_selector(f"#call-state[data-state='{state}']", state="attached", timeout=timeout)


async def remote_tiles(page: Page) -> list[dict[str, str | None]]:
    tiles = await page.query_selector_all(".participant:not(.local)")
    out = []
    for tile in tiles:
        out.append(
            {
                "id": await tile.get_attribute("data-participant-id"),
                "state": await tile.get_attribute("data-state"),
                "muted": await tile.get_attribute("data-muted"),
                "video": await tile.get_attribute("data-video"),
            }
        )
    return out


async def stats(page: Page) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = await page.evaluate(STATS_JS)
    return result


async def wait_media_flowing(page: Page, remotes: int, timeout: float = 30.0) -> dict[str, dict[str, Any]]:
    """Poll getStats until every one of ``remotes`` peers shows inbound audio and video packets that
    keep increasing (the first packets may arrive well after ``connected``)."""
    last: dict[str, dict[str, Any]] = {}
    try:
        async with asyncio.timeout(timeout):
            while True:
                first = last = await stats(page)
                if len(first) >= remotes and all(s["audio"] > 0 and s["video"] > 0 for s in first.values()):
                    await asyncio.sleep(1.0)
                    second = last = await stats(page)
                    if all(
                        second[pid]["audio"] > s["audio"] and second[pid]["video"] > s["video"]
                        for pid, s in first.items()
                    ):
                        return second
                await asyncio.sleep(0.25)
    except TimeoutError:
        raise AssertionError(f"media did not flow from {remotes} peer(s); last stats: {last}") from None
