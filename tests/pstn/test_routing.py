"""Numbers routed to users without an application: a carrier's call rings every user of the
route from ``4:+caller`` (the first to answer takes it, the others stop ringing), a group call
route puts the caller in the call at once, nobody answering is 480 and everyone declining 603,
the carrier's CANCEL stops every ringing user, and an unrouted number raises IncomingCall."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from urllib.parse import quote

import httpx
import pytest

pytest.importorskip("aiortc")

from telex.automation.media.dtmf import tones_pcm
from telex.client.calling import Call, CallClient
from telex.identity import Principal, Scope
from telex.sip import EndCause
from tests.automation.media_helpers import heard_keys
from tests.automation.test_ivr import Keypad
from tests.pstn.carrier import CALLER, carrier
from tests.pstn.conftest import PstnWorld
from tests.support.signing import HmacSigner

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


async def api(pstn: PstnWorld, method: str, body: dict[str, Any] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(base_url=pstn.url, auth=HmacSigner(pstn.key)) as c:
        return await c.request(method, f"/phoneNumbers/{quote(pstn.number)}/routing", json=body)


def to_number(pstn: PstnWorld) -> list[Any]:
    return [e for e in pstn.incoming.events if e.data["to"]["rawId"] == "4:" + pstn.number]


async def ended(call: Call) -> str | None:
    async with asyncio.timeout(10):
        return await call.wait_ended()


async def test_the_first_user_to_answer_takes_the_call(pstn: PstnWorld) -> None:
    a, b = await pstn.make_user("voip"), await pstn.make_user("voip")
    put = await api(pstn, "PUT", {"targets": [{"rawId": a.id}, {"communicationUser": {"id": b.id}}]})
    assert put.status_code == 200, put.text
    got = (await api(pstn, "GET")).json()
    assert got["phoneNumber"] == pstn.number and [t["rawId"] for t in got["targets"]] == [a.id, b.id]
    keypad = Keypad()
    async with (
        carrier(pstn.sip_port) as c,
        CallClient(pstn.url, a.token) as ca,
        CallClient(pstn.url, b.token) as cb,
    ):
        c.dial(pstn.number)
        async with asyncio.timeout(15):
            ring_a, ring_b = await ca.incoming_call(), await cb.incoming_call()
        assert ring_a.caller_id == ring_b.caller_id == "4:" + CALLER
        call = await ring_b.accept(audio=keypad)
        await c.answered()
        assert await ended(ring_a) == "cancelled"  # a stops ringing once b answered
        async with asyncio.timeout(20):
            await call.wait_connected(1)
            keypad.press("7")  # b speaks; the carrier's caller hears it
            while "7" not in c.heard:
                await asyncio.sleep(0.05)
            assert c.rtp is not None
            c.rtp.send_audio(tones_pcm("3", rate=8000, on=0.3))
            while "3" not in heard_keys(call, "4:" + CALLER):
                await asyncio.sleep(0.05)
        c.transport.run(lambda now: c.ua.hangup(c.call_id, now))
        assert await ended(call) is not None
    assert not to_number(pstn)  # no application was asked (the users' IncomingCall are ACS's too)


async def test_declined_unanswered_cancelled_and_unrouted(pstn: PstnWorld) -> None:
    a, b = await pstn.make_user("voip"), await pstn.make_user("voip")
    body = {"targets": [{"rawId": a.id}, {"rawId": b.id}], "ringTimeoutInSeconds": 1}
    assert (await api(pstn, "PUT", body)).status_code == 200
    async with CallClient(pstn.url, a.token) as ca, CallClient(pstn.url, b.token) as cb:
        async with carrier(pstn.sip_port) as c:  # everyone declines: 603, Q.850 21
            c.dial(pstn.number)
            async with asyncio.timeout(15):
                await (await ca.incoming_call()).decline()
                await (await cb.incoming_call()).decline()
            done = await c.ended()
            assert (done.status, done.cause) == (603, EndCause.DECLINED)
            assert done.reason is not None and done.reason.cause == 21
        async with carrier(pstn.sip_port) as c:  # nobody answers within a second: 480, Q.850 19
            c.dial(pstn.number)
            async with asyncio.timeout(15):
                rung = [await ca.incoming_call(), await cb.incoming_call()]
            done = await c.ended()
            assert (done.status, done.cause) == (480, EndCause.MISSED)
            assert done.reason is not None and done.reason.cause == 19
            assert [await ended(x) for x in rung] == ["missed", "missed"]
        async with carrier(pstn.sip_port) as c:  # the caller gives up: every user stops ringing
            assert (await api(pstn, "PUT", {**body, "ringTimeoutInSeconds": 60})).status_code == 200
            c.dial(pstn.number)
            async with asyncio.timeout(15):
                rung = [await ca.incoming_call(), await cb.incoming_call()]
            c.transport.run(lambda now: c.ua.hangup(c.call_id, now))
            assert (await c.ended()).cause is EndCause.CANCELLED
            assert [await ended(x) for x in rung] == ["cancelled", "cancelled"]
    assert not to_number(pstn)
    assert (await api(pstn, "DELETE")).status_code == 204
    assert (await api(pstn, "GET")).status_code == 404
    async with carrier(pstn.sip_port) as c:  # unrouted again: IncomingCall for an application
        c.dial(pstn.number)
        await pstn.incoming.next_for("4:" + pstn.number, timeout=15)


async def test_a_group_call_route_puts_the_caller_in_the_call(pstn: PstnWorld) -> None:
    member = await pstn.make_user("voip")
    group = str(uuid.uuid4())
    assert (await api(pstn, "PUT", {"groupCallId": group})).status_code == 200
    async with CallClient(pstn.url, member.token) as client, carrier(pstn.sip_port) as c:
        call = await client.join(group, audio=Keypad())
        c.dial(pstn.number)
        await c.answered()
        async with asyncio.timeout(20):
            await call.wait_connected(1)
            assert c.rtp is not None
            c.rtp.send_audio(tones_pcm("6", rate=8000, on=0.3))
            while "6" not in heard_keys(call, "4:" + CALLER):
                await asyncio.sleep(0.05)
        c.transport.run(lambda now: c.ua.hangup(c.call_id, now))
        await call.hang_up()


async def test_bad_routes_are_refused(pstn: PstnWorld) -> None:
    for body in (
        {},
        {"targets": [{"rawId": "8:acs:x"}], "groupCallId": str(uuid.uuid4())},
        {"targets": [{"rawId": "4:+14255550100"}]},
        {"groupCallId": "not-a-uuid"},
        {"targets": [{"rawId": "8:acs:x"}], "ringTimeoutInSeconds": 0},
    ):
        answer = await api(pstn, "PUT", body)
        assert answer.status_code == 400 and answer.json()["error"]["code"], body
    async with httpx.AsyncClient(base_url=pstn.url, auth=HmacSigner(pstn.key)) as c:
        answer = await c.put("/phoneNumbers/%2B14255550199/routing", json={"targets": [{"rawId": "8:acs:x"}]})
    assert answer.status_code == 404  # not a number of this resource


async def test_a_routed_user_rung_too_often_is_busy_to_the_carrier(pstn: PstnWorld) -> None:
    """The per-callee invitation limit (10 a minute) still guards a routed user; a phone call
    past it is refused as busy (486), not as a server error."""
    a = await pstn.make_user("voip")
    assert (await api(pstn, "PUT", {"targets": [{"rawId": a.id}]})).status_code == 200
    other = Principal("8:acs:r_other", frozenset({Scope.VOIP}), 0, 2**31, 0, "kid")
    for _ in range(10):  # someone else rang the user ten times this minute
        await pstn.node.calling.start_call(other, [a.id])
    async with carrier(pstn.sip_port) as c:
        c.dial(pstn.number)
        done = await c.ended()
        assert (done.status, done.cause) == (486, EndCause.BUSY)
