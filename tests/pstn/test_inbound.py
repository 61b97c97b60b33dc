"""Calls from the carrier to Telex numbers: the caller becomes a participant of a Telex call,
``IncomingCall`` reaches Event Grid, a bot answers through Call Automation (the official SDK),
plays a prompt the caller hears, collects RFC 4733 digits, and either side hangs up; numbers
that may not take calls are refused with the right SIP status."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

pytest.importorskip("aiortc")

from azure.communication.callautomation import (
    CommunicationUserIdentifier,
    DtmfTone,
    FileSource,
    PhoneNumberIdentifier,
    RecognizeInputType,
)

from telex.automation.media.dtmf import tones_pcm
from telex.client.calling import CallClient
from telex.rtp import RtpEndpoint
from telex.rtp.dtmf import TelephoneEvent
from telex.rtp.packet import RtpPacket, parse_rtp
from telex.sip import Credentials, EndCause, MediaUpdated
from tests.automation.media_helpers import heard_keys
from tests.automation.test_ivr import Keypad
from tests.pstn.carrier import CALLER, carrier
from tests.pstn.conftest import PstnWorld, answered_by_bot

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


async def sdk(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kwargs)


async def test_bot_answers_plays_collects_digits_and_hangs_up(pstn: PstnWorld) -> None:
    async with carrier(pstn.sip_port) as c:
        c.dial(pstn.number)
        ring = await pstn.incoming.next_for("4:" + pstn.number, timeout=15)
        assert ring["from"] == {
            "rawId": "4:" + CALLER,
            "kind": "phoneNumber",
            "phoneNumber": {"value": CALLER},
        }
        assert ring["callerDisplayName"] == "A Caller"
        props = await sdk(pstn.sdk().answer_call, ring["incomingCallContext"], pstn.receiver.url())
        cid = props.call_connection_id
        await c.answered()
        await pstn.receiver.wait_type("CallConnected", cid)
        connection = pstn.sdk().get_call_connection(cid)
        await sdk(
            connection.start_recognizing_media, RecognizeInputType.DTMF, PhoneNumberIdentifier(CALLER),
            dtmf_max_tones_to_collect=3, dtmf_stop_tones=[DtmfTone.POUND], initial_silence_timeout=20,
            play_prompt=FileSource(pstn.receiver.audio("prompt.wav")), operation_context="menu",
        )  # fmt: skip
        async with asyncio.timeout(20):
            while "5" not in c.heard:  # the prompt's tone, through Opus and G.711 to the carrier
                await asyncio.sleep(0.05)
        assert c.rtp is not None
        c.rtp.send_dtmf("12#")  # RFC 4733 on the trunk: no in-band detection involved
        done = await pstn.receiver.wait_type("RecognizeCompleted", cid)
        assert done["data"]["dtmfResult"]["tones"] == ["one", "two"]
        assert done["data"]["resultInformation"]["subCode"] == 8514
        # The bot presses keys to the caller: RFC 4733 events reach the carrier, not tones.
        packets = tap_events(c.rtp, 101)
        await sdk(connection.send_dtmf_tones, [DtmfTone.NINE, DtmfTone.NINE], PhoneNumberIdentifier(CALLER))
        await pstn.receiver.wait_type("SendDtmfTonesCompleted", cid)
        async with asyncio.timeout(5):
            pressed = [await c.rtp.dtmf.get() for _ in range(4)]
        assert [(type(e).__name__, e.digit) for e in pressed] == [
            ("DtmfStarted", "9"), ("DtmfEnded", "9"), ("DtmfStarted", "9"), ("DtmfEnded", "9")
        ]  # fmt: skip
        first = [p for p in packets if p.timestamp == packets[0].timestamp]
        events = [TelephoneEvent.decode(p.payload) for p in first]
        assert [p.marker for p in first] == [True] + [False] * (len(first) - 1)  # §2.5.1.2
        assert [(e.end, e.duration) for e in events if e][-4:] == [(False, 640)] + [(True, 800)] * 3
        assert "9" not in c.heard  # nothing in-band
        await sdk(connection.hang_up, False)
        ended = await c.ended()
        assert (ended.cause, ended.by_remote) == (EndCause.REMOTE_HUNG_UP, True)
        await pstn.receiver.wait_type("CallDisconnected", cid)
        assert c.audio_frames > 20
        assert c.rtp.session is not None and c.rtp.session.stats.sent_packets > 20


def tap_events(rtp: RtpEndpoint | None, payload_type: int) -> list[RtpPacket]:
    """The RTP packets of ``payload_type`` ``rtp`` receives from now on (as they came)."""
    assert rtp is not None
    seen: list[RtpPacket] = []
    received = rtp._received

    def tap(data: bytes, source: tuple[str, int], rtcp: bool) -> None:
        packet = None if rtcp else parse_rtp(data)
        if packet is not None and packet.payload_type == payload_type:
            seen.append(packet)
        received(data, source, rtcp)

    rtp._received = tap  # type: ignore[method-assign]
    return seen


async def test_carrier_hangs_up(pstn: PstnWorld) -> None:
    async with carrier(pstn.sip_port) as c:
        c.dial(pstn.number)
        ring = await pstn.incoming.next_for("4:" + pstn.number, timeout=15)
        props = await sdk(pstn.sdk().answer_call, ring["incomingCallContext"], pstn.receiver.url())
        await c.answered()
        c.transport.run(lambda now: c.ua.hangup(c.call_id, now))
        await pstn.receiver.wait_type("CallDisconnected", props.call_connection_id)
        call = await pstn.node.calling.load(ring["serverCallId"])
        reasons = {leg.user_id: leg.end_reason and leg.end_reason.value for leg in call.legs}
        assert reasons == {"4:" + CALLER: "hungUp", "4:" + pstn.number: "remoteHungUp"}


async def test_bot_rejects_busy(pstn: PstnWorld) -> None:
    async with carrier(pstn.sip_port) as c:
        c.dial(pstn.number)
        ring = await pstn.incoming.next_for("4:" + pstn.number, timeout=15)
        await sdk(pstn.sdk().reject_call, ring["incomingCallContext"])
        ended = await c.ended()
        assert (ended.cause, ended.status) == (EndCause.DECLINED, 603)


async def test_caller_gives_up_while_ringing(pstn: PstnWorld) -> None:
    async with carrier(pstn.sip_port) as c:
        c.dial(pstn.number)
        ring = await pstn.incoming.next_for("4:" + pstn.number, timeout=15)
        c.transport.run(lambda now: c.ua.hangup(c.call_id, now))
        await c.ended()
        async with asyncio.timeout(10):
            while (await pstn.node.calling.load(ring["serverCallId"])).state.value != "ended":
                await asyncio.sleep(0.05)
        call = await pstn.node.calling.load(ring["serverCallId"])
        assert call.end_reason is not None and call.end_reason.value == "cancelled"


@pytest.mark.parametrize(("which", "status"), [("unknown", 404), ("sms_only", 403)])
async def test_numbers_that_take_no_calls_are_refused(pstn: PstnWorld, which: str, status: int) -> None:
    number = "+14255550199" if which == "unknown" else pstn.sms_only
    if which == "unknown":
        assert number not in (pstn.number, pstn.sms_only)
    async with carrier(pstn.sip_port) as c:
        c.dial(number)
        ended = await c.ended()
        assert ended.status == status
    assert not pstn.incoming.events


@pytest.mark.parametrize("pstn", [{"trunk": {"allowed_sources": ["127.0.0.9/32"]}}], indirect=True)
async def test_calls_from_elsewhere_than_the_carrier_get_no_answer(pstn: PstnWorld) -> None:
    async with carrier(pstn.sip_port) as c:
        c.dial(pstn.number)
        with pytest.raises(TimeoutError):
            await c.next(limit=1.0)  # not even 100 Trying: a scanner learns nothing
    assert pstn.gateway.ua.counters.refused >= 1 and not pstn.incoming.events


async def test_a_wrong_password_is_refused(pstn: PstnWorld) -> None:
    async with carrier(pstn.sip_port) as c:
        c.ua.config = replace(c.ua.config, credentials=lambda realm: Credentials("carrier", "wrong"))
        c.dial(pstn.number)
        ended = await c.ended()
        assert ended.status in (401, 403)
    assert not pstn.incoming.events


async def test_hold_crosses_both_ways(pstn: PstnWorld) -> None:
    async with carrier(pstn.sip_port) as c:
        ring, connection = await answered_by_bot(pstn, c)
        call_id, calling = ring["serverCallId"], pstn.node.calling

        async def caller_state(want: str) -> None:
            async with asyncio.timeout(10):
                while True:
                    call = await calling.load(call_id)
                    leg = next(x for x in call.legs if x.user_id == "4:" + CALLER)
                    if leg.state.value == want:
                        return
                    await asyncio.sleep(0.05)

        async def update(by_remote: bool) -> MediaUpdated:
            event = await c.until(MediaUpdated)
            assert isinstance(event, MediaUpdated) and event.by_remote is by_remote
            return event

        c.transport.run(lambda now: c.ua.hold(c.call_id, now))  # the carrier holds: re-INVITE sendonly
        await update(by_remote=False)
        await caller_state("onHold")
        c.transport.run(lambda now: c.ua.resume(c.call_id, now))
        await update(by_remote=False)
        await caller_state("connected")
        await sdk(connection.hold, PhoneNumberIdentifier(CALLER))  # the bot holds: we re-INVITE
        held = await update(by_remote=True)  # the first re-INVITE from Telex: nothing was echoed
        assert held.media.held_by_remote
        await sdk(connection.unhold, PhoneNumberIdentifier(CALLER))
        assert not (await update(by_remote=True)).media.held_by_remote
        await sdk(connection.hang_up, True)
        await c.ended()


async def test_the_bot_transfers_the_caller_to_a_user(pstn: PstnWorld) -> None:
    agent = await pstn.make_user("voip")
    keypad = Keypad()
    async with carrier(pstn.sip_port) as c, CallClient(pstn.url, agent.token) as client:
        _, connection = await answered_by_bot(pstn, c)
        await sdk(connection.transfer_call_to_participant, CommunicationUserIdentifier(agent.id))
        async with asyncio.timeout(20):
            incoming = await client.incoming_call()
            call = await incoming.accept(audio=keypad)
            await pstn.receiver.wait_type("CallTransferAccepted", connection._call_connection_id)
            await call.wait_connected(1)
            keypad.press("9")  # the agent speaks; the caller hears it on the trunk
            while "9" not in c.heard:
                await asyncio.sleep(0.05)
            assert c.rtp is not None
            c.rtp.send_audio(tones_pcm("4", rate=8000, on=0.3))
            while "4" not in heard_keys(call, "4:" + CALLER):
                await asyncio.sleep(0.05)
        await call.hang_up()
        ended = await c.ended()
        assert (ended.cause, ended.by_remote) == (EndCause.REMOTE_HUNG_UP, True)


async def test_garbage_is_dropped_quietly_and_calls_go_on(pstn: PstnWorld) -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    try:
        for junk in (
            b"\x00\xff" * 40,
            b"INVITE sip:x SIP/2.0\r\nVia: nonsense\r\n\r\n",
            b"SIP/2.0 200\r\n\r\n",
        ):
            transport.sendto(junk, ("127.0.0.1", pstn.sip_port))
        await asyncio.sleep(0.2)
    finally:
        transport.close()
    counters = pstn.gateway.ua.counters
    assert counters.malformed_unknown + counters.malformed_known + counters.unmatched_responses >= 2
    async with carrier(pstn.sip_port) as c:  # the gateway still takes calls
        c.dial(pstn.sms_only)
        assert (await c.ended()).status == 403
