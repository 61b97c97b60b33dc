"""The answer → play → hang up path, driven by the official SDK, with a Python calling client as
the caller (aiortc, relay-only through Telex TURN)."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("aiortc")

from telex.automation.media.dtmf import DtmfDetector
from telex.client.calling import CallClient
from tests.automation.conftest import World

pytestmark = pytest.mark.e2e


async def test_answer_play_and_hang_up(world: World) -> None:
    from azure.communication.callautomation import FileSource

    caller, bot = await world.make_user("voip"), await world.make_user("voip")
    sdk = world.sdk()
    async with CallClient(world.url, caller.token) as client:
        call = await client.start_call([bot.id])
        ring = await world.incoming.next_for(bot.id)
        assert ring["from"]["rawId"] == caller.id and ring["serverCallId"] == call.id
        props = await asyncio.to_thread(sdk.answer_call, ring["incomingCallContext"], world.receiver.url())
        cid = props.call_connection_id
        assert props.server_call_id == call.id
        await world.receiver.wait_type("CallConnected", cid)
        async with asyncio.timeout(30):
            await call.wait_connected(1)
        connection = sdk.get_call_connection(cid)
        await asyncio.to_thread(
            connection.play_media_to_all,
            FileSource(world.receiver.audio("prompt.wav")),
            operation_context="hello",
        )
        done = await world.receiver.wait_type("PlayCompleted", cid)
        assert done["data"]["operationContext"] == "hello"
        detector = DtmfDetector()
        from telex.automation.media.audio import Resampler

        rs = Resampler()
        bot_pid = next(iter(call.participants))
        frames = list(call.participants[bot_pid].last_frames)
        heard = [t.key for f in frames for t in detector.feed(rs.pcm(f))]
        assert call.participants[bot_pid].audio_frames_received > 50
        await asyncio.to_thread(connection.hang_up, False)
        await world.receiver.wait_type("CallDisconnected", cid)
        assert world.receiver.types(cid)[0] == "CallConnected"
        print(world.receiver.types(cid), heard)
