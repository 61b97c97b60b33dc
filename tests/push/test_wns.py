"""WNS against a loopback token endpoint and channel (push-events-sms.md §4): raw pushes for calls,
toasts for chat, the token cache, and the status codes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from xml.etree import ElementTree

import httpx
import pytest

from telex.core.clock import FakeClock
from telex.push import Outcome, WnsClient, WnsCredentials, channel_allowed, toast_xml
from tests.push.wns_service import WnsService
from tests.webhooks.receiver import serve

SCOPE = "notify.windows.com"


@pytest.fixture
async def wns(clock: FakeClock) -> AsyncIterator[WnsService]:
    service = WnsService(clock, client_id="ms-app://s-1-15-2-1", secret="sekrit", scope=SCOPE)
    async with serve(service.handle) as port:
        service.base = f"http://127.0.0.1:{port}"
        yield service


def client(
    wns: WnsService, http: httpx.AsyncClient, clock: FakeClock, *, wrong_secret: bool = False
) -> WnsClient:
    secret = "wrong" if wrong_secret else wns.secret
    credentials = WnsCredentials("ms-app://s-1-15-2-1", secret, f"{wns.base}/token", SCOPE)
    return WnsClient(http, credentials, clock)


async def test_raw_for_calls_and_toast_for_chat(wns: WnsService, clock: FakeClock) -> None:
    async with httpx.AsyncClient() as http:
        c = client(wns, http, clock)
        raw = await c.send_raw(f"{wns.base}/w/?token=dev1", b'{"callId":"c-1"}', ttl=30)
        toast = await c.send_toast(
            f"{wns.base}/w/?token=dev1", toast_xml("Alice <a@x>", "hi & bye"), tag="thread-1"
        )
    assert (raw.outcome, raw.reason, raw.message_id) == (Outcome.DELIVERED, "received", "m1")
    assert toast.outcome is Outcome.DELIVERED
    (raw_headers, raw_body), (toast_headers, toast_body) = wns.received
    assert (raw_headers["X-WNS-Type"], raw_headers["Content-Type"], raw_headers["X-WNS-TTL"]) == (
        "wns/raw", "application/octet-stream", "30")  # fmt: skip
    assert raw_body == b'{"callId":"c-1"}' and raw_headers["Authorization"] == "Bearer wns-token-1"
    assert (toast_headers["X-WNS-Type"], toast_headers["X-WNS-Tag"]) == ("wns/toast", "thread-1")
    texts = [t.text for t in ElementTree.fromstring(toast_body).iter("text")]  # noqa: S314 - our own XML
    assert texts == ["Alice <a@x>", "hi & bye"]
    assert wns.grants == 1


async def test_expired_token_is_refreshed_once(wns: WnsService, clock: FakeClock) -> None:
    async with httpx.AsyncClient() as http:
        c = client(wns, http, clock)
        await c.send_raw(f"{wns.base}/w/?token=dev1", b"1")
        wns.tokens.clear()  # WNS forgot the token: 401
        assert (await c.send_raw(f"{wns.base}/w/?token=dev1", b"2")).outcome is Outcome.DELIVERED
    assert wns.grants == 2


@pytest.mark.parametrize(
    ("channel", "outcome", "status"),
    [("expired", Outcome.GONE, 410), ("unknown", Outcome.GONE, 404), ("throttled", Outcome.RETRY, 406),
     ("busy", Outcome.RETRY, 503)],
)  # fmt: skip
async def test_channel_errors(
    wns: WnsService, clock: FakeClock, channel: str, outcome: Outcome, status: int
) -> None:
    async with httpx.AsyncClient() as http:
        result = await client(wns, http, clock).send_raw(f"{wns.base}/w/?token={channel}", b"x")
    assert (result.outcome, result.status) == (outcome, status)


async def test_bad_credentials_and_sizes(wns: WnsService, clock: FakeClock) -> None:
    async with httpx.AsyncClient() as http:
        refused = await client(wns, http, clock, wrong_secret=True).send_raw(f"{wns.base}/w/?token=d", b"x")
        big = await client(wns, http, clock).send_raw(f"{wns.base}/w/?token=d", b"x" * 5001)
    assert (refused.outcome, refused.status) == (Outcome.MISCONFIGURED, 400)
    assert big.outcome is Outcome.DROPPED and wns.received == []


def test_identities_and_channels() -> None:
    store = WnsCredentials.store_app("ms-app://s-1", "x")
    assert (store.token_url, store.scope) == ("https://login.live.com/accesstoken.srf", "notify.windows.com")
    entra = WnsCredentials.entra_app("tenant-1", "app-1", "x")
    assert entra.token_url == "https://login.microsoftonline.com/tenant-1/oauth2/v2.0/token"
    assert entra.scope == "https://wns.windows.com/.default"
    assert channel_allowed("https://wns2-by3p.notify.windows.com/w/?token=AwYAAAB")
    for bad in (
        "http://wns2.notify.windows.com/w/",
        "https://notify.windows.com.evil.test/",
        "https://10.0.0.1/",
    ):
        assert not channel_allowed(bad)
    assert b'scenario="incomingCall"' in toast_xml("A", "b", scenario="incomingCall")
