"""Web Push (RFC 8030/8291/8292): our encryption reproduces RFC 8291's example and decrypts with
http_ece; the client's requests pass a loopback push service that checks VAPID, headers and
size; every push-service answer maps to the right outcome."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import AsyncIterator

import http_ece
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from telex.core.clock import FakeClock
from telex.core.errors import TelexError
from telex.push import (
    Outcome,
    PushKind,
    Urgency,
    VapidKey,
    WebPushClient,
    WebPushMessage,
    WebPushSubscription,
    endpoint_allowed,
)
from telex.push.webpush import MAX_PAYLOAD, encrypt, topic_for
from telex.webhooks import DestinationGuard, OutboundPolicy, build_client
from tests.push.webpush_service import Browser, PushService
from tests.webhooks.loopback_dns import DnsResolver, DnsServer
from tests.webhooks.receiver import serve

SUBJECT = "mailto:ops@telex.example"


def u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_rfc8291_section5_example() -> None:
    # RFC 8291 §5: fixed keys and salt give exactly the example message.
    as_private = ec.derive_private_key(
        int.from_bytes(u("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"), "big"), ec.SECP256R1()
    )
    subscription = WebPushSubscription(
        "https://push.example.net/push/JzLQ3raZJfFBR0aqvOMsLrt54w4rJUsV",
        u("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"),
        u("BTBZMqHH6r4Tts7J_aSIgg"),
    )
    body = encrypt(b"When I grow up, I want to be a watermelon", subscription,
                   salt=u("DGv6ra1nlYgDCS1FRnbzlw"), ephemeral=as_private)  # fmt: skip
    assert body == u(
        "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6P"
        "Bru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
    )


@pytest.mark.parametrize("size", [0, 1, 100, 1000, MAX_PAYLOAD])
def test_http_ece_decrypts_ours(size: int) -> None:
    browser = Browser(VapidKey.generate().public_key)
    subscription = WebPushSubscription.from_json({"endpoint": "https://x.test/p", "keys": browser.keys()})
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    body = encrypt(payload, subscription)
    salt, rs, idlen = body[:16], *struct.unpack("!IB", body[16:21])
    assert (rs, idlen, body[21]) == (4096, 65, 4) and len(salt) == 16
    assert len(body) == 86 + size + 1 + 16
    plain = http_ece.decrypt(
        body, private_key=browser.private_key, auth_secret=browser.auth, version="aes128gcm"
    )
    assert plain == payload


def test_3993_bytes_is_the_most_that_fits_4096() -> None:
    subscription = WebPushSubscription.from_json(
        {"endpoint": "https://x.test/p", "keys": Browser(VapidKey.generate().public_key).keys()}
    )
    assert MAX_PAYLOAD == 3993
    assert len(encrypt(b"a" * 3993, subscription)) == 4096
    with pytest.raises(TelexError) as info:
        encrypt(b"a" * 3994, subscription)
    assert info.value.status == 413
    with pytest.raises(TelexError):
        WebPushMessage(b"a" * 3994, ttl=60)


def test_subscription_parsing() -> None:
    browser = Browser(VapidKey.generate().public_key)
    keys = browser.keys()
    unpadded = {k: v.rstrip("=") for k, v in keys.items()}
    assert WebPushSubscription.from_json({"endpoint": "e", "keys": keys}) == WebPushSubscription.from_json(
        {"endpoint": "e", "keys": unpadded}
    )
    for bad in ({"endpoint": "e"}, {"endpoint": "e", "keys": {"p256dh": keys["p256dh"]}},
                {"endpoint": "e", "keys": {"p256dh": "AAAA", "auth": keys["auth"]}},
                {"endpoint": "e", "keys": {"p256dh": keys["p256dh"], "auth": "AAAA"}},
                {"endpoint": "e", "keys": {"p256dh": "B" + "A" * 86, "auth": keys["auth"]}}):  # fmt: skip
        with pytest.raises(ValueError, match=r"push subscription|p256dh|auth|point"):
            WebPushSubscription.from_json(bad)


def test_vapid_key_forms() -> None:
    key = VapidKey.generate()
    assert VapidKey.from_pem(key.private_pem()).public_key == key.public_key
    assert len(u(key.public_key)) == 65
    raw = (
        base64.urlsafe_b64encode(
            key._key.private_numbers().private_value.to_bytes(32, "big")  # what web-push tools print
        )
        .rstrip(b"=")
        .decode()
    )
    assert VapidKey.from_raw(raw).public_key == key.public_key


def test_endpoint_allow_list_and_topics() -> None:
    assert endpoint_allowed("https://fcm.googleapis.com/fcm/send/abc")
    assert endpoint_allowed("https://updates.push.services.mozilla.com/wpush/v2/x")
    assert endpoint_allowed("https://wns2-by3p.notify.windows.com/w/?token=x")
    assert endpoint_allowed("https://web.push.apple.com/QO")
    for bad in ("http://fcm.googleapis.com/x", "https://fcm.googleapis.com.evil.test/x", "https://evil.test/",
                "https://user@fcm.googleapis.com/", "https://169.254.169.254/"):  # fmt: skip
        assert not endpoint_allowed(bad)
    assert topic_for("call-42") == "call-42"
    long = topic_for("call-" + "9f1c2a4e-3f7b-4b1e-9d6c-0a1b2c3d4e5f")
    assert len(long) == 32 and long == topic_for("call-9f1c2a4e-3f7b-4b1e-9d6c-0a1b2c3d4e5f")
    assert topic_for("thread/19:x@thread.v2") != "thread/19:x@thread.v2"
    with pytest.raises(ValueError, match="Topic"):
        WebPushMessage(b"", ttl=1, topic="has space")


@pytest.fixture
async def service(clock: FakeClock) -> AsyncIterator[PushService]:
    push = PushService(clock)
    async with serve(push.handle) as port:
        push.port, push.base = port, f"http://127.0.0.1:{port}/wpush/v2"
        yield push


def subscribe(service: PushService, key: VapidKey, token: str) -> tuple[Browser, WebPushSubscription]:
    browser = Browser(key.public_key)
    service.browsers[token.removeprefix("tiny-")] = browser
    endpoint = f"{service.base}/{token}"
    return browser, WebPushSubscription.from_json({"endpoint": endpoint, "keys": browser.keys()})


async def test_call_and_chat_pushes_are_accepted(service: PushService, clock: FakeClock) -> None:
    key = VapidKey.generate()
    _, subscription = subscribe(service, key, "tok-1")
    async with httpx.AsyncClient() as http:
        client = WebPushClient(http, key, SUBJECT, clock)
        call = WebPushMessage.for_kind(
            PushKind.CALL, {"type": "incomingCall", "callId": "c-1"}, key="call-c-1"
        )
        chat = WebPushMessage.for_kind(
            PushKind.CHAT, {"type": "chatMessage", "body": "héllo"}, key="thread-1"
        )
        results = [await client.send(subscription, call), await client.send(subscription, chat)]
    assert [r.outcome for r in results] == [Outcome.DELIVERED, Outcome.DELIVERED]
    assert all(r.status == 201 and r.message_id for r in results)
    first, second = service.received
    assert json.loads(first.plaintext) == {"type": "incomingCall", "callId": "c-1"}
    assert (first.headers["Urgency"], first.headers["TTL"], first.headers["Topic"]) == (
        "high",
        "60",
        "call-c-1",
    )
    assert json.loads(second.plaintext)["body"] == "héllo"
    assert (second.headers["Urgency"], second.headers["TTL"], second.headers["Topic"]) == (
        "normal",
        "86400",
        "thread-1",
    )
    assert first.headers["Content-Type"] == "application/octet-stream"
    assert first.claims["sub"] == SUBJECT
    assert first.claims["exp"] == int(clock.now()) + 12 * 3600


async def test_largest_payload_goes_through(service: PushService, clock: FakeClock) -> None:
    key = VapidKey.generate()
    _, subscription = subscribe(service, key, "tok-big")
    async with httpx.AsyncClient() as http:
        result = await WebPushClient(http, key, SUBJECT, clock).send(
            subscription, WebPushMessage(b"x" * MAX_PAYLOAD, ttl=0, urgency=Urgency.LOW)
        )
    assert result.outcome is Outcome.DELIVERED
    assert len(service.received[0].body) == 4096 and service.received[0].plaintext == b"x" * MAX_PAYLOAD


@pytest.mark.parametrize(
    ("token", "outcome", "status", "retry_after"),
    [
        ("gone", Outcome.GONE, 410, None),
        ("missing", Outcome.GONE, 404, None),
        ("busy", Outcome.RETRY, 429, 30.0),
        ("down", Outcome.RETRY, 503, None),
        ("tiny-tok", Outcome.DROPPED, 413, None),
    ],
)
async def test_push_service_errors(
    service: PushService,
    clock: FakeClock,
    token: str,
    outcome: Outcome,
    status: int,
    retry_after: float | None,
) -> None:
    key = VapidKey.generate()
    _, subscription = subscribe(service, key, token)
    async with httpx.AsyncClient() as http:
        result = await WebPushClient(http, key, SUBJECT, clock).send(
            subscription, WebPushMessage(b"x" * 200, ttl=60)
        )
    assert (result.outcome, result.status, result.retry_after) == (outcome, status, retry_after)


async def test_a_vapid_key_the_subscription_was_not_made_with_is_refused(
    service: PushService, clock: FakeClock
) -> None:
    _, subscription = subscribe(service, VapidKey.generate(), "tok-2")
    async with httpx.AsyncClient() as http:
        result = await WebPushClient(http, VapidKey.generate(), SUBJECT, clock).send(
            subscription, WebPushMessage(b"x", ttl=60)
        )
    assert (result.outcome, result.status) == (Outcome.MISCONFIGURED, 403)
    assert service.refused == [(403, "not the key this subscription was made with")]


async def test_unreachable_push_service_is_retried(clock: FakeClock) -> None:
    key = VapidKey.generate()
    async with serve(PushService(clock).handle) as port:
        pass
    browser = Browser(key.public_key)
    subscription = WebPushSubscription.from_json(
        {"endpoint": f"http://127.0.0.1:{port}/x", "keys": browser.keys()}
    )
    async with httpx.AsyncClient() as http:
        result = await WebPushClient(http, key, SUBJECT, clock).send(
            subscription, WebPushMessage(b"x", ttl=60)
        )
    assert result.outcome is Outcome.RETRY


async def test_through_the_ssrf_safe_client(service: PushService, clock: FakeClock, dns: DnsServer) -> None:
    key = VapidKey.generate()
    port = service.port
    browser = Browser(key.public_key)
    service.browsers["tok-3"] = browser
    dns.set("push.demo.test", "127.0.0.1")
    dns.set("push.evil.test", "169.254.169.254")
    guard = DestinationGuard(
        OutboundPolicy.from_settings(allow=["127.0.0.1"], allow_http=True), DnsResolver(dns)
    )
    async with build_client(guard) as http:
        client = WebPushClient(http, key, SUBJECT, clock)
        ok = WebPushSubscription.from_json(
            {"endpoint": f"http://push.demo.test:{port}/wpush/v2/tok-3", "keys": browser.keys()}
        )
        evil = WebPushSubscription.from_json({"endpoint": "http://push.evil.test/x", "keys": browser.keys()})
        assert (await client.send(ok, WebPushMessage(b"hi", ttl=60))).outcome is Outcome.DELIVERED
        assert (await client.send(evil, WebPushMessage(b"hi", ttl=60))).outcome is Outcome.GONE
    assert len(service.received) == 1
    assert service.received[0].claims["aud"] == f"http://push.demo.test:{port}"


def test_vapid_subject_must_be_a_contact() -> None:
    with pytest.raises(ValueError, match="mailto"):
        WebPushClient(httpx.AsyncClient(), VapidKey.generate(), "ops@telex.example")
