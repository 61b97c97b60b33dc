"""Phone numbers as Call Automation targets (the official SDK): a bot that answered a carrier's
call adds, transfers or redirects it to another phone number, with the caller-id rules of
create_call; the far carrier here is Telex's own UA listening where the trunk points."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

pytest.importorskip("aiortc")

from azure.communication.callautomation import PhoneNumberIdentifier
from azure.core.exceptions import HttpResponseError

from telex.automation.media.dtmf import tones_pcm
from telex.sip import EndCause, IncomingCall
from tests.pstn.carrier import Carrier, carrier
from tests.pstn.conftest import PstnWorld, answered_by_bot

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

TARGET = "+15551230000"


async def sdk(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kwargs)


async def rung(pstn: PstnWorld, far: Carrier) -> IncomingCall:
    invite = await far.until(IncomingCall)
    assert isinstance(invite, IncomingCall)
    assert str(invite.from_.uri).startswith(f"sip:{pstn.number}@")  # our number as caller id
    assert str(invite.request_uri).startswith(f"sip:{TARGET}@")
    return invite


async def hears(c: Carrier, key: str, speaker: Carrier) -> None:
    """``speaker`` says ``key`` until ``c`` hears it (the first words may precede the media path
    between the two phones' participants)."""
    assert speaker.rtp is not None
    async with asyncio.timeout(20):
        while key not in c.heard:
            speaker.rtp.send_audio(tones_pcm(key, rate=8000, on=0.3))
            for _ in range(12):
                await asyncio.sleep(0.05)
                if key in c.heard:
                    return


async def test_the_bot_adds_a_phone_number(pstn: PstnWorld) -> None:
    async with carrier(pstn.sip_port) as near, carrier(pstn.sip_port, listen=pstn.carrier_port) as far:
        _, connection = await answered_by_bot(pstn, near)
        with pytest.raises(HttpResponseError) as refused:  # not a number of ours: nothing leaves
            await sdk(
                connection.add_participant, PhoneNumberIdentifier(TARGET),
                source_caller_id_number=PhoneNumberIdentifier("+14255550198"),
            )  # fmt: skip
        assert refused.value.status_code == 403 and len(pstn.gateway.calls) == 1
        added = await sdk(
            connection.add_participant, PhoneNumberIdentifier(TARGET),
            source_caller_id_number=PhoneNumberIdentifier(pstn.number), operation_context="add",
        )  # fmt: skip
        assert added.participant.identifier.raw_id == "4:" + TARGET
        invite = await rung(pstn, far)
        far.transport.run(lambda now: far.ua.answer(invite.call_id, now, rtp=far.media_address))
        await far.until_confirmed()
        done = await pstn.receiver.wait_type("AddParticipantSucceeded", connection._call_connection_id)
        assert TARGET in str(done["data"]["participant"])
        await hears(far, "3", speaker=near)  # one phone hears the other
        await sdk(connection.hang_up, True)
        assert (await far.ended()).cause is EndCause.REMOTE_HUNG_UP
        assert (await near.ended()).cause is EndCause.REMOTE_HUNG_UP


async def test_the_bot_transfers_the_caller_to_a_phone_number(pstn: PstnWorld) -> None:
    async with carrier(pstn.sip_port) as near, carrier(pstn.sip_port, listen=pstn.carrier_port) as far:
        _, connection = await answered_by_bot(pstn, near)
        # No sourceCallerIdNumber: the number the call came in on is the caller id.
        await sdk(connection.transfer_call_to_participant, PhoneNumberIdentifier(TARGET))
        invite = await rung(pstn, far)
        far.transport.run(lambda now: far.ua.answer(invite.call_id, now, rtp=far.media_address))
        await far.until_confirmed()
        await pstn.receiver.wait_type("CallTransferAccepted", connection._call_connection_id)
        await hears(near, "8", speaker=far)
        near.transport.run(lambda now: near.ua.hangup(near.call_id, now))
        assert (await far.ended()).cause is EndCause.REMOTE_HUNG_UP


async def test_a_redirect_to_a_busy_phone_number_is_busy_for_the_caller(pstn: PstnWorld) -> None:
    async with carrier(pstn.sip_port) as near, carrier(pstn.sip_port, listen=pstn.carrier_port) as far:
        near.dial(pstn.number)
        ring = await pstn.incoming.next_for("4:" + pstn.number, timeout=15)
        await sdk(pstn.sdk().redirect_call, ring["incomingCallContext"], PhoneNumberIdentifier(TARGET))
        invite = await rung(pstn, far)
        far.transport.run(lambda now: far.ua.reject(invite.call_id, now, EndCause.BUSY))
        ended = await near.ended()
        assert (ended.status, ended.cause) == (486, EndCause.BUSY)
