"""The URL validator through the real subscription API (security.md G16): every forbidden address
class refused as a literal and as a name that resolves to it (a loopback DNS server the test
controls), a redirect never followed, and a DNS answer that changes after subscribing caught at
dispatch; nothing ever connects to a forbidden address."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from telex.app import Node, build_app
from telex.core.clock import SystemClock
from tests.conftest import make_settings
from tests.subscriptions.conftest import Receiver, open_node, subscribe, subscription_body
from tests.subscriptions.test_delivery import IN_THREAD, send, thread_with
from tests.support.metrics import scrape
from tests.support.signing import HmacSigner
from tests.support.users import User
from tests.turn.test_forbidden_peers import FORBIDDEN_V4, FORBIDDEN_V6
from tests.webhooks.loopback_dns import DnsResolver, DnsServer

FORBIDDEN = FORBIDDEN_V4 + FORBIDDEN_V6


@pytest.fixture
async def production(tmp_path: Path, dns: DnsServer) -> AsyncIterator[httpx.AsyncClient]:
    """A node with the production outbound policy (https, port 443, public addresses only)."""
    node = await Node.open(make_settings(tmp_path), SystemClock(), DnsResolver(dns))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=build_app(node)), base_url="http://telex.test",
            auth=HmacSigner(node.keyring.state.primary_key),
        ) as api:  # fmt: skip
            yield api
    finally:
        await node.close()


def _literal(address: str) -> str:
    return f"[{address}]" if ":" in address else address


async def test_every_forbidden_address_refused_as_literal_and_as_name(
    production: httpx.AsyncClient, dns: DnsServer
) -> None:
    assert len(FORBIDDEN) >= 40
    for i, address in enumerate(FORBIDDEN):
        dns.set(f"host{i}.evil.test", address)
        for url in (f"https://{_literal(address)}/hook", f"https://host{i}.evil.test/hook"):
            r = await production.put(f"/eventSubscriptions/s{i}", json=subscription_body(url))
            assert r.status_code == 400, (url, r.text)
            assert r.json()["error"]["code"] == "ValidationFailed"
            assert address not in r.json()["error"]["message"]  # no oracle on internal addresses
    # One forbidden answer among public ones refuses the name too.
    dns.set("mixed.evil.test", "8.8.8.8", "10.0.0.1")
    r = await production.put("/eventSubscriptions/mixed", json=subscription_body("https://mixed.evil.test/"))
    assert r.status_code == 400
    assert (await production.get("/eventSubscriptions")).json()["value"] == []


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/",  # http is off in production
        "https://hooks.example.com:8443/",  # only 443
        "https://user:pass@hooks.example.com/",
        "ftp://hooks.example.com/",
        "https:///nohost",
        "not a url",
    ],
)
async def test_url_rules(production: httpx.AsyncClient, url: str) -> None:
    r = await production.put("/eventSubscriptions/rules", json=subscription_body(url))
    assert r.status_code == 400 and r.json()["error"]["code"] == "ValidationFailed"


async def test_redirects_are_never_followed(
    api: httpx.AsyncClient, receiver: Receiver, make_user: object
) -> None:
    receiver.plan = [302, 307]
    await subscribe(api, "redirected", receiver.url, filter={"includedEventTypes": [IN_THREAD]})
    alice = await make_user()  # type: ignore[operator]
    await send(api, alice, await thread_with(api, alice), "x")
    await receiver.wait_for(lambda: len(receiver.accepted) == 1)
    # Both redirects counted as failed attempts of the same delivery, to the same URL.
    assert len(receiver.deliveries) == 3 and len({d.headers["webhook-id"] for d in receiver.deliveries}) == 1


async def test_dns_rebinding_after_subscribing_is_caught_at_dispatch(
    tmp_path: Path, dns: DnsServer, receiver: Receiver
) -> None:
    dns.set("hooks.customer.test", "127.0.0.1")  # allowed by the operator's list (a local receiver)
    node = await open_node(tmp_path, DnsResolver(dns))
    node.start_background()
    url = f"http://hooks.customer.test:{receiver.port}/api/events"
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=build_app(node)), base_url="http://telex.test",
            auth=HmacSigner(node.keyring.state.primary_key),
        ) as api:  # fmt: skip
            await subscribe(api, "rebound", url, filter={"includedEventTypes": [IN_THREAD]})
            created = await node.identity.create_user(["chat"])
            assert created.token is not None
            alice = User(created.user, created.token.token)
            thread = await thread_with(api, alice)
            dns.set("hooks.customer.test", "10.1.2.3")  # the answer flips to a private address
            queries = len(dns.queries)
            await send(api, alice, thread, "after the flip")
            async with asyncio.timeout(10):
                while len(dns.queries) < queries + 6:  # several dispatch attempts, each resolved afresh
                    await asyncio.sleep(0.02)
            assert receiver.deliveries == []  # refused before connecting, every time
            metrics = await scrape(node)
            assert 'telex_webhook_attempts_retried_total{subscription="rebound"}' in metrics
            dns.set("hooks.customer.test", "127.0.0.1")  # and back: the retried delivery goes through
            await receiver.wait_for(lambda: len(receiver.accepted) == 1)
            assert receiver.events()[0]["data"]["messageBody"] == "after the flip"
    finally:
        await node.close()
