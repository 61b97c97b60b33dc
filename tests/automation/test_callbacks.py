"""Callbacks: signed (a bearer JWT checked against Telex's JWKS, and Standard Webhooks checked by
the reference implementation), retried while the callback server is down with the same
``webhook-id``, in order, nothing lost, also across a restart of the node; a slow callback
server holds up only its own connection; a 400 drops that one callback, not the rest."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from standardwebhooks.webhooks import Webhook

from telex.app import Node
from telex.automation.callbacks import callback_secret
from telex.bots import CallbackVerifier
from telex.core.clock import SystemClock
from tests.automation.conftest import AUTOMATION, OUTBOUND, IncomingCalls, Phone, Receiver, World
from tests.calling.conftest import user_maker
from tests.conftest import make_settings
from tests.support.serve import running


async def sdk(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kwargs)


async def answer(world: World, name: str = "main") -> tuple[Phone, str]:
    caller, bot = await world.make_user("voip"), await world.make_user("voip")
    phone = Phone(world.url, caller)
    await phone.call(bot.id)
    ring = await world.incoming.next_for(bot.id)
    props = await sdk(world.sdk().answer_call, ring["incomingCallContext"], world.receiver.url(name))
    return phone, props.call_connection_id


async def test_callbacks_are_signed_both_ways(api_world: World) -> None:
    world = api_world
    _, cid = await answer(world)
    await world.receiver.wait_type("ParticipantsUpdated", cid)
    delivery = world.receiver.deliveries[0]
    # Standard Webhooks, checked by its reference implementation with the derived secret.
    secret = str(callback_secret(world.key))
    assert Webhook(secret).verify(delivery.body, delivery.headers) == json.loads(delivery.body)
    assert delivery.headers["webhook-id"] == delivery.events[0]["id"]
    # The bearer JWT, checked with PyJWT against the published keys.
    async with httpx.AsyncClient(base_url=world.url) as c:
        config = (await c.get("/calling/.well-known/acsopenidconfiguration")).json()
        jwks = (await c.get("/calling/.well-known/acskeys")).json()
    token = delivery.headers["Authorization"].removeprefix("Bearer ")
    key = jwt.PyJWK(jwks["keys"][0]).key
    resource = world.node.keyring.state.resource_id
    claims = jwt.decode(token, key, algorithms=["ES256"], audience=resource, issuer=config["issuer"])
    assert claims["exp"] - claims["iat"] == 300
    # telex.bots checks the same, and refuses a tampered body.
    verifier = CallbackVerifier(world.url, access_key=world.key, audience=resource)
    try:
        assert (await verifier.check(delivery.headers, delivery.body))[0]["id"] == delivery.headers[
            "webhook-id"
        ]
        with pytest.raises(Exception, match="signature"):
            await verifier.check(delivery.headers, delivery.body.replace(b"Call", b"Cell"))
        other = CallbackVerifier(world.url, access_key=b"k" * 64)
        with pytest.raises(Exception, match="signature"):
            await other.check(delivery.headers, delivery.body)
        await other.close()
    finally:
        await verifier.close()


async def test_callback_server_down_for_a_while_nothing_lost_same_ids(api_world: World) -> None:
    world = api_world
    world.receiver.fail_with = 503
    phone, cid = await answer(world)
    guest = Phone(world.url, await world.make_user("voip"))
    connection = world.sdk().get_call_connection(cid)
    await sdk(connection.add_participant, _user(guest.user.id))
    await guest.answer(phone.call_id)
    await world.receiver.wait(lambda r: len({i for _, i in r.attempts}) >= 1 and len(r.attempts) >= 4)
    assert world.receiver.deliveries == []
    first_id = world.receiver.attempts[0][1]
    assert [i for _, i in world.receiver.attempts].count(first_id) >= 3  # the same id, retried
    world.receiver.fail_with = None
    await world.receiver.wait_type("AddParticipantSucceeded", cid)
    types = world.receiver.types(cid)
    assert types[:2] == ["CallConnected", "ParticipantsUpdated"] and "AddParticipantSucceeded" in types
    assert world.receiver.deliveries[0].headers["webhook-id"] == first_id
    ids = [e["id"] for e in world.receiver.events()]
    assert len(ids) == len(set(ids))


async def test_a_slow_callback_server_holds_up_only_its_connection(api_world: World) -> None:
    world = api_world
    world.receiver.slow["slow"] = 3.0
    started = asyncio.get_running_loop().time()
    _, slow = await answer(world, "slow")
    _, fast = await answer(world, "fast")
    assert asyncio.get_running_loop().time() - started < 2.5  # answers do not wait for callbacks
    await world.receiver.wait_type("ParticipantsUpdated", fast, count=1)
    assert world.receiver.types(slow) == []  # still on its first, slow delivery


async def test_a_400_drops_that_callback_only(api_world: World) -> None:
    world = api_world
    world.receiver.fail_with = 400
    phone, cid = await answer(world)
    await world.receiver.wait(lambda r: len(r.attempts) >= 2)  # both first callbacks, each tried once
    world.receiver.fail_with = None
    assert await phone.act("hangUp") == 200
    await world.receiver.wait_type("CallDisconnected", cid)
    assert world.receiver.types(cid) == ["CallDisconnected"]
    assert len(world.receiver.attempts) == 3


async def test_delivery_resumes_after_a_restart(tmp_path: Path, receiver: Receiver) -> None:
    settings = make_settings(
        tmp_path,
        turn={"enabled": False},
        outbound=OUTBOUND,
        automation={**AUTOMATION, "max_media_sessions": 0},
    )
    receiver.fail_with = 503
    node = await Node.open(settings, SystemClock())
    incoming = IncomingCalls()
    node.backbone.add_sink(incoming)
    try:
        async with running(node) as url:
            key = node.keyring.state.primary_key
            make = user_maker(url, key)
            world = World(node, url, key, make, incoming, receiver)
            phone, cid = await answer(world)
            assert await phone.act("hangUp") == 200
            await receiver.wait(lambda r: len(r.attempts) >= 3)
    finally:
        await node.close()
    assert receiver.deliveries == []
    receiver.fail_with = None
    again = await Node.open(settings, SystemClock())
    try:
        async with running(again):
            await receiver.wait_type("CallDisconnected", cid)
    finally:
        await again.close()
    assert receiver.types(cid) == ["CallConnected", "ParticipantsUpdated", "CallDisconnected"]
    assert base64.b64encode(key)


def _user(raw: str) -> Any:
    from azure.communication.callautomation import CommunicationUserIdentifier

    return CommunicationUserIdentifier(raw)
