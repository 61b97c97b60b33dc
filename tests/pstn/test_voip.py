"""A user's calling client (Python, aiortc: the same signaling as the browser SDK) calls a phone
number: the carrier (a test's own UA as UAS) hears the user, the user hears the carrier, and the
carrier's BYE ends the user's call; without alternateCallerId, or from a number the resource
does not own, the call is refused before anything reaches the trunk."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("aiortc")

from telex.automation.media.dtmf import tones_pcm
from telex.client.calling import CallClient, TelexClientError
from telex.sip import IncomingCall
from tests.automation.media_helpers import heard_keys
from tests.automation.test_ivr import Keypad
from tests.pstn.carrier import carrier
from tests.pstn.conftest import PstnWorld

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

TARGET = "+15551230000"


async def test_a_user_calls_a_phone_and_both_hear_each_other(pstn: PstnWorld) -> None:
    user = await pstn.make_user("voip")
    keypad = Keypad()
    async with (
        carrier(pstn.sip_port, listen=pstn.carrier_port) as c,
        CallClient(pstn.url, user.token) as client,
    ):
        call = await client.start_call([TARGET], audio=keypad, caller_id=pstn.number)
        incoming = await c.until(IncomingCall)
        assert isinstance(incoming, IncomingCall) and str(incoming.request_uri).startswith(f"sip:{TARGET}@")
        c.transport.run(lambda now: c.ua.answer(incoming.call_id, now, rtp=c.media_address))
        c.call_id = incoming.call_id
        await c.until_confirmed()
        async with asyncio.timeout(20):
            await call.wait_connected(1)
            phone = next(p for p in call.participants.values() if p.user_id == "4:" + TARGET)
            assert phone.state == "connected"
            keypad.press("7")  # the user's voice, through Opus and G.711 to the carrier
            while "7" not in c.heard:
                await asyncio.sleep(0.05)
            assert c.rtp is not None
            c.rtp.send_audio(tones_pcm("3", rate=8000, on=0.3))  # the carrier's side speaks
            while "3" not in heard_keys(call, "4:" + TARGET):
                await asyncio.sleep(0.05)
        c.transport.run(lambda now: c.ua.hangup(c.call_id, now))
        async with asyncio.timeout(10):
            assert await call.wait_ended() == "remoteHungUp"


async def test_phone_calls_need_a_caller_id_we_own(pstn: PstnWorld) -> None:
    user = await pstn.make_user("voip")
    async with CallClient(pstn.url, user.token) as client:
        for caller_id, status in ((None, 400), ("+14255550198", 403), (pstn.sms_only, 403)):
            with pytest.raises(TelexClientError) as info:
                await client.start_call([TARGET], caller_id=caller_id)
            assert info.value.status == status
    assert pstn.gateway.ua.counters.received == 0 and not pstn.gateway.finished
