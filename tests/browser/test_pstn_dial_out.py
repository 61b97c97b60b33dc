"""A browser dials a phone number: headless Chromium, with the browser SDK (``/sdk/telex.js``),
calls ``startCall([{ phoneNumber }], { alternateCallerId })``; sipp is the carrier (a UAS that
challenges with 401 and checks the trunk's digest credentials, sends early media, answers and
echoes RTP). The page's audio reaches sipp and comes back to the page, in G.711 end to end (the
gateway's participant prefers PCMU/PCMA, and Chromium has them), and the page's hang-up is the
BYE sipp waits for. Before that, a destination the trunk does not allow is refused with a clear
error on the page and nothing reaches the carrier.

The Telex node runs in this process so that the test can read its gateway's counters.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import math
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser

pytest.importorskip("aiortc")

from telex.app import Node
from telex.core.clock import SystemClock
from telex.numbers.model import Capability
from telex.pstn import PstnGateway
from tests.browser.conftest import MEDIA_FLAGS, Console, chromium_path, new_page
from tests.browser.demo import wait_true
from tests.calling.conftest import user_maker
from tests.conftest import make_settings
from tests.pstn.conftest import TRUNK, own
from tests.sip.sipp_peer import free_port, require_sipp, run_sipp, wait_bound
from tests.support.serve import running
from tests.support.wav import write_wav

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]

TARGET = "+15551230000"
ABROAD = "+442079460000"  # outside the trunk's allowed prefixes

# The SDK's modules, from the node's own origin (served at /sdk/).
IMPORT = 'import * as telex from "/sdk/telex.js"; window.telex = telex;'

DIAL_JS = """async ({ token, target, callerId }) => {
  const client = new window.telex.TelexClient(location.origin, token);
  window.agent ??= await client.calling.createCallAgent({ displayName: "Ada" });
  try {
    window.call = await window.agent.startCall([{ phoneNumber: target }], {
      alternateCallerId: { phoneNumber: callerId }, relayOnly: true,
    });
    return { ok: true };
  } catch (e) {
    return { ok: false, code: String(e.code ?? e.name), message: String(e.message) };
  }
}"""

PLAY_JS = """() => {
  const audio = new Audio();
  audio.srcObject = window.call.remoteParticipants[0].mediaStream;
  window.speaker = audio;
  return audio.play();
}"""

# Inbound and outbound audio of the page's one peer connection (the phone participant's).
STATS_JS = """async () => {
  const out = { packetsIn: 0, energyIn: 0, codecIn: null, packetsOut: 0, codecOut: null };
  for (const [, report] of await window.call.getStats()) {
    report.forEach((r) => {
      if (r.kind !== "audio") return;
      if (r.type === "inbound-rtp") {
        out.packetsIn += r.packetsReceived || 0;
        out.energyIn += r.totalAudioEnergy || 0;
        out.codecIn = report.get(r.codecId)?.mimeType ?? null;
      }
      if (r.type === "outbound-rtp") {
        out.packetsOut += r.packetsSent || 0;
        out.codecOut = report.get(r.codecId)?.mimeType ?? null;
      }
    });
  }
  return out;
}"""


@dataclass
class World:
    node: Node
    url: str
    number: str
    carrier_port: int
    key: bytes

    @property
    def gateway(self) -> PstnGateway:
        assert self.node.pstn is not None
        return self.node.pstn


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    carrier_port = free_port()
    # A real TLS port: browsers refuse a relay configuration with a "turns:…:0" URL.
    turn = {
        "port": free_port(socket.SOCK_DGRAM), "tls_port": free_port(socket.SOCK_STREAM),
        "allow_loopback_peers": True, "tcp": False,
    }  # fmt: skip
    trunk = {**TRUNK, "port": carrier_port, "prefixes": ["+1"]}
    settings = make_settings(
        tmp_path, turn=turn, calling={"max_participants": 6},
        sip={"udp_port": 0, "tcp_port": 0, "digest_algorithms": ["MD5"], "trunks": [trunk]},
    )  # fmt: skip
    node = await Node.open(settings, SystemClock())
    try:
        async with running(node, turn=True) as url:
            number = await own(node, Capability.INBOUND_OUTBOUND, "425")
            yield World(node, url, number, carrier_port, node.keyring.state.primary_key)
    finally:
        await node.close()


async def page_stats(page: Any) -> dict[str, Any]:
    result: dict[str, Any] = await page.evaluate(STATS_JS)
    return result


def tone_wav(path: Path) -> Path:
    """The page's microphone: a steady 440 Hz tone, 48 kHz mono (looped by Chromium)."""
    pcm = array.array("h", (int(8000 * math.sin(2 * math.pi * 440 * i / 48000)) for i in range(48000)))
    return write_wav(path, pcm.tobytes(), 48000)


@contextlib.asynccontextmanager
async def chromium_with_microphone(playwright: Any, wav: Path) -> AsyncIterator[Browser]:
    """Headless Chromium whose microphone plays ``wav`` (looped) and which plays remote audio."""
    args = [
        *MEDIA_FLAGS,
        f"--use-file-for-fake-audio-capture={wav}",
        "--autoplay-policy=no-user-gesture-required",
    ]
    browser: Browser = await playwright.chromium.launch(
        executable_path=chromium_path(), headless=True, args=args
    )
    try:
        yield browser
    finally:
        await browser.close()


@pytest.fixture
async def chromium(playwright: Any, tmp_path: Path) -> AsyncIterator[Browser]:
    async with chromium_with_microphone(playwright, tone_wav(tmp_path / "tone.wav")) as browser:
        yield browser


async def test_chromium_dials_a_phone_through_sipp(
    world: World, chromium: Browser, console: Console, tmp_path: Path
) -> None:
    require_sipp()
    user = await user_maker(world.url, world.key)("voip")
    page = await new_page(chromium, console, "Ada")
    # Any document of the node's origin (a page that Playwright made up would not be allowed to
    # reach loopback): the SDK's entry point itself, shown as text, with the SDK imported into it.
    await page.goto(f"{world.url}/sdk/telex.js")
    await page.add_script_tag(content=IMPORT, type="module")
    await wait_true(page, "window.telex !== undefined", timeout=10)

    run = asyncio.create_task(
        run_sipp(
            "../../pstn/sipp/carrier_answers.xml", cwd=tmp_path, sip_port=world.carrier_port,
            media_port=free_port(even=True), extra=["-rtp_echo"], limit=40,
        )
    )  # fmt: skip
    await wait_bound(world.carrier_port)

    # A destination no trunk allows: a clear error on the page, and no INVITE leaves.
    refused = await page.evaluate(DIAL_JS, {"token": user.token, "target": ABROAD, "callerId": world.number})
    assert refused["ok"] is False and "No trunk" in refused["message"], refused
    assert world.gateway.ua.counters.received == 0 and not world.gateway.calls and not world.gateway.finished

    placed = await page.evaluate(DIAL_JS, {"token": user.token, "target": TARGET, "callerId": world.number})
    assert placed == {"ok": True}
    await wait_true(page, "window.call.state === 'Connected'", timeout=20)
    # Played out, as a person would hear it (Chromium measures the received audio's energy only
    # for audio it plays).
    await wait_true(page, "window.call.remoteParticipants[0]?.mediaStream != null", timeout=20)
    await page.evaluate(PLAY_JS)
    # Audio both ways: the page's microphone (the tone file) goes through the gateway
    # to sipp, which echoes it; the page receives it back, with sound in it.
    s: dict[str, Any] = {}
    try:
        async with asyncio.timeout(20):
            while not (s.get("packetsIn", 0) > 100 and s.get("energyIn", 0) > 0):
                await asyncio.sleep(0.25)
                s = await page_stats(page)
    except TimeoutError:
        raise AssertionError(f"no audio came back: {s}") from None
    assert s["codecIn"] == s["codecOut"] == "audio/PCMU", s  # G.711 on the WebRTC leg too
    (call,) = world.gateway.calls.values()
    assert call.bridge is not None and call.bridge.frames_to_trunk > 50  # the page, sent to sipp
    session = call.bridge.rtp.session
    assert session is not None and session.stats.received_packets > 50  # and echoed back

    await page.evaluate("window.call.hangUp()")
    result = await run
    assert result.returncode == 0, result.output + result.logs
    assert ABROAD not in result.logs and result.logs.count("INVITE sip:") == 2  # challenged, then sent
