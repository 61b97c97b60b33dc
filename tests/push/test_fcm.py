"""FCM HTTP v1 against a loopback OAuth + FCM service (push-events-sms.md §2): the grant and its
cache, call and chat message shapes, and every error mapping."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from telex.core.clock import FakeClock
from telex.push import FcmClient, Outcome, PushKind, ServiceAccount, TargetKind, build_message
from telex.push.fcm import read_error
from tests.push.fcm_service import PROJECT, FcmService
from tests.webhooks.receiver import serve


@pytest.fixture
async def fcm(clock: FakeClock) -> AsyncIterator[FcmService]:
    service = FcmService(clock)
    async with serve(service.handle) as port:
        service.base = f"http://127.0.0.1:{port}"
        yield service


def client_for(fcm: FcmService, http: httpx.AsyncClient, clock: FakeClock, **sa: str) -> FcmClient:
    return FcmClient(
        http, ServiceAccount.from_json(fcm.service_account(**sa)), base_url=fcm.base, clock=clock
    )


def call_message(token: str) -> dict[str, object]:
    return build_message(
        PushKind.CALL, token, {"type": "incomingCall", "callId": "c-1"}, collapse_key="call-c-1"
    )


async def test_call_and_chat_messages(fcm: FcmService, clock: FakeClock) -> None:
    async with httpx.AsyncClient() as http:
        client = client_for(fcm, http, clock)
        call = await client.send(call_message("device-1"))
        chat = await client.send(
            build_message(
                PushKind.CHAT,
                "fid-1",
                {"threadId": "19:x@thread.v2"},
                target_kind=TargetKind.FID,
                collapse_key="19:x@thread.v2",
                title="Alice",
                body="hello",
            )
        )
    assert (call.outcome, chat.outcome) == (Outcome.DELIVERED, Outcome.DELIVERED)
    assert call.message_id is not None and call.message_id.startswith(f"projects/{PROJECT}/messages/")
    sent_call, sent_chat = (m["message"] for m in fcm.messages)
    assert sent_call == {
        "token": "device-1",
        "data": {"type": "incomingCall", "callId": "c-1"},
        "android": {"priority": "HIGH", "ttl": "30s", "direct_boot_ok": True, "collapse_key": "call-c-1"},
    }
    assert "notification" not in sent_call  # data-only: the app shows its own call screen
    assert sent_chat["fid"] == "fid-1" and "token" not in sent_chat
    assert sent_chat["notification"] == {"title": "Alice", "body": "hello"}
    assert sent_chat["android"] == {
        "priority": "NORMAL", "ttl": "86400s", "collapse_key": "19:x@thread.v2",
        "notification": {"channel_id": "chat", "tag": "19:x@thread.v2"},
    }  # fmt: skip


async def test_the_grant_is_google_shaped_and_cached(fcm: FcmService, clock: FakeClock) -> None:
    async with httpx.AsyncClient() as http:
        client = client_for(fcm, http, clock)
        results = await asyncio.gather(*(client.send(call_message(f"d-{i}")) for i in range(20)))
        assert {r.outcome for r in results} == {Outcome.DELIVERED}
        assert len(fcm.grants) == 1  # twenty concurrent sends, one grant
        (claims,) = fcm.grants
        assert claims["aud"] == f"{fcm.base}/token" and claims["exp"] - claims["iat"] == 3600
        clock.advance(3599 - 300 - 1)
        await client.send(call_message("d-x"))
        assert len(fcm.grants) == 1  # still cached
        clock.advance(2)
        await client.send(call_message("d-y"))
        assert len(fcm.grants) == 2  # refreshed five minutes before expiry


async def test_a_revoked_access_token_is_replaced_once(fcm: FcmService, clock: FakeClock) -> None:
    async with httpx.AsyncClient() as http:
        client = client_for(fcm, http, clock)
        assert (await client.send(call_message("d-1"))).outcome is Outcome.DELIVERED
        fcm.revoke_all()
        assert (await client.send(call_message("d-2"))).outcome is Outcome.DELIVERED
        assert len(fcm.grants) == 2
        fcm.expires_in = 0  # every new token is dead on arrival: no endless loop
        fcm.revoke_all()
        result = await client.send(call_message("d-3"))
    assert (result.outcome, result.status) == (Outcome.MISCONFIGURED, 401)


async def test_a_refused_grant_is_a_configuration_error(fcm: FcmService, clock: FakeClock) -> None:
    async with httpx.AsyncClient() as http:
        result = await client_for(fcm, http, clock, client_email="someone@else.test").send(call_message("d"))
    assert (result.outcome, result.status) == (Outcome.MISCONFIGURED, 400)
    assert fcm.messages == []


@pytest.mark.parametrize(
    ("token", "outcome", "status", "retry_after"),
    [
        ("unreg-1", Outcome.GONE, 404, None),
        ("mismatch-1", Outcome.GONE, 403, None),
        ("badtoken-1", Outcome.GONE, 400, None),
        ("quota-1", Outcome.RETRY, 429, 30.0),
        ("unavail-1", Outcome.RETRY, 503, None),
        ("internal-1", Outcome.RETRY, 500, None),
        ("thirdparty-1", Outcome.MISCONFIGURED, 401, None),
    ],
)
async def test_errors(
    fcm: FcmService, clock: FakeClock, token: str, outcome: Outcome, status: int, retry_after: float | None
) -> None:
    async with httpx.AsyncClient() as http:
        result = await client_for(fcm, http, clock).send(call_message(token))
    assert (result.outcome, result.status, result.retry_after) == (outcome, status, retry_after)
    assert len(fcm.grants) == 1  # THIRD_PARTY_AUTH_ERROR is not our token: no second grant


async def test_a_malformed_message_is_dropped(fcm: FcmService, clock: FakeClock) -> None:
    async with httpx.AsyncClient() as http:
        result = await client_for(fcm, http, clock).send({"message": {"token": "t", "topic": "news"}})
    assert (result.outcome, result.status) == (Outcome.DROPPED, 400)


async def test_fcm_unreachable_is_retried(clock: FakeClock) -> None:
    service = FcmService(clock)
    async with serve(service.handle) as port:
        service.base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient() as http:
        result = await client_for(service, http, clock).send(call_message("d"))
    assert result.outcome is Outcome.RETRY


def test_message_rules() -> None:
    with pytest.raises(ValueError, match="strings"):
        build_message(PushKind.CHAT, "t", {"n": 12})  # type: ignore[dict-item]
    for reserved in ("from", "message_type", "google.sent_time", "gcm.notification"):
        with pytest.raises(ValueError, match="reserved"):
            build_message(PushKind.CHAT, "t", {reserved: "x"})
    with pytest.raises(ValueError, match="4096"):
        build_message(PushKind.CHAT, "t", {"body": "x" * 4100})
    assert build_message(PushKind.CALL, "t", {}, ttl=0)["message"]["android"]["ttl"] == "0s"


def test_service_account_parsing() -> None:
    info = {"type": "service_account", "project_id": "p", "client_email": "e", "private_key": "k",
            "private_key_id": "i"}  # fmt: skip
    account = ServiceAccount.from_json(json.dumps(info))
    assert account.token_uri == "https://oauth2.googleapis.com/token"
    with pytest.raises(ValueError, match="lacks"):
        ServiceAccount.from_json({"type": "service_account"})
    with pytest.raises(ValueError, match="not a service-account"):
        ServiceAccount.from_json({**info, "type": "authorized_user"})


def test_read_error_without_fcm_details() -> None:
    assert read_error(404, b"", {}).outcome is Outcome.GONE
    assert read_error(502, b"<html>", {}).outcome is Outcome.RETRY
    assert read_error(403, b'{"error": {"status": "PERMISSION_DENIED"}}', {}).outcome is Outcome.MISCONFIGURED
    assert read_error(400, b'{"error": "x"}', {}).outcome is Outcome.DROPPED
