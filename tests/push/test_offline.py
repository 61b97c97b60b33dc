"""Pushes to an offline user, triggered by a real incoming call and chat messages, through loopback
FCM, APNs, WNS and Web Push services that check what the real ones check: the ring (and the
cancel when it stops), chat notifications, ids only in payloads, nothing while the user is
online, and dead registrations deleted."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from telex.app import Node
from telex.core.clock import SystemClock
from tests.chat.test_realtime import raw
from tests.conftest import make_settings
from tests.push.world import BUNDLE, World, providers
from tests.support.metrics import scrape
from tests.support.serve import running
from tests.support.users import User

SECRET_TEXT = "the launch code is 0000"


@dataclass
class Env:
    node: Node
    url: str
    world: World
    http: httpx.AsyncClient

    async def user(self, *scopes: str) -> User:
        created = await self.node.identity.create_user(list(scopes or ("chat", "voip")))
        assert created.token is not None
        return User(created.user, created.token.token)

    async def post(self, user: User, path: str, body: object = None) -> dict[str, Any]:
        r = await self.http.post(path, json=body, headers=user.headers)
        assert r.status_code in (200, 201, 204), r.text
        return dict(r.json()) if r.content else {}


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with providers(tmp_path) as world:
        settings = make_settings(
            tmp_path, push=world.settings, outbound={"allow_http": True, "allowed": ["127.0.0.1"]},
            chat={"messages_per_thread_per_10s": 0, "messages_per_thread_per_minute": 0},
        )  # fmt: skip
        node = await Node.open(settings, SystemClock())
        try:
            async with running(node) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
                yield Env(node, url, world, http)
        finally:
            await node.close()


async def until(done: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not done():
            await asyncio.sleep(0.02)


async def register_everything(env: Env, bob: User) -> dict[str, str]:
    """Bob's five devices: Android (FCM), iPhone (VoIP and alert tokens), Windows, a browser."""
    w = env.world
    ids = {}
    for name, body in {
        "fcm": {"platform": "fcm", "token": "fcm-bob-1"},
        "voip": {"platform": "apns", "token": "ab" * 32, "apnsPushType": "voip"},
        "alert": {"platform": "apns", "token": "cd" * 32},
        "wns": {"platform": "wns", "token": w.wns_channel("dev-bob")},
        "webpush": {"platform": "webpush", "pushSubscription": w.web_subscription("tok-bob")},
    }.items():
        ids[name] = (await env.post(bob, "/push/registrations", body))["id"]
    return ids


def fcm_data(world: World) -> list[dict[str, str]]:
    return [m["message"]["data"] for m in world.fcm.messages]


def apns_pushes(world: World) -> list[tuple[dict[str, str], dict[str, Any]]]:
    return [(r["headers"], json.loads(r["body"])) for r in world.apns.records if r["status"] == 200]


def web_payloads(world: World) -> list[dict[str, Any]]:
    return [json.loads(r.plaintext) for r in world.webpush.received]


async def test_an_offline_callee_rings_everywhere_and_stops_ringing(env: Env) -> None:
    w = env.world
    alice, bob = await env.user(), await env.user()
    await register_everything(env, bob)
    started = await env.post(
        alice, "/calling/calls", {"targets": [{"rawId": bob.id}], "displayName": "Alice"}
    )
    call_id = started["call"]["callId"]
    leg = next(
        p["participantId"] for p in started["call"]["participants"] if p["identifier"]["rawId"] == bob.id
    )
    await until(lambda: len(w.fcm.messages) == 1 and len(apns_pushes(w)) == 2 and len(w.wns.received) == 1
                and len(w.webpush.received) == 1)  # fmt: skip

    # FCM: a data message at high priority that lives only while it rings.
    (ring,) = w.fcm.messages
    android = ring["message"]["android"]
    assert ring["message"]["data"]["type"] == "incomingCall" and ring["message"]["data"]["callId"] == call_id
    assert android["priority"] == "HIGH" and 0 < int(android["ttl"].rstrip("s")) <= 60
    assert android["collapse_key"] == call_id and "notification" not in ring["message"]
    # APNs: a VoIP push to the .voip topic, now or never; the alert token gets a visible ring.
    (voip_headers, voip_body), (alert_headers, alert_body) = sorted(
        apns_pushes(w), key=lambda p: p[0]["apns-push-type"] != "voip"
    )
    assert (voip_headers["apns-push-type"], voip_headers["apns-topic"]) == ("voip", BUNDLE + ".voip")
    assert (voip_headers["apns-priority"], voip_headers["apns-expiration"]) == ("10", "0")
    assert voip_body["callId"] == call_id and voip_body["callerDisplayName"] == "Alice"
    assert alert_headers["apns-push-type"] == "alert" and alert_body["aps"]["alert"]["title"] == "Alice"
    # WNS: a raw notification for the app's background task.
    ((wns_headers, wns_body),) = w.wns.received
    assert wns_headers["X-WNS-Type"] == "wns/raw" and json.loads(wns_body)["callId"] == call_id
    # Web Push: urgent, short-lived, replaceable by the cancel; the browser decrypts it.
    (web,) = w.webpush.received
    assert web.headers["Urgency"] == "high" and 0 < int(web.headers["TTL"]) <= 60
    assert json.loads(web.plaintext)["type"] == "incomingCall"

    await env.post(bob, f"/calling/calls/{call_id}/participants/{leg}/:decline")
    await until(lambda: len(w.fcm.messages) == 2 and len(w.wns.received) == 2 and len(w.webpush.received) == 2
                and len(apns_pushes(w)) == 3)  # fmt: skip
    cancel = w.fcm.messages[1]["message"]
    assert cancel["data"] == {"type": "incomingCallEnded", "callId": call_id, "participantId": leg,
                              "reason": "declined"}  # fmt: skip
    assert cancel["android"]["collapse_key"] == call_id
    headers, body = apns_pushes(w)[2]  # to the alert token only: a VoIP push must always ring
    assert (headers["apns-push-type"], headers["apns-priority"]) == ("background", "5")
    assert body["aps"] == {"content-available": 1} and body["type"] == "incomingCallEnded"
    assert json.loads(w.wns.received[1][1])["type"] == "incomingCallEnded"
    web_cancel = w.webpush.received[1]
    assert web_cancel.headers["Topic"] == web.headers["Topic"]  # replaces an undelivered ring
    assert json.loads(web_cancel.plaintext)["reason"] == "declined"


async def test_chat_pushes_carry_ids_only_and_stop_when_online(env: Env) -> None:
    w = env.world
    alice, bob = await env.user(), await env.user()
    await register_everything(env, bob)
    member = {"communicationIdentifier": {"rawId": bob.id}, "displayName": "Bob"}
    thread = await env.post(
        alice, "/chat/threads?api-version=2024-03-07", {"topic": "t", "participants": [member]}
    )
    thread_id = thread["chatThread"]["id"]
    sent = await env.post(alice, f"/chat/threads/{thread_id}/messages?api-version=2024-03-07",
                          {"content": SECRET_TEXT, "senderDisplayName": "Alice"})  # fmt: skip
    await until(lambda: len(w.fcm.messages) == 1 and len(apns_pushes(w)) == 1 and len(w.wns.received) == 1
                and len(w.webpush.received) == 1)  # fmt: skip
    message = w.fcm.messages[0]["message"]
    assert message["data"] == {"type": "chatMessageReceived", "threadId": thread_id, "messageId": sent["id"],
                               "senderId": alice.id, "senderDisplayName": "Alice"}  # fmt: skip
    assert message["android"]["priority"] == "NORMAL" and message["notification"]["title"] == "Alice"
    headers, body = apns_pushes(w)[0]  # the alert token; the VoIP token gets no chat
    assert headers["apns-push-type"] == "alert" and headers["apns-topic"] == BUNDLE
    assert body["aps"]["thread-id"] == thread_id
    assert w.wns.received[0][0]["X-WNS-Type"] == "wns/toast"
    assert w.webpush.received[0].headers["Urgency"] == "normal"
    everything = json.dumps(w.fcm.messages) + str(w.apns.records) + str(w.wns.received)
    everything += str([r.plaintext for r in w.webpush.received])
    assert SECRET_TEXT not in everything
    # Alice, the sender, has no devices; she gets nothing anyway. Bob comes online: no pushes.
    ws = await raw(env.url, bob)
    try:
        before = len(w.fcm.messages) + len(w.webpush.received)
        await env.post(
            alice, f"/chat/threads/{thread_id}/messages?api-version=2024-03-07", {"content": "now online"}
        )
        await asyncio.sleep(0.5)  # the consumer has handled it by now (its poll is 0.1 s)
        assert len(w.fcm.messages) + len(w.webpush.received) == before
    finally:
        await ws.close()


async def test_dead_registrations_are_deleted_and_busy_providers_retried(env: Env) -> None:
    w = env.world
    alice, bob = await env.user(), await env.user()
    for body in (
        {"platform": "fcm", "token": "unreg-1"},  # 404 UNREGISTERED
        {"platform": "fcm", "token": "quota-1"},  # 429: retried, still busy, given up
        {"platform": "apns", "token": "dead" + "ab" * 30},  # 410 Unregistered
        {"platform": "wns", "token": w.wns_channel("expired")},  # 410
        {
            "platform": "webpush",
            "pushSubscription": {**w.web_subscription("x"), "endpoint": f"{w.webpush.base}/gone"},
        },
        {"platform": "fcm", "token": "fcm-alive"},
    ):
        await env.post(bob, "/push/registrations", body)
    thread = await env.post(alice, "/chat/threads?api-version=2024-03-07", {
        "topic": "t", "participants": [{"communicationIdentifier": {"rawId": bob.id}}]})  # fmt: skip
    await env.post(
        alice,
        f"/chat/threads/{thread['chatThread']['id']}/messages?api-version=2024-03-07",
        {"content": "hi"},
    )

    async def remaining() -> list[str]:
        r = await env.http.get("/push/registrations", headers=bob.headers)
        return sorted(x.get("fcmTargetKind") or x["platform"] for x in r.json()["value"])

    async with asyncio.timeout(10):
        while len(await remaining()) != 2:
            await asyncio.sleep(0.05)
    assert await remaining() == ["token", "token"]  # the busy one and the live one are kept
    assert [m["message"]["token"] for m in w.fcm.messages] == ["fcm-alive"]
    metrics = await scrape(env.node)
    for outcome in ("gone", "retry", "delivered"):
        assert f'outcome="{outcome}"' in metrics
