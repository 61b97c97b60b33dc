"""The pinned sender over real sockets to loopback receivers (allowed only through the operator
allow-list): connections go to the checked address and nowhere else, TLS is verified for the
host name, redirects are not followed, bodies and waits are bounded."""

from __future__ import annotations

import asyncio
import ssl
import time

import httpx
import pytest
from aiohttp import web

from telex.webhooks import (
    DeliveryFailed,
    DestinationGuard,
    DestinationRefused,
    OutboundPolicy,
    OutboundSender,
    TransportFailure,
    build_client,
)
from telex.webhooks.outbound import PinnedBackend
from tests.webhooks.certs import LocalCA
from tests.webhooks.loopback_dns import DnsResolver, DnsServer
from tests.webhooks.receiver import serve

LOOPBACK_DEMO = OutboundPolicy.from_settings(allow=["127.0.0.1"], allow_http=True, response_timeout=5)


class Log:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []

    async def ok(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path, dict(request.headers), await request.read()))
        return web.Response(status=200, text="ok")


def make_sender(
    dns: DnsServer, policy: OutboundPolicy = LOOPBACK_DEMO, *, verify: ssl.SSLContext | bool = True
) -> tuple[OutboundSender, httpx.AsyncClient, DnsResolver]:
    resolver = DnsResolver(dns)
    guard = DestinationGuard(policy, resolver)
    client = build_client(guard, verify=verify)
    return OutboundSender(client, guard), client, resolver


async def test_delivers_to_an_allowed_name_with_host_header(dns: DnsServer) -> None:
    log = Log()
    async with serve(log.ok) as port:
        dns.set("hooks.demo.test", "127.0.0.1")
        send, client, _ = make_sender(dns)
        async with client:
            response = await send.send("POST", f"http://hooks.demo.test:{port}/events", content=b"[1]")
    assert (response.status, response.body) == (200, b"ok")
    ((method, path, headers, body),) = log.requests
    assert (method, path, body) == ("POST", "/events", b"[1]")
    assert headers["Host"] == f"hooks.demo.test:{port}"


async def test_tls_is_verified_for_the_name_while_connecting_to_the_pinned_address(
    dns: DnsServer, ca: LocalCA
) -> None:
    log = Log()
    server_ctx = ca.server_context("hooks.example.test")
    sni: list[str | None] = []
    server_ctx.sni_callback = lambda _sock, name, _ctx: sni.append(name)  # type: ignore[assignment,misc,func-returns-value]
    async with serve(log.ok, ssl_context=server_ctx) as port:
        dns.set("hooks.example.test", "127.0.0.1")
        dns.set("other.example.test", "127.0.0.1")
        send, client, _ = make_sender(dns, verify=ca.client_context())
        async with client:
            response = await send.send("POST", f"https://hooks.example.test:{port}/", content=b"x")
            assert response.status == 200
            assert sni == ["hooks.example.test"]
            # The same server under a name its certificate does not carry: refused by TLS.
            with pytest.raises(DeliveryFailed) as info:
                await send.send("POST", f"https://other.example.test:{port}/", content=b"x")
    assert info.value.failure is TransportFailure.TLS
    assert len(log.requests) == 1


async def test_connection_goes_to_the_checked_address_not_a_later_answer(dns: DnsServer) -> None:
    log = Log()
    async with serve(log.ok) as port:
        dns.set("rebind.test", "127.0.0.1")
        send, client, resolver = make_sender(dns)
        # As soon as the check has read the answer, the attacker flips it to a forbidden address:
        # a client that resolved again to connect would follow it.
        resolver.after_resolve = lambda host: dns.set(host, "10.0.0.1")
        async with client:
            response = await send.send("POST", f"http://rebind.test:{port}/", content=b"1")
            assert response.status == 200
            assert dns.queries == [("rebind.test", "A"), ("rebind.test", "AAAA")]  # one lookup, pinned
            # Next dispatch: checked again, refused — although a kept-alive connection to
            # 127.0.0.1 sits in the pool.
            resolver.after_resolve = None
            with pytest.raises(DestinationRefused):
                await send.send("POST", f"http://rebind.test:{port}/", content=b"2")
    assert [body for *_, body in log.requests] == [b"1"]


async def test_the_backend_checks_connections_opened_outside_a_dispatch(dns: DnsServer) -> None:
    log = Log()
    async with serve(log.ok) as port:
        dns.set("fine.test", "127.0.0.1")
        dns.set("evil.test", "127.0.0.2")
        _, client, _ = make_sender(dns)
        async with client:
            assert (await client.get(f"http://fine.test:{port}/direct")).status_code == 200
            with pytest.raises(DestinationRefused):
                await client.get(f"http://evil.test:{port}/direct")
            with pytest.raises(DestinationRefused):
                await client.get("http://[::1]:1/")
    assert [path for _, path, *_ in log.requests] == ["/direct"]
    with pytest.raises(DestinationRefused):
        await PinnedBackend(DestinationGuard(LOOPBACK_DEMO)).connect_unix_socket("/run/docker.sock")


async def test_redirects_are_never_followed(dns: DnsServer) -> None:
    log = Log()

    async def redirect(request: web.Request) -> web.Response:
        if request.path == "/target":
            return await log.ok(request)
        raise web.HTTPTemporaryRedirect(location="/target")

    async with serve(redirect) as port:
        dns.set("hooks.demo.test", "127.0.0.1")
        send, client, _ = make_sender(dns)
        async with client:
            response = await send.send("POST", f"http://hooks.demo.test:{port}/start", content=b"x")
    assert response.status == 307
    assert log.requests == []


async def test_response_body_is_bounded(dns: DnsServer) -> None:
    async def huge(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * (1 << 20))

    policy = OutboundPolicy.from_settings(allow=["127.0.0.1"], allow_http=True, max_response_bytes=1000)
    async with serve(huge) as port:
        dns.set("hooks.demo.test", "127.0.0.1")
        send, client, _ = make_sender(dns, policy)
        async with client:
            response = await send.send("GET", f"http://hooks.demo.test:{port}/")
    assert response.body == b"x" * 1000 and response.truncated


async def test_a_receiver_that_never_answers_times_out(dns: DnsServer) -> None:
    never = asyncio.Event()

    async def stall(request: web.Request) -> web.Response:
        await never.wait()
        return web.Response()

    policy = OutboundPolicy.from_settings(allow=["127.0.0.1"], allow_http=True, response_timeout=0.3)
    async with serve(stall) as port:
        dns.set("hooks.demo.test", "127.0.0.1")
        send, client, _ = make_sender(dns, policy)
        started = time.monotonic()
        async with client:
            with pytest.raises(DeliveryFailed) as info:
                await send.send("POST", f"http://hooks.demo.test:{port}/")
        never.set()
    assert info.value.failure is TransportFailure.TIMEOUT
    assert time.monotonic() - started < 3


async def test_nobody_listening_is_a_connect_failure(dns: DnsServer) -> None:
    async with serve(Log().ok) as port:
        pass  # the port is free again
    dns.set("hooks.demo.test", "127.0.0.1")
    send, client, _ = make_sender(dns)
    async with client:
        with pytest.raises(DeliveryFailed) as info:
            await send.send("POST", f"http://hooks.demo.test:{port}/")
    assert info.value.failure is TransportFailure.CONNECT


async def test_proxy_settings_in_the_environment_are_ignored(
    dns: DnsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A proxy would resolve the name itself and bypass the check; the client never uses one.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9/")
    log = Log()
    async with serve(log.ok) as port:
        dns.set("hooks.demo.test", "127.0.0.1")
        send, client, _ = make_sender(dns)
        async with client:
            assert (await send.send("POST", f"http://hooks.demo.test:{port}/")).status == 200
    assert len(log.requests) == 1


async def test_default_port_uses_the_pinned_address(dns: DnsServer) -> None:
    # A public address is unreachable in the test's loopback-only namespace: the attempt fails to
    # connect, and the DNS log shows the connection used the dispatch's pin (no second lookup).
    dns.set("hooks.customer.test", "93.184.215.14")
    send, client, _ = make_sender(dns, OutboundPolicy(connect_timeout=2, response_timeout=3))
    async with client:
        with pytest.raises(DeliveryFailed) as info:
            await send.send("POST", "https://hooks.customer.test/events")
    assert info.value.failure in (TransportFailure.CONNECT, TransportFailure.TIMEOUT)
    assert dns.queries == [("hooks.customer.test", "A"), ("hooks.customer.test", "AAAA")]
