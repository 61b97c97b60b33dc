"""A bot calls phone numbers: caller-id and destination rules refuse before any INVITE leaves,
and the carrier's answers (busy, no answer) end the invitation with the matching reason; the
carrier here is a test's own user agent as UAS (sipp plays it in test_sipp.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

pytest.importorskip("aiortc")

from azure.communication.callautomation import PhoneNumberIdentifier
from azure.core.exceptions import HttpResponseError

from telex.sip import EndCause, IncomingCall
from tests.pstn.carrier import carrier
from tests.pstn.conftest import PstnWorld

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

TARGET = "+15551230000"


async def sdk(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kwargs)


async def create(pstn: PstnWorld, target: str, caller: str | None) -> Any:
    kwargs = {"source_caller_id_number": PhoneNumberIdentifier(caller)} if caller else {}
    return await sdk(pstn.sdk().create_call, PhoneNumberIdentifier(target), pstn.receiver.url(), **kwargs)


@pytest.mark.parametrize(
    ("caller", "status"),
    [(None, 400), ("+14255550198", 403), ("sms_only", 403)],
    ids=["none", "foreign", "sms"],
)
async def test_caller_id_must_be_ours_with_outbound_calling(
    pstn: PstnWorld, caller: str | None, status: int
) -> None:
    number = pstn.sms_only if caller == "sms_only" else caller
    with pytest.raises(HttpResponseError) as info:
        await create(pstn, TARGET, number)
    assert info.value.status_code == status
    assert pstn.gateway.ua.counters.received == 0 and not pstn.gateway.calls  # nothing left


@pytest.mark.parametrize("pstn", [{"trunk": {"prefixes": ["+1"]}}], indirect=True)
async def test_a_destination_no_trunk_allows_is_refused(pstn: PstnWorld) -> None:
    with pytest.raises(HttpResponseError) as info:
        await create(pstn, "+442079460000", pstn.number)
    assert info.value.status_code == 403 and "No trunk" in str(info.value)
    assert not pstn.gateway.calls and not pstn.gateway.finished


async def test_busy_ends_the_invitation_as_busy(pstn: PstnWorld) -> None:
    async with carrier(pstn.sip_port, listen=pstn.carrier_port) as c:
        props = await create(pstn, TARGET, pstn.number)
        incoming = await c.until(IncomingCall)
        assert isinstance(incoming, IncomingCall)
        assert str(incoming.from_.uri).startswith(f"sip:{pstn.number}@")
        assert incoming.request.headers.get("P-Asserted-Identity") is not None
        c.transport.run(lambda now: c.ua.reject(incoming.call_id, now, EndCause.BUSY))
        failed = await pstn.receiver.wait_type("CreateCallFailed", props.call_connection_id)
        assert failed["data"]["resultInformation"]["code"] == 486


async def test_the_bot_hangs_up_while_it_rings(pstn: PstnWorld) -> None:
    async with carrier(pstn.sip_port, listen=pstn.carrier_port) as c:
        props = await create(pstn, TARGET, pstn.number)
        incoming = await c.until(IncomingCall)
        assert isinstance(incoming, IncomingCall)
        c.transport.run(lambda now: c.ua.ring(incoming.call_id, now))
        await sdk(pstn.sdk().get_call_connection(props.call_connection_id).hang_up, True)
        ended = await c.ended()
        assert (ended.cause, ended.by_remote) == (EndCause.CANCELLED, True)
