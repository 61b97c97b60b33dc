"""Webhook delivery through the real API and the backbone (security.md G17): the handshake comes
first, chat events reach the endpoint in ACS's types and shapes, signed, retried on Event Grid's
(compressed) schedule with the same id, dead-lettered on 400; a stalled endpoint holds back only
its own subscription."""

from __future__ import annotations

import asyncio
import time

import httpx
from azure.core.messaging import CloudEvent
from azure.eventgrid import EventGridEvent
from standardwebhooks.webhooks import Webhook

from telex.app import Node
from tests.subscriptions.conftest import Delivery, Receiver, secret_of, subscribe, subscription_body
from tests.support.users import MakeUser, User
from tests.webhooks.receiver import serve

IN_THREAD = "Microsoft.Communication.ChatMessageReceivedInThread"
PER_USER = "Microsoft.Communication.ChatMessageReceived"


async def thread_with(api: httpx.AsyncClient, owner: User, *others: User) -> str:
    body = {"topic": "t", "participants": [{"communicationIdentifier": {"rawId": o.id}} for o in others]}
    r = await api.post("/chat/threads?api-version=2024-03-07", json=body, headers=owner.headers, auth=None)
    assert r.status_code == 201, r.text
    return str(r.json()["chatThread"]["id"])


async def send(api: httpx.AsyncClient, user: User, thread: str, text: str) -> str:
    r = await api.post(
        f"/chat/threads/{thread}/messages?api-version=2024-03-07",
        json={"content": text},
        headers=user.headers,
        auth=None,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def verify(secret: str, delivery: Delivery) -> object:
    return Webhook(secret).verify(delivery.body.decode(), delivery.headers)


async def test_chat_message_reaches_the_endpoint_in_acs_shape(
    api: httpx.AsyncClient, receiver: Receiver, make_user: MakeUser
) -> None:
    created = await subscribe(api, "chat-hook", receiver.url)
    assert created["properties"]["provisioningState"] == "Succeeded"
    assert created["properties"]["destination"]["properties"]["endpointBaseUrl"] == receiver.url
    # The handshake came before anything else, from the subscription's name.
    (handshake,) = receiver.handshakes
    assert handshake.headers["aeg-event-type"] == "SubscriptionValidation"
    secret = await secret_of(api, "chat-hook")
    alice, bob, carol = await make_user(), await make_user(), await make_user()
    thread = await thread_with(api, alice, bob, carol)
    message_id = await send(api, alice, thread, "hello")
    await receiver.wait_for(lambda: len(receiver.events(PER_USER)) == 2)

    for delivery in receiver.accepted:
        verify(secret, delivery)
        assert delivery.headers["aeg-event-type"] == "Notification"
        assert delivery.headers["aeg-subscription-name"] == "CHAT-HOOK"
        assert delivery.headers["webhook-id"] == delivery.events[0]["id"]
    (in_thread,) = receiver.events(IN_THREAD)
    parsed = EventGridEvent.from_dict(in_thread)
    assert parsed.event_type == IN_THREAD and parsed.subject == f"thread/{thread}/sender/{alice.id}"
    data = parsed.data
    assert isinstance(data, dict)
    assert data["messageBody"] == "hello" and data["messageId"] == message_id and data["threadId"] == thread
    assert data["senderCommunicationIdentifier"] == {"rawId": alice.id, "communicationUser": {"id": alice.id}}
    assert data["type"] == "Text" and isinstance(data["version"], int)
    per_user = receiver.events(PER_USER)
    assert sorted(e["data"]["recipientCommunicationIdentifier"]["rawId"] for e in per_user) == sorted(
        [bob.id, carol.id]
    )
    assert {e["subject"] for e in per_user} == {
        f"thread/{thread}/sender/{alice.id}/recipient/{u.id}" for u in (bob, carol)
    }
    # The thread's creation came first, in log order (thread level, then one per member but the creator).
    types = [e["eventType"] for e in receiver.events()]
    assert types.index("Microsoft.Communication.ChatThreadCreated") < types.index(IN_THREAD)


async def test_cloudevents_subscription_in_batches(
    api: httpx.AsyncClient, receiver: Receiver, make_user: MakeUser
) -> None:
    await subscribe(
        api, "ce-hook", receiver.url, eventDeliverySchema="CloudEventSchemaV1_0", maxEventsPerBatch=10,
        filter={"includedEventTypes": [IN_THREAD]},
    )  # fmt: skip
    (options,) = receiver.handshakes
    assert options.headers["WebHook-Request-Origin"] == "eventgrid.azure.net"
    secret = await secret_of(api, "ce-hook")
    alice, bob = await make_user(), await make_user()
    thread = await thread_with(api, alice, bob)
    for i in range(5):
        await send(api, alice, thread, f"m{i}")
    await receiver.wait_for(lambda: len(receiver.events()) == 5)
    for delivery in receiver.accepted:
        verify(secret, delivery)
        assert delivery.headers["Content-Type"] == "application/cloudevents-batch+json; charset=utf-8"
        assert delivery.headers["WebHook-Request-Origin"] == "eventgrid.azure.net"
    events = [CloudEvent.from_dict(e) for e in receiver.events()]
    assert [e.data["messageBody"] for e in events] == [f"m{i}" for i in range(5)]  # type: ignore[index]
    assert {e.type for e in events} == {IN_THREAD} and all(
        e.source.startswith("/subscriptions/") for e in events
    )


async def test_failing_endpoint_gets_the_same_id_until_it_accepts(
    api: httpx.AsyncClient, receiver: Receiver, make_user: MakeUser
) -> None:
    receiver.plan = [500, 503, 429, 502, 500]  # k = 5, then success
    await subscribe(api, "retry-hook", receiver.url, filter={"includedEventTypes": [IN_THREAD]})
    secret = await secret_of(api, "retry-hook")
    alice = await make_user()
    thread = await thread_with(api, alice)
    await send(api, alice, thread, "once")
    await receiver.wait_for(lambda: len(receiver.accepted) == 1)
    assert len(receiver.deliveries) == 6
    assert len({d.headers["webhook-id"] for d in receiver.deliveries}) == 1
    assert [d.headers["aeg-delivery-count"] for d in receiver.deliveries] == [str(n) for n in range(6)]
    for delivery in receiver.deliveries:
        verify(secret, delivery)  # every attempt signed afresh, and valid


async def test_bad_request_dead_letters_and_the_rest_flows(
    api: httpx.AsyncClient, receiver: Receiver, make_user: MakeUser
) -> None:
    receiver.plan = [400]
    await subscribe(api, "dl-hook", receiver.url, filter={"includedEventTypes": [IN_THREAD]})
    alice = await make_user()
    thread = await thread_with(api, alice)
    first = await send(api, alice, thread, "refused")
    await send(api, alice, thread, "accepted")
    await receiver.wait_for(lambda: len(receiver.accepted) == 1)
    assert len(receiver.deliveries) == 2  # the 400 was not retried
    assert receiver.events()[0]["data"]["messageBody"] == "accepted"
    r = await api.get("/eventSubscriptions/dl-hook/deadLetters")
    (dead,) = r.json()["value"]
    assert dead["deadLetterReason"] == "UndeliverableDueToHttpBadRequest"
    assert (dead["deliveryAttempts"], dead["lastHttpStatusCode"], dead["lastDeliveryOutcome"]) == (
        1,
        400,
        "BadRequest",
    )
    assert dead["data"]["messageId"] == first and dead["eventType"] == IN_THREAD


async def test_attempts_run_out(api: httpx.AsyncClient, receiver: Receiver, make_user: MakeUser) -> None:
    receiver.plan = [503] * 3
    await subscribe(
        api,
        "few",
        receiver.url,
        filter={"includedEventTypes": [IN_THREAD]},
        retryPolicy={"maxDeliveryAttempts": 3},
    )
    alice = await make_user()
    await send(api, alice, await thread_with(api, alice), "x")
    async with asyncio.timeout(10):
        while not (await api.get("/eventSubscriptions/few/deadLetters")).json()["value"]:
            await asyncio.sleep(0.02)
    (dead,) = (await api.get("/eventSubscriptions/few/deadLetters")).json()["value"]
    assert (dead["deadLetterReason"], dead["deliveryAttempts"]) == ("MaxDeliveryAttemptsExceeded", 3)
    assert len(receiver.deliveries) == 3 and not receiver.accepted


async def test_nothing_is_delivered_before_validation(
    api: httpx.AsyncClient, receiver: Receiver, make_user: MakeUser
) -> None:
    receiver.validation = "manual"
    created = await subscribe(api, "manual-hook", receiver.url, filter={"includedEventTypes": [IN_THREAD]})
    assert created["properties"]["provisioningState"] == "AwaitingManualAction"
    alice = await make_user()
    thread = await thread_with(api, alice)
    await send(api, alice, thread, "before")
    await asyncio.sleep(0.5)  # several poll rounds: a worker would have delivered by now
    assert receiver.deliveries == []
    assert receiver.validation_url is not None and receiver.validation_url.startswith("http://telex.test/")
    wrong = await api.get(receiver.validation_url.replace("token=", "token=x"), auth=None)
    assert wrong.status_code == 404
    opened = await api.get(receiver.validation_url, auth=None)  # the owner opens the link
    assert opened.status_code == 200, opened.text
    assert (await api.get("/eventSubscriptions/manual-hook")).json()["properties"][
        "provisioningState"
    ] == "Succeeded"
    # Events since the subscription was made are delivered, the earlier one included.
    await receiver.wait_for(lambda: len(receiver.events()) == 1)
    assert receiver.events()[0]["data"]["messageBody"] == "before"


async def test_refused_handshake_creates_nothing(api: httpx.AsyncClient, receiver: Receiver) -> None:
    receiver.validation = 403
    r = await api.put("/eventSubscriptions/nope", json={"properties": {"destination": {"properties": {
        "endpointUrl": receiver.url}}}})  # fmt: skip
    assert r.status_code == 400 and r.json()["error"]["code"] == "ValidationFailed"
    assert "handshake failed" in r.json()["error"]["message"]
    assert (await api.get("/eventSubscriptions/nope")).status_code == 404
    receiver.consent = False
    body = subscription_body(receiver.url, eventDeliverySchema="CloudEventSchemaV1_0")
    r = await api.put("/eventSubscriptions/nope", json=body)
    assert r.status_code == 400


async def test_a_stalled_endpoint_delays_neither_chat_nor_another_subscription(
    node: Node, api: httpx.AsyncClient, receiver: Receiver, make_user: MakeUser
) -> None:
    stalled = Receiver(plan=["stall"] * 100)
    async with serve(stalled.handle) as port:
        stalled.port = port
        await subscribe(api, "stalled", stalled.url, filter={"includedEventTypes": [IN_THREAD]})
        await subscribe(api, "healthy", receiver.url, filter={"includedEventTypes": [IN_THREAD]})
        alice = await make_user()
        thread = await thread_with(api, alice)
        started = time.monotonic()
        for i in range(20):
            await send(api, alice, thread, f"m{i}")
        sending = time.monotonic() - started
        await receiver.wait_for(lambda: len(receiver.events()) == 20, timeout=5)
        delivered = time.monotonic() - started
        # The stalled endpoint holds its one request open (its worker waits up to the 2 s
        # response timeout) while chat and the healthy subscription go on.
        assert len(stalled.deliveries) == 1
        assert sending < 1.5 and delivered < 1.9, (sending, delivered)
        assert node.delivery is not None and node.delivery.working == {"stalled", "healthy"}
        stalled.release.set()
