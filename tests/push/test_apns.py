"""APNs over HTTP/2 against a loopback h2 server that checks what Apple checks (push-events-sms.md
§3): VoIP and alert headers, the provider token's life, multiplexing, and every error path."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from telex.core.clock import FakeClock
from telex.push import (
    ApnsClient,
    ApnsKey,
    ApnsNotification,
    Outcome,
    background_notification,
    call_notification,
    chat_notification,
)
from telex.push.apns import ProviderToken, read_error
from tests.push.apns_service import ApnsService, apns_server
from tests.webhooks.certs import LocalCA

TEAM, KID, BUNDLE = "ABCDE12345", "KEY1234567", "com.example.telex"
DEVICE = "ab" * 32


def pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@dataclass
class Apns:
    service: ApnsService
    client: ApnsClient
    http: httpx.AsyncClient


@pytest.fixture
async def apns(clock: FakeClock, ca: LocalCA) -> AsyncIterator[Apns]:
    signing = ec.generate_private_key(ec.SECP256R1())
    service = ApnsService(clock, TEAM, {KID: signing.public_key()}, BUNDLE)
    async with (
        apns_server(service, ca.server_context("127.0.0.1", alpn=["h2"])) as port,
        httpx.AsyncClient(http2=True, verify=ca.client_context()) as http,
    ):
        client = ApnsClient(http, ApnsKey(KID, TEAM, pem(signing)), BUNDLE, base_url=f"https://127.0.0.1:{port}",
                            clock=clock)  # fmt: skip
        yield Apns(service, client, http)


async def test_incoming_call_is_a_voip_push(apns: Apns) -> None:
    result = await apns.client.send(
        DEVICE, call_notification({"callId": "c-1", "from": "8:acs:a"}, call_id="c-1")
    )
    assert result.outcome is Outcome.DELIVERED and result.status == 200
    (record,) = apns.service.records
    headers = record["headers"]
    assert headers[":path"] == f"/3/device/{DEVICE}"
    assert (headers["apns-push-type"], headers["apns-topic"]) == ("voip", BUNDLE + ".voip")
    assert (headers["apns-priority"], headers["apns-expiration"], headers["apns-collapse-id"]) == (
        "10",
        "0",
        "c-1",
    )
    assert result.message_id == headers["apns-id"]
    assert json.loads(record["body"]) == {"aps": {}, "callId": "c-1", "from": "8:acs:a"}


async def test_chat_is_an_alert_collapsed_by_thread(apns: Apns, clock: FakeClock) -> None:
    notification = chat_notification("Alice", "hello", thread_id="19:x@thread.v2", now=clock.now(), ttl=3600,
                                     badge=3, data={"threadId": "19:x@thread.v2"})  # fmt: skip
    assert (await apns.client.send(DEVICE, notification)).outcome is Outcome.DELIVERED
    headers = apns.service.records[0]["headers"]
    assert (headers["apns-push-type"], headers["apns-topic"], headers["apns-priority"]) == (
        "alert",
        BUNDLE,
        "10",
    )
    assert headers["apns-expiration"] == str(int(clock.now()) + 3600)
    assert headers["apns-collapse-id"] == "19:x@thread.v2"
    body = json.loads(apns.service.records[0]["body"])
    assert body["aps"] == {"alert": {"title": "Alice", "body": "hello"}, "sound": "default",
                           "thread-id": "19:x@thread.v2", "badge": 3}  # fmt: skip
    long = chat_notification("A", "b", thread_id="t" * 100, now=clock.now())
    assert long.collapse_id is not None and len(long.collapse_id) == 64


async def test_background_push_uses_priority_5(apns: Apns, clock: FakeClock) -> None:
    result = await apns.client.send(DEVICE, background_notification({"callEnded": "c-1"}, now=clock.now()))
    assert result.outcome is Outcome.DELIVERED
    assert apns.service.records[0]["headers"]["apns-priority"] == "5"


async def test_many_sends_share_one_http2_connection(apns: Apns) -> None:
    results = await asyncio.gather(
        *(apns.client.send(DEVICE, call_notification({"n": i}, call_id=f"c-{i}")) for i in range(20))
    )
    assert {r.outcome for r in results} == {Outcome.DELIVERED}
    assert apns.service.connections == 1
    assert len(apns.service.tokens_seen) == 1


async def test_provider_token_lives_40_minutes(apns: Apns, clock: FakeClock) -> None:
    notification = call_notification({}, call_id="c")
    await apns.client.send(DEVICE, notification)
    clock.advance(39 * 60)
    await apns.client.send(DEVICE, notification)
    assert len(apns.service.tokens_seen) == 1
    clock.advance(60)
    assert (await apns.client.send(DEVICE, notification)).outcome is Outcome.DELIVERED
    assert len(apns.service.tokens_seen) == 2  # renewed after 40 min: inside Apple's 20-60 min window
    assert all(r["reason"] is None for r in apns.service.records)


async def test_expired_provider_token_is_renewed_and_retried(apns: Apns, clock: FakeClock) -> None:
    apns.service.token_max_age = 30 * 60  # the service's clock runs ahead of ours
    await apns.client.send(DEVICE, call_notification({}, call_id="c"))
    clock.advance(35 * 60)
    result = await apns.client.send(DEVICE, call_notification({}, call_id="c"))
    assert result.outcome is Outcome.DELIVERED
    assert [r["reason"] for r in apns.service.records] == [None, "ExpiredProviderToken", None]
    assert apns.client.tokens.issued_count == 2


@pytest.mark.parametrize(
    ("device", "notification", "outcome", "reason"),
    [
        ("dead" + "0" * 60, None, Outcome.GONE, "Unregistered"),
        ("ab" * 16, None, Outcome.GONE, "BadDeviceToken"),  # too short for APNs
        ("cafe" + "0" * 60, None, Outcome.RETRY, "TooManyRequests"),
        ("fade" + "0" * 60, None, Outcome.RETRY, "InternalServerError"),
        ("beef" + "0" * 60, None, Outcome.RETRY, "ServiceUnavailable"),
        (DEVICE, ApnsNotification({"aps": {}}, "voip", 10, 0), Outcome.DROPPED, "DeviceTokenNotForTopic"),
        (DEVICE, ApnsNotification({"aps": {"content-available": 1}}, "background", 10, 0), Outcome.DROPPED,
         "BadPriority"),
        (DEVICE, ApnsNotification({"aps": {}}, "alert", 10, 0, topic_suffix=".other"), Outcome.MISCONFIGURED,
         "TopicDisallowed"),
        (DEVICE, ApnsNotification({"aps": {}}, "fax", 10, 0), Outcome.DROPPED, "InvalidPushType"),
    ],
)  # fmt: skip
async def test_errors(
    apns: Apns, device: str, notification: ApnsNotification | None, outcome: Outcome, reason: str
) -> None:
    result = await apns.client.send(device, notification or call_notification({}, call_id="c"))
    assert (result.outcome, result.reason) == (outcome, reason)
    assert apns.service.records[-1]["reason"] == reason


async def test_refused_before_sending(apns: Apns) -> None:
    for token in ("", "xyz", "../../3/device/ab", "abc"):
        result = await apns.client.send(token, call_notification({}, call_id="c"))
        assert (result.outcome, result.reason) == (Outcome.GONE, "BadDeviceToken")
    big = call_notification({"blob": "x" * 5200}, call_id="c")
    assert (await apns.client.send(DEVICE, big)).reason == "PayloadTooLarge"
    assert apns.service.records == []
    fits = call_notification({"blob": "x" * 5000}, call_id="c")  # VoIP allows 5 KB
    assert (await apns.client.send(DEVICE, fits)).outcome is Outcome.DELIVERED


async def test_wrong_team_is_a_configuration_error(apns: Apns, clock: FakeClock, ca: LocalCA) -> None:
    signing = ec.generate_private_key(ec.SECP256R1())
    apns.service.keys["OTHERKEY00"] = signing.public_key()
    wrong = ApnsClient(apns.http, ApnsKey("OTHERKEY00", "WRONGTEAM0", pem(signing)), BUNDLE,
                       base_url=str(apns.client._base_url), clock=clock)  # fmt: skip
    result = await wrong.send(DEVICE, call_notification({}, call_id="c"))
    assert (result.outcome, result.reason) == (Outcome.MISCONFIGURED, "InvalidProviderToken")


def test_read_error_table() -> None:
    assert read_error(410, b'{"reason": "Unregistered", "timestamp": 1}').outcome is Outcome.GONE
    assert read_error(413, b'{"reason": "PayloadTooLarge"}').outcome is Outcome.DROPPED
    assert read_error(429, b'{"reason": "TooManyProviderTokenUpdates"}').outcome is Outcome.RETRY
    assert read_error(403, b'{"reason": "MissingProviderToken"}').outcome is Outcome.MISCONFIGURED
    assert read_error(502, b"").outcome is Outcome.RETRY
    assert read_error(400, b"junk").reason == "HTTP 400"


def test_key_and_token_rules(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="P-256"):
        ApnsKey(KID, TEAM, pem(ec.generate_private_key(ec.SECP384R1())))
    key = ApnsKey(KID, TEAM, pem(ec.generate_private_key(ec.SECP256R1())))
    for bad in (19 * 60, 60 * 60):
        with pytest.raises(ValueError, match="20 and before 60"):
            ProviderToken(key, clock, refresh_after=bad)
    assert "private_key_pem" not in repr(key)
