"""Early media: a user calls a phone number and the carrier answers 183 Session Progress with
SDP, then plays a tone (a ringback or announcement); the user hears it while the call still
rings, then the 200 connects the call on the same media, or a failure ends it."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("aiortc")

from telex.automation.media.dtmf import tones_pcm
from telex.client.calling import Call, CallClient
from telex.rtp import StreamConfig
from telex.sip import EndCause, IncomingCall
from tests.automation.media_helpers import heard_keys
from tests.pstn.carrier import Carrier, carrier
from tests.pstn.conftest import PstnWorld

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

TARGET = "+15551230000"


async def early_media(c: Carrier, call: Call, key: str) -> IncomingCall:
    """The carrier sends 183 with SDP and says ``key`` until the user hears it."""
    incoming = await c.until(IncomingCall)
    assert isinstance(incoming, IncomingCall)
    c.call_id = incoming.call_id
    c.transport.run(lambda now: c.ua.early_media(incoming.call_id, now, rtp=c.media_address))
    leg = c.ua.leg(incoming.call_id)
    assert c.rtp is not None and leg is not None and leg.media is not None
    c.rtp.update(StreamConfig.from_negotiated(leg.media))  # the carrier's RTP flows from the 183
    async with asyncio.timeout(20):
        await call.wait_connected(1)  # media with the ringing phone, before any answer
        while key not in heard_keys(call, "4:" + TARGET):
            c.rtp.send_audio(tones_pcm(key, rate=8000, on=0.3))
            await asyncio.sleep(0.6)
    phone = next(p for p in call.participants.values() if p.user_id == "4:" + TARGET)
    assert (call.state, call.my_state, phone.state) == ("ringing", "connecting", "ringing")
    return incoming


async def test_the_caller_hears_early_media_before_the_answer(pstn: PstnWorld) -> None:
    user = await pstn.make_user("voip")
    async with (
        carrier(pstn.sip_port, listen=pstn.carrier_port) as c,
        CallClient(pstn.url, user.token) as client,
    ):
        call = await client.start_call([TARGET], caller_id=pstn.number)
        incoming = await early_media(c, call, "2")
        c.transport.run(lambda now: c.ua.answer(incoming.call_id, now, rtp=c.media_address))
        await c.until_confirmed()
        async with asyncio.timeout(20):
            await call.wait_for(lambda x: x.state == "connected" and x.my_state == "connected")
            assert c.rtp is not None
            while "9" not in heard_keys(call, "4:" + TARGET):  # the same media after the answer
                c.rtp.send_audio(tones_pcm("9", rate=8000, on=0.3))
                await asyncio.sleep(0.6)
        await call.hang_up()
        assert (await c.ended()).cause is EndCause.REMOTE_HUNG_UP

        # An announcement, then the carrier's failure: the call ends as the failure says.
        call = await client.start_call([TARGET], caller_id=pstn.number)
        incoming = await early_media(c, call, "4")
        c.transport.run(lambda now: c.ua.reject(incoming.call_id, now, EndCause.BUSY))
        async with asyncio.timeout(10):
            assert await call.wait_ended() == "busy"
