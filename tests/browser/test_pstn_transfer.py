"""A phone call comes in and ends up in a browser: the carrier (Telex's own SIP user agent, with
digest authentication) calls a purchased number, a Call Automation application answers it with
the official SDK and transfers the caller to a user whose headless Chromium page (the browser
SDK, ``/sdk/telex.js``) accepts. Audio crosses both ways between the trunk and the page: the
page's microphone is a file of DTMF "6" tones, which the carrier finds in the RTP it receives,
and the carrier's tones reach the page as played audio with energy in it. The page's hang-up is
a BYE to the carrier.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser

pytest.importorskip("aiortc")

from azure.communication.callautomation import CommunicationUserIdentifier

from telex.automation.media.dtmf import tones_pcm
from telex.sip import EndCause
from tests.automation.conftest import Receiver
from tests.browser.conftest import Console, new_page
from tests.browser.demo import wait_true
from tests.browser.test_pstn_dial_out import IMPORT, PLAY_JS, chromium_with_microphone, page_stats
from tests.pstn.carrier import carrier
from tests.pstn.conftest import PstnWorld, answered_by_bot, pstn_world, receiver
from tests.support.live import free_port
from tests.support.wav import write_wav

__all__ = ["receiver"]  # the webhook receiver fixture, used here

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

# The page answers the first call that rings it, with its (fake) microphone, relayed.
ANSWER_JS = """async ({ token }) => {
  const client = new window.telex.TelexClient(location.origin, token);
  const agent = await client.calling.createCallAgent({ displayName: "Agent" });
  agent.on("incomingCall", async ({ incomingCall }) => {
    window.caller = incomingCall.callerInfo.identifier;
    window.call = await incomingCall.accept({ audio: true, relayOnly: true });
  });
  window.agent = agent;
}"""


def dtmf_wav(path: Path) -> Path:
    """The page's microphone: "6" for 0.3 s, then 0.2 s of silence, 48 kHz mono (looped)."""
    pcm = tones_pcm("6", rate=48000, on=0.3, off=0.2)
    return write_wav(path, pcm, 48000)


@pytest.fixture
async def world(tmp_path: Path, receiver: Receiver) -> AsyncIterator[PstnWorld]:
    # A real TLS port: browsers refuse a relay configuration with a "turns:…:0" URL.
    turn = {"tls_port": free_port(socket.SOCK_STREAM)}
    async with pstn_world(tmp_path, receiver, turn=turn) as w:
        yield w


@pytest.fixture
async def chromium(playwright: Any, tmp_path: Path) -> AsyncIterator[Browser]:
    async with chromium_with_microphone(playwright, dtmf_wav(tmp_path / "six.wav")) as browser:
        yield browser


async def sdk(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kwargs)


async def test_a_bot_transfers_a_phone_caller_to_a_chromium_user(
    world: PstnWorld, chromium: Browser, console: Console
) -> None:
    agent = await world.make_user("voip")
    page = await new_page(chromium, console, "Agent")
    # Any document of the node's origin, with the SDK imported into it.
    await page.goto(f"{world.url}/sdk/telex.js")
    await page.add_script_tag(content=IMPORT, type="module")
    await wait_true(page, "window.telex !== undefined", timeout=10)
    await page.evaluate(ANSWER_JS, {"token": agent.token})
    async with carrier(world.sip_port) as c:
        _, connection = await answered_by_bot(world, c)
        await sdk(connection.transfer_call_to_participant, CommunicationUserIdentifier(agent.id))
        await world.receiver.wait_type("CallTransferAccepted", connection._call_connection_id)
        await wait_true(page, "window.call?.state === 'Connected'", timeout=30)
        caller = await page.evaluate("window.caller")
        assert caller["kind"] == "phoneNumber" and caller["rawId"].startswith("4:+"), caller
        await wait_true(page, "window.call.remoteParticipants[0]?.mediaStream != null", timeout=20)
        await page.evaluate(PLAY_JS)
        assert c.rtp is not None
        s: dict[str, Any] = {}
        try:
            async with asyncio.timeout(30):
                # The page's microphone reaches the trunk; the carrier's tones reach the page.
                while "6" not in c.heard or not (s.get("packetsIn", 0) > 50 and s.get("energyIn", 0) > 0):
                    c.rtp.send_audio(tones_pcm("4", rate=8000, on=0.2))
                    await asyncio.sleep(0.4)
                    s = await page_stats(page)
        except TimeoutError:
            raise AssertionError(f"audio did not cross: heard {c.heard}, page {s}") from None
        assert s["codecIn"] == s["codecOut"] == "audio/PCMU", s  # G.711 on the WebRTC leg too
        await page.evaluate("window.call.hangUp()")
        ended = await c.ended()
        assert (ended.cause, ended.by_remote) == (EndCause.REMOTE_HUNG_UP, True)
