"""Server-side media end to end, through the official SDK, with an aiortc caller relayed by
Telex TURN: interrupting a play, hanging up mid-play, recognize sub-codes through the real
audio path, play sources (cache, refused address, not audio), hold music, the recording of a
call (downloaded with HMAC, the prompt's tone found in it), and the bound on media sessions."""

from __future__ import annotations

import asyncio
import io
import wave
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

pytest.importorskip("aiortc")

from azure.communication.callautomation import (
    CommunicationUserIdentifier,
    DtmfTone,
    FileSource,
    RecognizeInputType,
)
from azure.core.exceptions import HttpResponseError

from telex.automation.events import RECORDING_FILE_STATUS
from telex.automation.media.dtmf import DtmfDetector, tones_pcm
from telex.bots import CallAutomation
from telex.client.calling import Call, CallClient
from telex.events.model import DomainEvent
from tests.automation.conftest import Phone, World
from tests.automation.media_helpers import wait_heard
from tests.automation.test_ivr import Keypad
from tests.support.signing import HmacSigner
from tests.support.wav import wav_bytes

pytestmark = pytest.mark.e2e


async def sdk(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kwargs)


class Answered:
    def __init__(self, world: World, client: CallClient, call: Call, cid: str, caller: str, bot: str) -> None:
        self.world, self.client, self.call, self.cid, self.caller, self.bot = (
            world,
            client,
            call,
            cid,
            caller,
            bot,
        )
        self.connection = world.sdk().get_call_connection(cid)


async def bot_call(world: World, keypad: Keypad | None = None) -> AsyncIterator[Answered]:
    caller, bot = await world.make_user("voip"), await world.make_user("voip")
    async with CallClient(world.url, caller.token) as client:
        call = await client.start_call([bot.id], audio=keypad)
        ring = await world.incoming.next_for(bot.id)
        props = await sdk(world.sdk().answer_call, ring["incomingCallContext"], world.receiver.url())
        async with asyncio.timeout(30):
            await call.wait_connected(1)
            await world.receiver.wait_type("CallConnected", props.call_connection_id)
        yield Answered(world, client, call, props.call_connection_id, caller.id, bot.id)


def long_prompt(world: World) -> str:
    world.receiver.files["long.wav"] = wav_bytes(tones_pcm("9", on=5.0, off=0.0))
    return world.receiver.audio("long.wav")


async def test_interrupt_then_hang_up_mid_play(world: World) -> None:
    async for a in bot_call(world):
        await sdk(a.connection.play_media, FileSource(long_prompt(world)), operation_context="long")
        await world.receiver.wait_type("PlayStarted", a.cid)
        await sdk(
            a.connection.play_media, FileSource(world.receiver.audio("prompt.wav")),
            operation_context="now", interrupt_call_media_operation=True,
        )  # fmt: skip
        canceled = await world.receiver.wait_type("PlayCanceled", a.cid)
        assert canceled["data"]["operationContext"] == "long"
        assert canceled["data"]["resultInformation"]["subCode"] == 8508
        await world.receiver.wait_type("PlayCompleted", a.cid)
        await sdk(
            a.connection.play_media, FileSource(long_prompt(world)), loop=True, operation_context="loop"
        )
        await world.receiver.wait_type("PlayStarted", a.cid, count=3)
        await a.call.hang_up()  # the caller hangs up mid-play
        await world.receiver.wait_type("CallDisconnected", a.cid)
        types = world.receiver.types(a.cid)
        assert types[-1] == "CallDisconnected" and types.count("PlayCompleted") == 1
        await asyncio.sleep(0.2)
        assert world.node.automation is not None and a.cid not in world.node.automation.engine.sessions


async def test_recognize_through_the_audio_path(world: World) -> None:
    keypad = Keypad()
    async for a in bot_call(world, keypad):
        caller = CommunicationUserIdentifier(a.caller)
        await sdk(
            a.connection.start_recognizing_media, RecognizeInputType.DTMF, caller,
            dtmf_max_tones_to_collect=3, dtmf_stop_tones=[DtmfTone.POUND], initial_silence_timeout=10,
            operation_context="collect",
        )  # fmt: skip
        await asyncio.sleep(0.3)
        keypad.press("47#")
        done = await world.receiver.wait_type("RecognizeCompleted", a.cid)
        assert done["data"]["dtmfResult"]["tones"] == ["four", "seven"]
        assert done["data"]["resultInformation"]["subCode"] == 8514
        # "#" ended the first recognize at its onset; the rest of its tone must be past before the
        # next one listens, or a late frame of it would count as a key there (8532, not 8510).
        while keypad.pending:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.4)
        await sdk(
            a.connection.start_recognizing_media, RecognizeInputType.DTMF, caller,
            dtmf_max_tones_to_collect=2, initial_silence_timeout=1, operation_context="silent",
        )  # fmt: skip
        failed = await world.receiver.wait_type("RecognizeFailed", a.cid)
        assert failed["data"]["resultInformation"]["subCode"] == 8510
        # Continuous DTMF and sending DTMF to the caller (in band).
        await sdk(a.connection.start_continuous_dtmf_recognition, caller)
        keypad.press("8")
        tone = await world.receiver.wait_type("ContinuousDtmfRecognitionToneReceived", a.cid)
        assert tone["data"]["tone"] == "eight" and tone["data"]["sequenceId"] == 1
        await sdk(a.connection.stop_continuous_dtmf_recognition, caller)
        await world.receiver.wait_type("ContinuousDtmfRecognitionStopped", a.cid)
        await sdk(a.connection.send_dtmf_tones, [DtmfTone.THREE], caller, operation_context="send")
        await world.receiver.wait_type("SendDtmfTonesCompleted", a.cid)
        await wait_heard(a.call, "3", a.bot)  # the last tone frames may still be on their way


async def test_play_sources_cache_refusals_and_bad_files(world: World) -> None:
    world.receiver.files["noise.wav"] = b"RIFF not really audio"
    async for a in bot_call(world):
        source = FileSource(world.receiver.audio("prompt.wav"), play_source_cache_id="greeting")
        for n in (1, 2):
            await sdk(a.connection.play_media, source)
            await world.receiver.wait_type("PlayCompleted", a.cid, count=n)
        assert world.receiver.fetches == 1  # the second play came from the cache
        await wait_heard(a.call, "5", a.bot)  # the prompt's tone reached the caller
        for url, sub_code in (("http://10.1.2.3/x.wav", 8536), (world.receiver.audio("noise.wav"), 8535)):
            await sdk(a.connection.play_media, [source, FileSource(url)], operation_context=url)
            failed = await world.receiver.wait(
                lambda r, u=url: any(
                    e["data"].get("operationContext") == u for e in r.events() if "Failed" in e["type"]
                )
            )
            event = next(
                e
                for e in world.receiver.events()
                if e["data"].get("operationContext") == url and "Failed" in e["type"]
            )
            assert event["data"]["resultInformation"]["subCode"] == sub_code
            assert event["data"]["failedPlaySourceIndex"] == 1
            assert failed is None


async def test_hold_with_music_then_unhold(world: World) -> None:
    async for a in bot_call(world):
        caller = CommunicationUserIdentifier(a.caller)
        await sdk(a.connection.hold, caller)
        await world.receiver.wait(
            lambda r: any(
                p["isOnHold"] for e in r.events() if e["type"].endswith("ParticipantsUpdated")
                for p in e["data"]["participants"]
            )
        )  # fmt: skip
        remote = next(p for p in a.call.participants.values() if p.user_id == a.bot)
        await asyncio.sleep(2.3)  # the chime plays every two seconds
        loud = max(
            max(abs(s) for s in memoryview(bytes(f.planes[0])).cast("h")) for f in list(remote.last_frames)
        )
        assert loud > 500
        await sdk(a.connection.unhold, caller)
        props = await sdk(lambda c=a.connection: list(c.list_participants()))
        assert props[0].is_on_hold is False


async def test_recording_downloaded_contains_the_prompt(world: World) -> None:
    files: list[DomainEvent] = []

    class Files:
        def committed(self, events: list[DomainEvent]) -> None:
            files.extend(e for e in events if e.type == RECORDING_FILE_STATUS)

        def advanced(self, position: int) -> None: ...

        def ephemeral(self, event: DomainEvent) -> None: ...

    world.node.backbone.add_sink(Files())
    client = world.sdk()
    async for a in bot_call(world):
        started = await sdk(client.start_recording, call_connection_id=a.cid)
        assert started.recording_state == "active"
        await world.receiver.wait_type("RecordingStateChanged", a.cid)
        await sdk(a.connection.play_media, FileSource(world.receiver.audio("prompt.wav")))
        await world.receiver.wait_type("PlayCompleted", a.cid)
        await sdk(client.pause_recording, started.recording_id)
        await world.receiver.wait_type("RecordingStateChanged", a.cid, count=2)
        assert (
            await sdk(client.get_recording_properties, started.recording_id)
        ).recording_state == "inactive"
        await sdk(client.resume_recording, started.recording_id)
        await world.receiver.wait_type("RecordingStateChanged", a.cid, count=3)
        await sdk(client.stop_recording, started.recording_id)
        async with asyncio.timeout(10):
            while not files:
                await asyncio.sleep(0.05)
    states = [
        e["data"]["state"] for e in world.receiver.events() if e["type"].endswith("RecordingStateChanged")
    ]
    assert states == ["active", "inactive", "active", "inactive"]
    chunk = files[0].data["recordingStorageInfo"]["recordingChunks"][0]
    assert files[0].data["sessionEndReason"] == "StopRecording"
    async with CallAutomation(world.url, world.key) as api:
        wav = await api.download_recording(chunk["contentLocation"])
    with wave.open(io.BytesIO(wav)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        pcm = w.readframes(w.getnframes())
    assert [t.key for t in DtmfDetector().feed(pcm)] == ["5"]  # the prompt is in the recording
    path = "/" + chunk["contentLocation"].split("/", 3)[3]
    async with httpx.AsyncClient(base_url=world.url, auth=HmacSigner(world.key)) as http:
        head = await http.get(path, headers={"Range": "bytes=0-43"})
        assert head.status_code == 206 and head.content == wav[:44]
        meta = (await http.get("/" + chunk["metadataLocation"].split("/", 3)[3])).json()
        assert meta["recordingId"] == started.recording_id
        assert (await http.delete(path)).status_code == 200
        assert (await http.get(path)).status_code == 404
    async with httpx.AsyncClient(base_url=world.url) as http:
        assert (await http.get(path)).status_code == 401


async def test_media_sessions_are_bounded(world: World) -> None:
    assert world.node.automation is not None
    engine = world.node.automation.engine
    engine.max_sessions = 1
    try:
        first = Phone(world.url, await world.make_user("voip"))
        bots = [await world.make_user("voip") for _ in range(2)]
        await first.call(bots[0].id)
        ring = await world.incoming.next_for(bots[0].id)
        await sdk(world.sdk().answer_call, ring["incomingCallContext"], world.receiver.url())
        second = Phone(world.url, await world.make_user("voip"))
        await second.call(bots[1].id)
        ring2 = await world.incoming.next_for(bots[1].id)
        with pytest.raises(HttpResponseError) as err:
            await sdk(world.sdk().answer_call, ring2["incomingCallContext"], world.receiver.url())
        assert err.value.status_code == 503 and err.value.response.headers["Retry-After"] == "5"
        assert (await second.state())["state"] == "ringing"  # the call still rings: retry later
    finally:
        engine.max_sessions = 8
