"""A browser calls a bot: headless Chromium on the demo page places a 1:1 call to the IVR
example's identity; the bot (telex.bots, callbacks verified) answers, plays its prompts,
collects ``12#`` — pressed as in-band tones in the page's microphone, a fake-audio WAV — and
transfers the caller to a second Chromium user, who then hears the caller. The call is recorded
through Call Automation; the recording, downloaded with HMAC, holds the bot's prompt and the
caller's keys (found by tone detectors, not by ear).

The Telex node runs in this process (served on loopback with its TURN server) so that its
``IncomingCall`` events reach the bot directly, as an Event Grid subscription would deliver them.
"""

from __future__ import annotations

import array
import asyncio
import io
import math
import socket
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser

from telex.app import Node
from telex.automation.events import INCOMING_CALL, RECORDING_FILE_STATUS
from telex.automation.media.dtmf import DtmfDetector, tones_pcm
from telex.bots import CallAutomation
from telex.core.clock import SystemClock
from telex.events.model import DomainEvent
from tests.automation.test_ivr import load_example, serve
from tests.browser.conftest import MEDIA_FLAGS, Console, chromium_path, new_page
from tests.browser.demo import sign_in, stats, wait_state
from tests.conftest import make_settings
from tests.support.live import free_port
from tests.support.serve import running
from tests.support.wav import write_wav

pytestmark = pytest.mark.browser


def keys_wav(path: Path) -> Path:
    """The caller's microphone: 6 s of silence (the bot answers and plays its welcome), then
    ``12#`` as DTMF tones, then silence: 48 kHz mono 16-bit, played once (``%noloop``)."""
    pcm = (
        bytes(2 * 48000 * 6)
        + tones_pcm("12#", rate=48000, on=0.15, off=0.15, level_dbfs=-8)
        + bytes(2 * 48000 * 20)
    )
    return write_wav(path, pcm, 48000)


class Sink:
    """The node's IncomingCall and RecordingFileStatusUpdated events (a backbone sink)."""

    def __init__(self) -> None:
        self.events: list[DomainEvent] = []

    def committed(self, events: list[DomainEvent]) -> None:
        self.events += [e for e in events if e.type in (INCOMING_CALL, RECORDING_FILE_STATUS)]

    def advanced(self, position: int) -> None: ...

    def ephemeral(self, event: DomainEvent) -> None: ...

    async def wait(self, type_: str, timeout: float = 30) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while not any(e.type == type_ for e in self.events):
                await asyncio.sleep(0.05)
        event = next(e for e in self.events if e.type == type_)
        self.events.remove(event)
        return event.data


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    # A real TLS port: browsers refuse a relay configuration with a "turns:…:0" URL.
    turn = {
        "port": free_port(socket.SOCK_DGRAM),
        "tls_port": free_port(),
        "allow_loopback_peers": True,
        "tcp": False,
    }
    settings = make_settings(
        tmp_path, turn=turn, demo={"enabled": True},
        calling={"keepalive_timeout_seconds": 20, "timer_poll_seconds": 0.5},
        outbound={"allow_http": True, "allowed": ["127.0.0.1"]}, automation={"max_media_sessions": 4},
    )  # fmt: skip
    n = await Node.open(settings, SystemClock())
    try:
        yield n
    finally:
        await n.close()


def tone_windows(pcm: bytes, hz: float, rate: int = 16000) -> int:
    """How many 20 ms windows of ``pcm`` are mostly a ``hz`` tone (Goertzel power vs energy)."""
    n = rate // 50
    coeff = 2 * math.cos(2 * math.pi * hz / rate)
    samples = array.array("h", pcm)
    found = 0
    for start in range(0, len(samples) - n, n):
        block = samples[start : start + n]
        energy = sum(x * x for x in block)
        if energy < n * 100**2:
            continue
        s1 = s2 = 0.0
        for x in block:
            s1, s2 = x + coeff * s1 - s2, s1
        power = s1 * s1 + s2 * s2 - coeff * s1 * s2
        found += 2 * power > 0.5 * n * energy
    return found


async def test_chromium_calls_the_ivr_presses_12_pound_and_is_transferred(
    node: Node, playwright: Any, console: Console, tmp_path: Path
) -> None:
    sink = Sink()
    node.backbone.add_sink(sink)
    ivr = load_example("ivr_bot")
    bot = await node.identity.create_user()
    key = node.keyring.state.primary_key
    args = [*MEDIA_FLAGS, f"--use-file-for-fake-audio-capture={keys_wav(tmp_path / 'keys.wav')}%noloop"]
    browser: Browser = await playwright.chromium.launch(
        executable_path=chromium_path(), headless=True, args=args
    )
    try:
        async with running(node, turn=True) as url, CallAutomation(url, key) as api:
            holder: dict[str, Any] = {}

            async def asgi(scope: Any, receive: Any, send: Any) -> None:
                await holder["app"](scope, receive, send)

            async with serve(asgi) as bot_url:
                ada_page = await new_page(browser, console, "Ada")
                bob_page = await new_page(browser, console, "Bob")
                await sign_in(ada_page, url, "Ada")
                bob = await sign_in(bob_page, url, "Bob")
                holder["app"] = app = ivr.build(api, bot_url, bob)
                await ada_page.fill("#callee-id", bot.user)
                await ada_page.click("#call-user")
                app.dispatch_incoming(await sink.wait(INCOMING_CALL))
                async with asyncio.timeout(30):
                    while not app.calls() or not app.calls()[0].connected.is_set():
                        await asyncio.sleep(0.05)
                (call,) = app.calls()
                recording = await api.post("/calling/recordings", {"callConnectionId": call.id})
                await bob_page.wait_for_selector("#incoming-call", state="visible", timeout=45_000)
                await bob_page.click("#incoming-accept")
                await wait_state(bob_page, "Connected")
                async with asyncio.timeout(30):
                    await call.wait_disconnected()
                    # Ada hears Bob now: inbound audio from Bob's participant keeps growing.
                    bob_pid = await bob_page.evaluate("window.telexDemo.call.participantId")
                    while (await stats(ada_page)).get(bob_pid, {}).get("audio", 0) < 50:
                        await asyncio.sleep(0.25)
                types = [e["type"] for e in call.events]
                done = next(e for e in call.events if e["type"] == "RecognizeCompleted")
                assert done["dtmfResult"]["tones"] == ["one", "two"], types
                assert types[:2] == ["CallConnected", "ParticipantsUpdated"]
                assert types.index("RecognizeCompleted") < types.index("CallTransferAccepted")
                assert types[-1] == "CallDisconnected" and app.rejected == 0
                file = await sink.wait(RECORDING_FILE_STATUS)
                chunk = file["recordingStorageInfo"]["recordingChunks"][0]
                assert chunk["documentId"] == recording["recordingId"]
                wav = await api.download_recording(chunk["contentLocation"])
                await app.close()
                if app.verifier is not None:
                    await app.verifier.close()
    finally:
        await browser.close()
    with wave.open(io.BytesIO(wav)) as w:
        pcm = w.readframes(w.getnframes())
    # The welcome prompt (660 Hz then 880 Hz, 0.3 s each) and the caller's keys are in it.
    assert tone_windows(pcm, 660) >= 8 and tone_windows(pcm, 880) >= 8
    assert [t.key for t in DtmfDetector().feed(pcm)][:3] == ["1", "2", "#"]
