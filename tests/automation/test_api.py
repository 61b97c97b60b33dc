"""Call control through the official SDK (azure-communication-callautomation 1.6.0), without
server-side media: answer, reject, redirect, create, connect, properties, participants (list,
get, add, cancel, remove, mute), transfer, hang up, terminate; the callbacks each one causes, in
order; the incomingCallContext's guarantees; repeatable requests; the 501s and 404s."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from email.utils import formatdate
from typing import Any

import httpx
import pytest
from azure.communication.callautomation import (
    CommunicationUserIdentifier,
    FileSource,
    PhoneNumberIdentifier,
    RecognizeInputType,
    TextSource,
)
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from telex.automation.context import ContextSigner
from tests.automation.conftest import Phone, World
from tests.support.signing import HmacSigner


def user(raw: str) -> CommunicationUserIdentifier:
    return CommunicationUserIdentifier(raw)


async def sdk(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kwargs)


async def ring_bot(world: World) -> tuple[Phone, Any, dict[str, Any]]:
    caller, bot = await world.make_user("voip"), await world.make_user("voip")
    phone = Phone(world.url, caller)
    await phone.call(bot.id)
    return phone, bot, await world.incoming.next_for(bot.id)


async def answered(world: World) -> tuple[Phone, Any, str]:
    phone, bot, ring = await ring_bot(world)
    props = await sdk(world.sdk().answer_call, ring["incomingCallContext"], world.receiver.url())
    await world.receiver.wait_type("ParticipantsUpdated", props.call_connection_id)
    return phone, bot, props.call_connection_id


async def test_incoming_call_event_and_answer(api_world: World) -> None:
    world = api_world
    phone, bot, ring = await ring_bot(world)
    assert ring["to"] == {"rawId": bot.id, "kind": "communicationUser", "communicationUser": {"id": bot.id}}
    assert ring["from"]["rawId"] == phone.user.id and ring["serverCallId"] == phone.call_id
    assert ring["correlationId"] == phone.call_id and ring["incomingCallContext"].startswith("v1.")
    props = await sdk(
        world.sdk().answer_call, ring["incomingCallContext"], world.receiver.url(), operation_context="hi"
    )
    cid = props.call_connection_id
    assert props.server_call_id == phone.call_id and props.call_connection_state == "connected"
    assert props.callback_url == world.receiver.url()
    connected = await world.receiver.wait_type("CallConnected", cid)
    assert connected["data"]["operationContext"] == "hi"
    assert connected["source"] == f"calling/callConnections/{cid}" and connected["specversion"] == "1.0"
    updated = await world.receiver.wait_type("ParticipantsUpdated", cid)
    assert updated["data"]["sequenceNumber"] == 1
    assert [p["identifier"]["rawId"] for p in updated["data"]["participants"]] == [phone.user.id]
    connection = world.sdk().get_call_connection(cid)
    got = await sdk(connection.get_call_properties)
    assert got.call_connection_state == "connected" and got.server_call_id == phone.call_id
    (listed,) = await sdk(lambda: list(connection.list_participants()))
    assert listed.identifier.raw_id == phone.user.id and listed.is_muted is False
    one = await sdk(connection.get_participant, user(phone.user.id))
    assert one.identifier.raw_id == phone.user.id
    assert (await phone.state())["state"] == "connected"


async def test_the_context_cannot_be_forged_reused_or_used_elsewhere(api_world: World, tmp_path: Any) -> None:
    world = api_world
    client = world.sdk()
    phone, bot, ring = await ring_bot(world)
    context = ring["incomingCallContext"]
    version, payload, mac = context.split(".")
    forged = f"{version}.{payload}.{mac[:-2]}{'A' if mac[-2] != 'A' else 'B'}{mac[-1]}"
    for bad in (forged, "v1.e30.xyz", "nonsense", context + "x"):
        with pytest.raises(HttpResponseError) as err:
            await sdk(client.answer_call, bad, world.receiver.url())
        assert err.value.status_code == 400
    # Signed by another resource (another secret, another resource id): refused.
    other = ContextSigner(str(uuid.uuid4()), [b"k" * 32]).issue(phone.call_id, "x", bot.id, 2**31)
    with pytest.raises(HttpResponseError) as err:
        await sdk(client.answer_call, other, world.receiver.url())
    assert err.value.status_code == 400
    # This resource's secret, another resource's id inside: refused too.
    resource = world.node.keyring.state.resource_id
    assert world.node.automation is not None
    secret = world.node.automation.context._secrets[0]
    wrong = ContextSigner(str(uuid.uuid4()), [secret]).issue(phone.call_id, "x", bot.id, 2**31)
    assert ContextSigner(resource, [secret]).issue(phone.call_id, "x", bot.id, 2**31) != wrong
    with pytest.raises(HttpResponseError) as err:
        await sdk(client.answer_call, wrong, world.receiver.url())
    assert err.value.status_code == 400
    # Good once; a second answer (and a reject) with it after that is refused.
    await sdk(client.answer_call, context, world.receiver.url())
    for again in (client.answer_call, client.reject_call):
        with pytest.raises(ResourceNotFoundError):
            await sdk(again, context, world.receiver.url()) if again == client.answer_call else await sdk(
                again, context
            )
    # After the call ended: refused.
    phone2, _bot2, ring2 = await ring_bot(world)
    assert await phone2.act("hangUp") == 200
    with pytest.raises(ResourceNotFoundError):
        await sdk(client.answer_call, ring2["incomingCallContext"], world.receiver.url())


def test_an_expired_context_is_refused() -> None:
    signer = ContextSigner("r", [b"s" * 32])
    text = signer.issue("call", "leg", "8:acs:x", 1000)
    assert signer.verify(text, 999).participant_id == "leg"
    with pytest.raises(Exception, match="not valid"):
        signer.verify(text, 1000)
    rotated = ContextSigner("r", [b"n" * 32, b"s" * 32])
    assert rotated.verify(text, 999).call_id == "call"  # the old secret still verifies


async def test_reject_and_redirect(api_world: World) -> None:
    world = api_world
    client = world.sdk()
    phone, bot, ring = await ring_bot(world)
    await sdk(client.reject_call, ring["incomingCallContext"], call_reject_reason="busy")
    state = await phone.state()
    assert state["state"] == "ended" and state["callEndReason"] == "declined"
    assert world.receiver.deliveries == []  # "no events are published for reject"

    phone, bot, ring = await ring_bot(world)
    other = await world.make_user("voip")
    await sdk(client.redirect_call, ring["incomingCallContext"], user(other.id))
    forwarded = await world.incoming.next_for(other.id)
    assert forwarded["serverCallId"] == phone.call_id and forwarded["from"]["rawId"] == phone.user.id
    legs = {p["identifier"]["rawId"]: p for p in (await phone.state())["participants"]}
    assert legs[bot.id]["callEndReason"] == "redirected" and legs[other.id]["state"] == "ringing"
    with pytest.raises(HttpResponseError) as err:
        await sdk(
            client.redirect_call, forwarded["incomingCallContext"], PhoneNumberIdentifier("+15555550100")
        )
    assert err.value.status_code == 501 and err.value.error.code == "NotImplemented"


async def test_participants_add_answer_mute_remove(api_world: World) -> None:
    world = api_world
    phone, _bot, cid = await answered(world)
    connection = world.sdk().get_call_connection(cid)
    guest = Phone(world.url, await world.make_user("voip"))
    result = await sdk(connection.add_participant, user(guest.user.id), operation_context="add-guest")
    assert result.invitation_id and result.participant.identifier.raw_id == guest.user.id
    await guest.answer(phone.call_id)
    added = await world.receiver.wait_type("AddParticipantSucceeded", cid)
    assert added["data"]["operationContext"] == "add-guest"
    assert added["data"]["participant"]["identifier"]["rawId"] == guest.user.id
    await sdk(connection.mute_participant, user(guest.user.id))
    await world.receiver.wait(
        lambda r: any(
            p["isMuted"]
            for e in r.events()
            if e["type"].endswith("ParticipantsUpdated")
            for p in e["data"]["participants"]
        )
    )
    await sdk(connection.remove_participant, user(guest.user.id), operation_context="bye")
    removed = await world.receiver.wait_type("RemoveParticipantSucceeded", cid)
    assert removed["data"]["operationContext"] == "bye"

    def only_caller(r: Any) -> bool:
        last = [e for e in r.events() if e["type"].endswith("ParticipantsUpdated")][-1]
        return [p["identifier"]["rawId"] for p in last["data"]["participants"]] == [phone.user.id]

    await world.receiver.wait(only_caller)
    seqs = [
        e["data"]["sequenceNumber"]
        for e in world.receiver.events()
        if e["type"].endswith("ParticipantsUpdated")
    ]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


async def test_add_cancelled_or_declined(api_world: World) -> None:
    world = api_world
    phone, _bot, cid = await answered(world)
    connection = world.sdk().get_call_connection(cid)
    guest = Phone(world.url, await world.make_user("voip"))
    invited = await sdk(connection.add_participant, user(guest.user.id), operation_context="a1")
    await sdk(connection.cancel_add_participant_operation, invited.invitation_id, operation_context="c1")
    cancelled = await world.receiver.wait_type("CancelAddParticipantSucceeded", cid)
    assert cancelled["data"]["invitationId"] == invited.invitation_id
    assert cancelled["data"]["operationContext"] == "c1"
    invited = await sdk(connection.add_participant, user(guest.user.id), operation_context="a2")
    leg = await guest.ringing_leg(phone.call_id)
    assert await guest.act("decline", leg) == 200
    failed = await world.receiver.wait_type("AddParticipantFailed", cid)
    assert failed["data"]["resultInformation"]["code"] == 603 and failed["data"]["operationContext"] == "a2"
    with pytest.raises(HttpResponseError) as err:
        await sdk(connection.add_participant, PhoneNumberIdentifier("+15555550100"))
    assert err.value.status_code == 501


async def test_transfer_accepted_then_disconnected_and_refused(api_world: World) -> None:
    world = api_world
    phone, bot, cid = await answered(world)
    connection = world.sdk().get_call_connection(cid)
    agent = Phone(world.url, await world.make_user("voip"))
    await sdk(connection.transfer_call_to_participant, user(agent.user.id), operation_context="xfer")
    assert (await sdk(connection.get_call_properties)).call_connection_state == "transferring"
    leg = await agent.ringing_leg(phone.call_id)
    assert await agent.act("decline", leg) == 200
    failed = await world.receiver.wait_type("CallTransferFailed", cid)
    assert failed["data"]["operationContext"] == "xfer"
    await sdk(connection.transfer_call_to_participant, user(agent.user.id), operation_context="xfer2")
    await agent.answer(phone.call_id)
    accepted = await world.receiver.wait_type("CallTransferAccepted", cid)
    assert accepted["data"]["transferTarget"]["rawId"] == agent.user.id
    assert accepted["data"]["transferee"]["rawId"] == phone.user.id
    await world.receiver.wait_type("CallDisconnected", cid)
    assert world.receiver.types(cid)[-1] == "CallDisconnected"
    people = {p["identifier"]["rawId"]: p["state"] for p in (await phone.state())["participants"]}
    assert people == {phone.user.id: "connected", bot.id: "disconnected", agent.user.id: "connected"}


async def test_create_call_answered_declined_and_to_a_phone(api_world: World) -> None:
    world = api_world
    client = world.sdk()
    callee = Phone(world.url, await world.make_user("voip"))
    props = await sdk(client.create_call, user(callee.user.id), world.receiver.url(), operation_context="out")
    assert props.call_connection_state == "connecting" and props.targets[0].raw_id == callee.user.id
    await callee.answer(props.server_call_id)
    connected = await world.receiver.wait_type("CallConnected", props.call_connection_id)
    assert connected["data"]["operationContext"] == "out"
    declined = await sdk(client.create_call, user(callee.user.id), world.receiver.url())
    leg = await callee.ringing_leg(declined.server_call_id)
    assert await callee.act("decline", leg) == 200
    failed = await world.receiver.wait_type("CreateCallFailed", declined.call_connection_id)
    assert failed["data"]["resultInformation"]["code"] == 603
    await world.receiver.wait_type("CallDisconnected", declined.call_connection_id)
    with pytest.raises(HttpResponseError) as err:
        await sdk(client.create_call, PhoneNumberIdentifier("+15555550100"), world.receiver.url())
    assert err.value.status_code == 501 and "PSTN" in err.value.error.message


async def test_connect_to_a_group_call_and_terminate(api_world: World) -> None:
    world = api_world
    member = await world.make_user("voip")
    group = str(uuid.uuid4())
    async with httpx.AsyncClient(base_url=world.url, headers=member.headers) as c:
        r = await c.post(f"/calling/groups/{group}/:join", json={})
    call_id = r.json()["call"]["callId"]
    props = await sdk(world.sdk().connect_call, group_call_id=group, callback_url=world.receiver.url())
    assert props.server_call_id == call_id
    await world.receiver.wait_type("CallConnected", props.call_connection_id)
    connection = world.sdk().get_call_connection(props.call_connection_id)
    await sdk(connection.hang_up, True)
    await world.receiver.wait_type("CallDisconnected", props.call_connection_id)
    async with httpx.AsyncClient(base_url=world.url, headers=member.headers) as c:
        state = (await c.get(f"/calling/calls/{call_id}")).json()
    assert state["state"] == "ended" and state["callEndReason"] == "endedForEveryone"


async def test_hang_up_leaves_a_one_to_one_call(api_world: World) -> None:
    world = api_world
    phone, _bot, cid = await answered(world)
    await sdk(world.sdk().get_call_connection(cid).hang_up, False)
    await world.receiver.wait_type("CallDisconnected", cid)
    state = await phone.state()
    assert state["state"] == "ended"
    assert (await sdk(world.sdk().get_call_connection(cid).get_call_properties)).call_connection_state == (
        "disconnected"
    )
    await sdk(world.sdk().get_call_connection(cid).hang_up, False)  # again: nothing to do


async def test_what_needs_an_ai_service_or_media_answers_501(api_world: World) -> None:
    world = api_world
    phone, _bot, cid = await answered(world)
    connection = world.sdk().get_call_connection(cid)
    calls = [
        lambda: connection.play_media(TextSource(text="hello", voice_name="en-US-x")),
        lambda: connection.start_recognizing_media(RecognizeInputType.SPEECH, user(phone.user.id)),
        connection.start_transcription,
        connection.start_media_streaming,
        lambda: connection.play_media(FileSource("https://example.com/a.wav")),  # media is off here
    ]
    for call in calls:
        with pytest.raises(HttpResponseError) as err:
            await sdk(call)
        assert err.value.status_code == 501 and err.value.error.code == "NotImplemented"


async def test_unknown_connection_and_unsigned_requests(api_world: World) -> None:
    world = api_world
    with pytest.raises(ResourceNotFoundError):
        await sdk(world.sdk().get_call_connection("nope").get_call_properties)
    async with httpx.AsyncClient(base_url=world.url) as c:
        r = await c.get("/calling/callConnections/nope")
        assert r.status_code == 401
        config = (await c.get("/calling/.well-known/acsopenidconfiguration")).json()
        keys = (await c.get("/calling/.well-known/acskeys")).json()
    assert config["jwks_uri"].endswith("/calling/.well-known/acskeys")
    assert keys["keys"][0]["alg"] == "ES256" and keys["keys"][0]["crv"] == "P-256"


async def test_repeatable_requests(api_world: World) -> None:
    world = api_world
    _phone, _bot, ring = await ring_bot(world)
    body = json.dumps(
        {"incomingCallContext": ring["incomingCallContext"], "callbackUri": world.receiver.url()}
    )
    rid = str(uuid.uuid4())

    async def post(path: str, content: str, **headers: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=world.url, auth=HmacSigner(world.key)) as c:
            return await c.post(
                path, content=content, headers={"content-type": "application/json", **headers}
            )

    sent = formatdate(usegmt=True)
    first = await post(
        "/calling/callConnections:answer",
        body,
        **{"Repeatability-Request-ID": rid, "Repeatability-First-Sent": sent},
    )
    again = await post(
        "/calling/callConnections:answer",
        body,
        **{"Repeatability-Request-ID": rid, "Repeatability-First-Sent": sent},
    )
    assert first.status_code == again.status_code == 200
    assert first.json()["callConnectionId"] == again.json()["callConnectionId"]
    assert again.headers["repeatability-result"] == "accepted"
    other = await post(
        "/calling/callConnections:answer", body.replace("main", "other"),
        **{"Repeatability-Request-ID": rid, "Repeatability-First-Sent": sent},
    )  # fmt: skip
    assert other.status_code == 400 and other.headers["repeatability-result"] == "rejected"
    old = formatdate(0, usegmt=True)
    stale = await post(
        "/calling/callConnections:answer",
        body,
        **{"Repeatability-Request-ID": str(uuid.uuid4()), "Repeatability-First-Sent": old},
    )
    assert stale.status_code == 412
    bad = await post(
        "/calling/callConnections:answer",
        body,
        **{"Repeatability-Request-ID": "x", "Repeatability-First-Sent": sent},
    )
    assert bad.status_code == 400
    assert world.receiver.types().count("CallConnected") <= 1
    assert base64.b64encode(world.key)  # the key signs every request above
