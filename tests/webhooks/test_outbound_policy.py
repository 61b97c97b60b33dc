"""security.md G16, the refusals: every forbidden address class is refused as a literal, as a
host name that resolves to it (a DNS server the test controls), among public answers, and after
the answer changes between subscribing and dispatching. Nothing reaches the transport."""

from __future__ import annotations

import httpx
import pytest

from telex.webhooks import (
    AllowEntry,
    DeliveryFailed,
    DestinationGuard,
    DestinationRefused,
    OutboundPolicy,
    OutboundSender,
    RefusalReason,
    SystemResolver,
    TransportFailure,
)
from tests.turn.test_forbidden_peers import FORBIDDEN_V4, FORBIDDEN_V6
from tests.webhooks.loopback_dns import DnsResolver, DnsServer

FORBIDDEN = FORBIDDEN_V4 + FORBIDDEN_V6


def literal_host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


class Recorder:
    """A transport that answers 200 and remembers every request that got through the checks."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200)


def sender(policy: OutboundPolicy, dns: DnsServer) -> tuple[OutboundSender, Recorder]:
    recorder = Recorder()
    client = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
    return OutboundSender(client, DestinationGuard(policy, DnsResolver(dns))), recorder


def test_g16_case_count() -> None:
    assert len(FORBIDDEN) >= 40


@pytest.mark.parametrize("address", FORBIDDEN)
async def test_forbidden_literal_refused(address: str, dns: DnsServer) -> None:
    send, recorder = sender(OutboundPolicy(), dns)
    with pytest.raises(DestinationRefused) as info:
        await send.send("POST", f"https://{literal_host(address)}/hook", content=b"[]")
    assert info.value.reason is RefusalReason.ADDRESS
    assert info.value.status == 400
    assert recorder.requests == [] and dns.queries == []  # a literal is never looked up


@pytest.mark.parametrize("address", FORBIDDEN)
async def test_forbidden_hostname_refused(address: str, dns: DnsServer) -> None:
    dns.set("hooks.attacker.test", address)
    send, recorder = sender(OutboundPolicy(), dns)
    with pytest.raises(DestinationRefused) as info:
        await send.send("POST", "https://hooks.attacker.test/hook", content=b"[]")
    assert info.value.reason is RefusalReason.ADDRESS
    assert recorder.requests == []
    assert {kind for _, kind in dns.queries} == {"A", "AAAA"}


@pytest.mark.parametrize("address", ["127.0.0.1", "169.254.169.254", "::1", "fd00:ec2::254", "10.0.0.1"])
async def test_one_forbidden_answer_among_public_ones_refuses(address: str, dns: DnsServer) -> None:
    dns.set("mixed.test", "8.8.8.8", address, "2001:4860:4860::8888")
    send, recorder = sender(OutboundPolicy(), dns)
    with pytest.raises(DestinationRefused):
        await send.send("POST", "https://mixed.test/")
    assert recorder.requests == []


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "169.254.169.254", "::ffff:127.0.0.1", "0.0.0.0", "fe80::1"]
)
async def test_rebinding_between_subscribe_and_dispatch(address: str, dns: DnsServer) -> None:
    dns.set("hooks.customer.test", "93.184.215.14")
    send, recorder = sender(OutboundPolicy(), dns)
    subscribed = await send.guard.resolve("https://hooks.customer.test/events")
    assert [str(a) for a in subscribed.addresses] == ["93.184.215.14"]
    dns.set("hooks.customer.test", address)  # the attacker flips the record (TTL 0)
    with pytest.raises(DestinationRefused):
        await send.send("POST", "https://hooks.customer.test/events")
    assert recorder.requests == []


async def test_public_destination_passes_to_the_transport(dns: DnsServer) -> None:
    dns.set("hooks.customer.test", "93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c")
    send, recorder = sender(OutboundPolicy(), dns)
    response = await send.send("POST", "https://hooks.customer.test/events", content=b"[]")
    assert response.status == 200 and not response.truncated
    (request,) = recorder.requests
    assert request.url.host == "hooks.customer.test"  # the name stays in the URL (SNI, Host)
    assert request.headers["accept-encoding"] == "identity"


@pytest.mark.parametrize(
    "host", ["2130706433", "0x7f000001", "127.1", "017700000001", "localhost", "[::1]", "[::ffff:7f00:1]",
             "[fe80::1%25lo]", "0", "169.254.169.254"],
)  # fmt: skip
async def test_numeric_spellings_and_localhost_with_the_system_resolver(host: str) -> None:
    guard = DestinationGuard(OutboundPolicy(), SystemResolver())
    with pytest.raises(DestinationRefused) as info:
        await guard.resolve(f"https://{host}/")
    assert info.value.reason is RefusalReason.ADDRESS


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.customer.test/", RefusalReason.SCHEME),
        ("ftp://hooks.customer.test/", RefusalReason.SCHEME),
        ("file:///etc/passwd", RefusalReason.SCHEME),
        ("https://user:pw@hooks.customer.test/", RefusalReason.CREDENTIALS),
        ("https://hooks.customer.test@127.0.0.1/", RefusalReason.CREDENTIALS),
        ("https:///nohost", RefusalReason.HOST),
        ("https://hooks.customer.test:8443/", RefusalReason.ADDRESS),  # port not allowed
        ("https://hooks.customer.test:0/", RefusalReason.ADDRESS),
        ("https://[::1/", RefusalReason.HOST),
    ],
)
async def test_url_rules(url: str, reason: RefusalReason, dns: DnsServer) -> None:
    dns.set("hooks.customer.test", "93.184.215.14")
    send, recorder = sender(OutboundPolicy(), dns)
    with pytest.raises(DestinationRefused) as info:
        await send.send("POST", url)
    assert info.value.reason is reason
    assert recorder.requests == []


async def test_http_and_ports_when_configured(dns: DnsServer) -> None:
    dns.set("hooks.customer.test", "93.184.215.14")
    send, recorder = sender(OutboundPolicy(allow_http=True, ports=frozenset({443, 8443})), dns)
    for url in (
        "http://hooks.customer.test/",
        "https://hooks.customer.test:8443/",
        "https://hooks.customer.test/",
    ):
        assert (await send.send("POST", url)).status == 200
    with pytest.raises(DestinationRefused):
        await send.send("POST", "http://hooks.customer.test:8080/")
    assert len(recorder.requests) == 3


def test_allow_entries_parse() -> None:
    assert AllowEntry.parse("127.0.0.1") == AllowEntry.parse("127.0.0.1/32")
    assert AllowEntry.parse("127.0.0.1:8080").port == 8080
    assert AllowEntry.parse("[::1]:8443").port == 8443
    assert AllowEntry.parse("::1").port is None
    assert str(AllowEntry.parse("10.1.2.3/8").network) == "10.0.0.0/8"
    for bad in ("127.0.0.1:0", "127.0.0.1:70000", "[::1]x", "nonsense", "[::1]:x"):
        with pytest.raises(ValueError, match="bad allow-list entry"):
            AllowEntry.parse(bad)


async def test_operator_allow_list(dns: DnsServer) -> None:
    policy = OutboundPolicy.from_settings(
        allow=["127.0.0.1:9000", "10.0.0.0/8", "fd00::/8"], denied=["10.66.0.0/16"], allow_http=True
    )
    guard = DestinationGuard(policy, DnsResolver(dns))
    dns.set("demo.test", "127.0.0.1")
    dns.set("internal.test", "10.1.2.3", "fd00::7")
    dns.set("blocked.test", "10.66.0.1")
    assert (await guard.resolve("http://demo.test:9000/")).addresses
    assert (await guard.resolve("http://[::ffff:127.0.0.1]:9000/")).addresses  # the same destination
    assert (await guard.resolve("https://internal.test:8081/")).addresses  # no port in that entry
    for url in ("http://demo.test:9001/", "http://127.0.0.2:9000/", "https://blocked.test/"):
        with pytest.raises(DestinationRefused):
            await guard.resolve(url)


async def test_dns_failures(dns: DnsServer) -> None:
    guard = DestinationGuard(OutboundPolicy(), DnsResolver(dns))
    with pytest.raises(DeliveryFailed) as info:
        await guard.resolve("https://nowhere.test/")
    assert info.value.failure is TransportFailure.DNS
    dns.set("empty.test")  # the name exists but has no A or AAAA
    with pytest.raises(DestinationRefused) as refused:
        await guard.resolve("https://empty.test/")
    assert refused.value.reason is RefusalReason.NO_ADDRESS


async def test_attempt_reports_a_refusal_as_a_retried_failure(dns: DnsServer) -> None:
    dns.set("hooks.customer.test", "169.254.169.254")
    send, recorder = sender(OutboundPolicy(), dns)
    result, response = await send.attempt("https://hooks.customer.test/", headers={}, content=b"[]")
    assert result.failure is TransportFailure.REFUSED and response is None
    dns.set("hooks.customer.test", "93.184.215.14")
    result, response = await send.attempt("https://hooks.customer.test/", headers={}, content=b"[]")
    assert result.status == 200 and response is not None
    assert len(recorder.requests) == 1
