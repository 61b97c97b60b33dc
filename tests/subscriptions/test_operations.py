"""The subscription API beyond delivery: validation of requests, updates and handshakes on a URL
change, secret rotation, replay from a position or a time, delivery status, metrics, restarts
inside one event's recipients, and one node at a time per subscription."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from telex.app import Node, build_app
from tests.subscriptions.conftest import Receiver, open_node, secret_of, subscribe, subscription_body
from tests.subscriptions.test_delivery import IN_THREAD, PER_USER, send, thread_with
from tests.support.metrics import scrape
from tests.support.signing import HmacSigner
from tests.support.users import MakeUser, User


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"properties": {}}, "endpointUrl"),
        (
            {"properties": {"destination": {"endpointType": "EventHub", "properties": {"endpointUrl": "x"}}}},
            "WebHook",
        ),
        (
            subscription_body("https://h.test/", filter={"includedEventTypes": ["Microsoft.Nope"]}),
            "Unknown event",
        ),
        (subscription_body("https://h.test/", filter={"includedEventTypes": []}), "at least one"),
        (
            subscription_body("https://h.test/", filter={"advancedFilters": [{"operatorType": "x"}]}),
            "advancedFilters",
        ),
        (subscription_body("https://h.test/", maxEventsPerBatch=0), "maxEventsPerBatch"),
        (
            subscription_body("https://h.test/", retryPolicy={"maxDeliveryAttempts": 31}),
            "maxDeliveryAttempts",
        ),
        (
            subscription_body("https://h.test/", retryPolicy={"eventTimeToLiveInMinutes": 0}),
            "eventTimeToLive",
        ),
        (
            subscription_body("https://h.test/", eventDeliverySchema="CustomInputSchema"),
            "eventDeliverySchema",
        ),
        ([1, 2], "Invalid request"),
    ],
)
async def test_bad_requests_get_the_acs_error_body(api: httpx.AsyncClient, body: object, needle: str) -> None:
    r = await api.put("/eventSubscriptions/bad-one", json=body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] in ("ValidationFailed", "InvalidJson") and needle in error["message"], error


async def test_names_auth_and_unknown_subscriptions(api: httpx.AsyncClient, receiver: Receiver) -> None:
    r = await api.put("/eventSubscriptions/a_b", json=subscription_body(receiver.url))
    assert r.status_code == 400
    missing = [
        ("GET", "/eventSubscriptions/nope"),
        ("DELETE", "/eventSubscriptions/nope"),
        ("POST", "/eventSubscriptions/nope/:listSecrets"),
        ("GET", "/eventSubscriptions/" + "x" * 65),
    ]
    for method, path in missing:
        r = await api.request(method, path)
        assert r.status_code == 404 and r.json()["error"]["code"] == "NotFound", (method, path)
    unsigned = await api.get("/eventSubscriptions", auth=None)
    assert unsigned.status_code == 401 and unsigned.json()["error"]["code"]


async def test_update_list_full_url_and_delete(api: httpx.AsyncClient, receiver: Receiver) -> None:
    url = receiver.url + "?code=s3cret"
    first = await subscribe(api, "upd", url, filter={"subjectBeginsWith": "thread/"})
    assert first["properties"]["destination"]["properties"]["endpointBaseUrl"] == receiver.url
    full = await api.post("/eventSubscriptions/upd/:getFullUrl")
    assert full.json() == {"endpointUrl": url}
    # A PATCH that keeps the URL runs no handshake; one that moves it does.
    change = {"filter": {"includedEventTypes": [IN_THREAD]}, "retryPolicy": {"maxDeliveryAttempts": 5}}
    r = await api.patch("/eventSubscriptions/upd", json=change)
    assert r.status_code == 200, r.text
    props = r.json()["properties"]
    assert props["filter"] == {
        "includedEventTypes": [IN_THREAD], "subjectBeginsWith": "thread/", "subjectEndsWith": "",
        "isSubjectCaseSensitive": False,
    }  # fmt: skip
    assert props["retryPolicy"] == {"maxDeliveryAttempts": 5, "eventTimeToLiveInMinutes": 1440}
    assert len(receiver.handshakes) == 1
    r = await api.patch(
        "/eventSubscriptions/upd", json={"destination": {"properties": {"endpointUrl": receiver.url}}}
    )
    assert r.status_code == 200 and len(receiver.handshakes) == 2
    r = await api.patch("/eventSubscriptions/upd", json={"filter": {"includedEventTypes": None}})
    assert r.json()["properties"]["filter"]["includedEventTypes"] is None
    listed = (await api.get("/eventSubscriptions")).json()["value"]
    assert [s["name"] for s in listed] == ["upd"] and listed[0][
        "type"
    ] == "Microsoft.EventGrid/eventSubscriptions"
    again = await api.put("/eventSubscriptions/upd", json=subscription_body(receiver.url))
    assert again.status_code == 200  # a replacement, not a creation
    assert (await api.delete("/eventSubscriptions/upd")).status_code == 204
    assert (await api.get("/eventSubscriptions/upd")).status_code == 404


async def test_secret_rotation_signs_with_both_for_a_while(
    api: httpx.AsyncClient, receiver: Receiver, make_user: MakeUser
) -> None:
    await subscribe(api, "rot", receiver.url, filter={"includedEventTypes": [IN_THREAD]})
    old = await secret_of(api, "rot")
    r = await api.post("/eventSubscriptions/rot/:rotateSecret", json={"previousSecretValidMinutes": 60})
    new = r.json()["signingSecret"]
    assert (
        new != old and r.json()["previousSigningSecret"] == old and r.json()["previousSigningSecretExpiresOn"]
    )
    alice = await make_user()
    await send(api, alice, await thread_with(api, alice), "rotated")
    await receiver.wait_for(lambda: len(receiver.accepted) == 1)
    (delivery,) = receiver.accepted
    assert len(delivery.headers["webhook-signature"].split()) == 2
    for secret in (old, new):  # a receiver holding either secret accepts it
        Webhook(secret).verify(delivery.body.decode(), delivery.headers)
    r = await api.post("/eventSubscriptions/rot/:rotateSecret", json={"previousSecretValidMinutes": 0})
    assert r.json()["previousSigningSecret"] is None


async def test_replay_from_a_position_and_from_a_time(
    api: httpx.AsyncClient, receiver: Receiver, make_user: MakeUser
) -> None:
    await subscribe(api, "again", receiver.url, filter={"includedEventTypes": [IN_THREAD]})
    alice = await make_user()
    thread = await thread_with(api, alice)
    for i in range(3):
        await send(api, alice, thread, f"m{i}")
    await receiver.wait_for(lambda: len(receiver.events()) == 3)
    ids = [e["id"] for e in receiver.events()]
    async with asyncio.timeout(5):  # the worker saves its position just after the receiver answered
        while (status := (await api.get("/eventSubscriptions/again/deliveryStatus")).json())["lagEvents"]:
            await asyncio.sleep(0.02)
    assert status["deliveredPosition"] == status["headPosition"]
    r = await api.post("/eventSubscriptions/again/:replay", json={"fromTime": "2000-01-01T00:00:00Z"})
    assert r.status_code == 202 and r.json()["fromPosition"] >= 1
    await receiver.wait_for(lambda: len(receiver.events()) == 6)
    assert [e["id"] for e in receiver.events()[3:]] == ids  # the same events, the same ids
    dead_position = status["headPosition"]
    r = await api.post("/eventSubscriptions/again/:replay", json={"fromPosition": dead_position})
    assert r.json() == {"fromPosition": dead_position}
    await receiver.wait_for(lambda: len(receiver.events()) == 7)
    assert receiver.events()[-1]["id"] == ids[-1]
    for bad in ({"fromPosition": 0}, {"fromPosition": 10**9}, {}, {"fromTime": "2026-01-01T00:00:00"},
                {"fromPosition": 1, "fromTime": "2026-01-01T00:00:00Z"}):  # fmt: skip
        r = await api.post("/eventSubscriptions/again/:replay", json=bad)
        assert r.status_code == 400, bad
    future = datetime(2100, 1, 1, tzinfo=UTC).isoformat()
    r = await api.post("/eventSubscriptions/again/:replay", json={"fromTime": future})
    assert r.json()["fromPosition"] == status["headPosition"] + 1


async def test_metrics_per_subscription(
    node: Node, api: httpx.AsyncClient, receiver: Receiver, make_user: MakeUser
) -> None:
    receiver.plan = [503, 400]
    await subscribe(api, "counted", receiver.url, filter={"includedEventTypes": [IN_THREAD]})
    alice = await make_user()
    thread = await thread_with(api, alice)
    for i in range(3):
        await send(api, alice, thread, f"m{i}")
    await receiver.wait_for(lambda: len(receiver.accepted) == 2)
    await asyncio.sleep(0.3)  # the idle worker reports its lag at its next round
    text = await scrape(node)
    for line in (
        'telex_webhook_events_delivered_total{subscription="counted"} 2.0',
        'telex_webhook_attempts_retried_total{subscription="counted"} 1.0',
        'telex_webhook_events_dead_lettered_total{subscription="counted"} 1.0',
        'telex_webhook_lag_events{subscription="counted"} 0.0',
    ):
        assert line in text, line


async def test_a_restart_resumes_inside_one_events_recipients(tmp_path: Path, receiver: Receiver) -> None:
    """One message to a thread of four gives three per-user events; with one event per batch a
    restart after the first resumes at the second (``partial``), and nothing is lost."""
    node = await open_node(tmp_path)
    node.start_background()
    api = httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(node)), base_url="http://telex.test",
                            auth=HmacSigner(node.keyring.state.primary_key))  # fmt: skip
    users = []
    for _ in range(4):
        created = await node.identity.create_user(["chat"])
        assert created.token is not None
        users.append(User(created.user, created.token.token))
    await subscribe(api, "partial", receiver.url, filter={"includedEventTypes": [PER_USER]})
    receiver.plan = [200, "stall"]
    thread = await thread_with(api, users[0], *users[1:])
    await send(api, users[0], thread, "to three")
    await receiver.wait_for(lambda: len(receiver.deliveries) == 2)
    await api.aclose()
    await node.close()  # while the second is stalled
    receiver.release.set()
    again = await open_node(tmp_path)
    again.start_background()
    try:
        await receiver.wait_for(lambda: len(receiver.accepted) == 2)  # the first was a planned 200
        recipients = [
            d.events[0]["data"]["recipientCommunicationIdentifier"]["rawId"] for d in receiver.deliveries
        ]
        # First (accepted), second (stalled, cut off), then second again and third.
        assert len(recipients) == 4 and recipients[1] == recipients[2]
        assert sorted(recipients[:2] + recipients[3:]) == sorted(u.id for u in users[1:])
        assert len({d.headers["webhook-id"] for d in receiver.deliveries}) == 3
    finally:
        await again.close()


async def test_one_node_at_a_time_and_takeover(tmp_path: Path, receiver: Receiver) -> None:
    """Two nodes on one store: one takes the subscription's lease and delivers; when it dies
    without releasing it, the other takes over once the lease has run out."""
    a = await open_node(tmp_path, lease_seconds=0.6, poll_seconds=0.1)
    b = await open_node(tmp_path, lease_seconds=0.6, poll_seconds=0.1)
    a.start_background()
    b.start_background()
    apps = {id(a): build_app(a), id(b): build_app(b)}  # one app per node: it registers metrics
    api = httpx.AsyncClient(transport=httpx.ASGITransport(app=apps[id(a)]), base_url="http://telex.test",
                            auth=HmacSigner(a.keyring.state.primary_key))  # fmt: skip
    try:
        await subscribe(api, "shared", receiver.url, filter={"includedEventTypes": [IN_THREAD]})
        assert a.delivery is not None and b.delivery is not None
        async with asyncio.timeout(5):
            while not (a.delivery.working | b.delivery.working):
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        assert len(a.delivery.working) + len(b.delivery.working) == 1
        holder, other = (a, b) if a.delivery.working else (b, a)
        created = await holder.identity.create_user(["chat"])
        assert created.token is not None
        alice = User(created.user, created.token.token)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=apps[id(holder)]), base_url="http://t"
        ) as c:
            thread = await thread_with(c, alice)
            await send(c, alice, thread, "first")
            await receiver.wait_for(lambda: len(receiver.accepted) == 1)
            # The holder dies without a word: its tasks stop, its lease stays until it expires.
            assert holder.delivery is not None

            async def no_release(name: str, node: str) -> None:
                return None

            holder.delivery._cursors.release = no_release  # type: ignore[method-assign]
            for task in holder._tasks:
                task.cancel()
            await asyncio.gather(*holder._tasks, return_exceptions=True)
            holder._tasks.clear()
            await send(c, alice, thread, "second")
        other_delivery = other.delivery
        assert other_delivery is not None
        async with asyncio.timeout(10):
            while "shared" not in other_delivery.working:
                await asyncio.sleep(0.05)
        await receiver.wait_for(lambda: "second" in [e["data"]["messageBody"] for e in receiver.events()])
        # At least once: "first" may come twice (its position may not have been saved), in order.
        bodies = [e["data"]["messageBody"] for e in receiver.events()]
        assert bodies in (["first", "second"], ["first", "first", "second"])
    finally:
        await api.aclose()
        await a.close()
        await b.close()
