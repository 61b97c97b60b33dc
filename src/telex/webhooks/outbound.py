"""An HTTP sender that only ever connects to addresses the outbound policy allows.

A webhook URL is chosen by a customer, so it is a TURN peer by another name (security.md §2.5):
without care, ``https://169.254.169.254.nip.io/`` or a name whose DNS answer flips to 127.0.0.1
after the subscription was checked turns the delivery worker into an SSRF gadget. The sender
therefore applies ``telex.netpolicy.peer_allowed`` — the same deny-by-default policy as TURN
peers — to the addresses it actually connects to:

    send(url) ─► URL rules (https only, allowed port, no user:pass@)
              ─► resolve the host (injected Resolver) ─► EVERY address allowed? else refuse
              ─► pin the checked addresses for this dispatch (a ContextVar)
              ─► httpx ─► httpcore pool ─► PinnedBackend.connect_tcp(host, port)
                                              connects to a pinned address, never resolves again
                           TLS: SNI and certificate checked for the host name (httpcore does it,
                           since the URL still names the host)
              ─► redirects never followed, body read up to a bound, overall deadline

Why a network backend: httpcore asks its network backend to ``connect_tcp(host, port)`` for
every new connection, and keeps using the URL's host name for SNI, certificate verification, the
``Host`` header and the connection pool's key. Swapping the backend is therefore the one place
where "which IP" can change while everything TLS and HTTP see stays the name. Connecting by IP in
the URL (with a ``Host`` header and the ``sni_hostname`` extension) would also verify the right
name, but the pool would then key connections by IP and reuse one host's TLS connection for
another host on the same address. httpx exposes no ``network_backend`` argument, so
``build_client`` builds the httpcore pool itself and hands it to httpx's transport (see there).

A dispatch checks again even when a pooled connection exists: a DNS answer that changed between
subscribing and dispatching is caught before any byte is sent. A connection opened outside
``OutboundSender.send`` (someone using the client directly) is checked by the backend itself.
Operators can allow specific destinations (an address or network, optionally one port) for a
receiver on a private network or a loopback receiver in a demo; nothing else is allowed.
"""

from __future__ import annotations

import asyncio
import contextvars
import socket
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Any, Protocol

import httpcore
import httpx

from telex.core.clock import Clock, SystemClock
from telex.core.errors import ErrorCode, TelexError
from telex.netpolicy import IPAddress, address_in, embeds_ipv4, parse_address, peer_allowed
from telex.webhooks.retry import AttemptResult, TransportFailure, parse_retry_after

__all__ = [
    "AllowEntry",
    "DeliveryFailed",
    "Destination",
    "DestinationGuard",
    "DestinationRefused",
    "OutboundPolicy",
    "OutboundResponse",
    "OutboundSender",
    "PinnedBackend",
    "RefusalReason",
    "Resolver",
    "SystemResolver",
    "build_client",
]

_Network = IPv4Network | IPv6Network
_DEFAULT_PORTS = {"https": 443, "http": 80}


class RefusalReason(Enum):
    SCHEME = "scheme"
    PORT = "port"
    CREDENTIALS = "credentials"
    HOST = "host"
    ADDRESS = "address"
    NO_ADDRESS = "no_address"


class DestinationRefused(TelexError):
    """The URL, or an address its host resolves to, is not allowed; nothing was sent."""

    def __init__(self, reason: RefusalReason, detail: str = "") -> None:
        super().__init__(ErrorCode.VALIDATION_FAILED, f"the endpoint URL is not allowed ({reason.value})")
        self.reason = reason
        self.detail = detail  # for logs only: may name an internal address


class DeliveryFailed(TelexError):
    """The request got no HTTP response: timeout, connection, TLS, DNS or protocol failure."""

    def __init__(self, failure: TransportFailure, detail: str = "") -> None:
        super().__init__(ErrorCode.UNAVAILABLE, f"the endpoint could not be reached ({failure.value})")
        self.failure = failure
        self.detail = detail


@dataclass(frozen=True, slots=True)
class AllowEntry:
    """An operator's exception to the address policy: an address or network, optionally one port."""

    network: _Network
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> AllowEntry:
        """``127.0.0.1``, ``10.0.0.0/8``, ``127.0.0.1:8080``, ``::1``, ``[::1]:8443``, ``fd00::/8``."""
        text = text.strip()
        host, port = text, None
        try:
            if text.startswith("["):
                host, _, rest = text[1:].partition("]")
                if rest:
                    if not rest.startswith(":"):
                        raise ValueError(rest)
                    port = int(rest[1:])
            elif text.count(":") == 1:
                host, _, raw_port = text.partition(":")
                port = int(raw_port)
            if port is not None and not 0 < port < 65536:
                raise ValueError(port)
            return cls(ip_network(host, strict=False), port)
        except ValueError as exc:
            raise ValueError(f"bad allow-list entry {text!r}") from exc

    def matches(self, address: IPAddress, port: int) -> bool:
        return (self.port is None or self.port == port) and address_in(address, (self.network,))


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    """Where the sender may connect, and how long and how much it waits.

    Defaults are production's: https on port 443 only, public unicast addresses only, 10 s to
    connect, 30 s for the whole exchange (Event Grid's wait), 64 KiB of response body.
    """

    allow_http: bool = False
    ports: frozenset[int] = frozenset({443})
    allow: tuple[AllowEntry, ...] = ()
    denied: tuple[_Network, ...] = ()
    connect_timeout: float = 10.0
    response_timeout: float = 30.0
    max_response_bytes: int = 64 * 1024

    @classmethod
    def from_settings(
        cls, *, allow: Iterable[str] = (), denied: Iterable[str] = (), **options: Any
    ) -> OutboundPolicy:
        """A policy from configuration strings (allow-list entries as in ``AllowEntry.parse``)."""
        return cls(
            allow=tuple(AllowEntry.parse(a) for a in allow),
            denied=tuple(ip_network(d, strict=False) for d in denied),
            **options,
        )

    @property
    def allowed_ports(self) -> frozenset[int]:
        return self.ports | {80} if self.allow_http else self.ports

    def address_allowed(self, address: IPAddress, port: int) -> bool:
        """May the sender connect to ``address:port``?

        An allow-list entry wins over the address classes and the port rule; ``denied`` and the
        IPv4-in-IPv6 encodings (refused outright, as on TURN's IPv6 allocations) win over it.
        """
        override = [entry.network for entry in self.allow if entry.matches(address, port)]
        if override:
            return peer_allowed(address, denied=self.denied, allowed=override)
        if embeds_ipv4(address) or port not in self.allowed_ports:
            return False
        return peer_allowed(address, denied=self.denied)


class Resolver(Protocol):
    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        """Every address ``host`` has (A and AAAA); raises ``OSError`` when the lookup fails."""


class SystemResolver:
    """The operating system's resolver (``getaddrinfo``: /etc/hosts, then DNS)."""

    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
        seen: dict[IPAddress, None] = {}
        for _family, _type, _proto, _name, sockaddr in infos:
            seen[parse_address(str(sockaddr[0]))] = None
        return list(seen)


@dataclass(frozen=True, slots=True)
class Destination:
    """A URL's host and port with the addresses it resolved to, every one of them allowed."""

    scheme: str
    host: str
    port: int
    addresses: tuple[IPAddress, ...] = ()


class DestinationGuard:
    """The URL rules and the address check, shared by the sender and the pinned backend."""

    def __init__(self, policy: OutboundPolicy, resolver: Resolver | None = None) -> None:
        self.policy = policy
        self._resolver = resolver or SystemResolver()

    def parse(self, url: str | httpx.URL) -> Destination:
        """The static rules: scheme, port, no credentials, a host. Raises ``DestinationRefused``."""
        try:
            parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise DestinationRefused(RefusalReason.HOST, str(exc)) from exc
        scheme = parsed.scheme
        if scheme != "https" and not (scheme == "http" and self.policy.allow_http):
            raise DestinationRefused(RefusalReason.SCHEME, scheme)
        if parsed.userinfo:
            raise DestinationRefused(RefusalReason.CREDENTIALS)
        host = parsed.raw_host.decode("ascii")
        if not host:
            raise DestinationRefused(RefusalReason.HOST)
        port = parsed.port if parsed.port is not None else _DEFAULT_PORTS[scheme]
        return Destination(scheme, host, port)

    async def resolve(self, url: str | httpx.URL) -> Destination:
        """``parse`` plus resolution: every address the host has must be allowed.

        One forbidden address refuses the whole destination, even if others are public: a
        resolver may hand them out in any order, and an attacker controls the order.
        """
        dest = self.parse(url)
        return Destination(dest.scheme, dest.host, dest.port, await self.addresses(dest.host, dest.port))

    async def addresses(self, host: str, port: int) -> tuple[IPAddress, ...]:
        try:
            literal: IPAddress | None = parse_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            found: Sequence[IPAddress] = [literal]
        else:
            try:
                async with asyncio.timeout(self.policy.connect_timeout):
                    found = await self._resolver.resolve(host, port)
            except (OSError, TimeoutError) as exc:
                raise DeliveryFailed(TransportFailure.DNS, f"{host}: {exc}") from exc
        if not found:
            raise DestinationRefused(RefusalReason.NO_ADDRESS, host)
        for address in found:
            if not self.policy.address_allowed(address, port):
                raise DestinationRefused(RefusalReason.ADDRESS, f"{host} -> {address}")
        return tuple(found)


# The addresses checked by the dispatch that is running in this task, keyed by (host, port).
_PINS: contextvars.ContextVar[dict[tuple[str, int], tuple[IPAddress, ...]]] = contextvars.ContextVar(
    "telex_outbound_pins"
)


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to checked addresses.

    Inside ``OutboundSender.send`` it uses the addresses that dispatch just checked (no second
    lookup, so no window for the answer to change); otherwise it resolves and checks itself.
    Unix sockets are refused: a URL never names one.
    """

    def __init__(self, guard: DestinationGuard, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._guard = guard
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        pinned = _PINS.get({}).get((host, port))
        addresses = pinned if pinned is not None else await self._guard.addresses(host, port)
        error: Exception | None = None
        for address in addresses:
            if not self._guard.policy.address_allowed(address, port):  # belt and braces
                raise DestinationRefused(RefusalReason.ADDRESS, f"{host} -> {address}")
            try:
                return await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise DestinationRefused(RefusalReason.HOST, "unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def build_client(
    guard: DestinationGuard,
    *,
    verify: ssl.SSLContext | bool = True,
    http2: bool = False,
    limits: httpx.Limits | None = None,
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` whose every connection goes through ``PinnedBackend``.

    ``trust_env=False``: a proxy from the environment would resolve the name itself and defeat
    the check. Redirects are off. httpx takes no network backend, so the transport is made as
    usual and its httpcore pool replaced by one with the pinned backend and the same TLS context;
    httpx's transport then only translates requests, responses and exceptions, as it always does.
    """
    limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
    context = verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify=verify)
    transport = httpx.AsyncHTTPTransport(verify=context, http2=http2, limits=limits, trust_env=False)
    transport._pool = httpcore.AsyncConnectionPool(  # a private attribute: see the docstring
        ssl_context=context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        http1=True,
        http2=http2,
        network_backend=PinnedBackend(guard),
    )
    return httpx.AsyncClient(transport=transport, trust_env=False, follow_redirects=False)


@dataclass(frozen=True, slots=True)
class OutboundResponse:
    status: int
    headers: httpx.Headers
    body: bytes
    truncated: bool

    def attempt_result(self, now: float) -> AttemptResult:
        """This response as the retry policy reads it (Retry-After parsed against ``now``)."""
        return AttemptResult(
            status=self.status, retry_after=parse_retry_after(self.headers.get("retry-after"), now)
        )


async def _read_bounded(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """Up to ``limit`` bytes of the raw (undecoded) body, and whether there was more."""
    if response.is_stream_consumed:  # an in-memory response (MockTransport): nothing to stream
        return response.content[:limit], len(response.content) > limit
    body = bytearray()
    async for chunk in response.aiter_raw():
        room = limit - len(body)
        body += chunk[:room]
        if len(chunk) > room:
            return bytes(body), True
    return bytes(body), False


def _failure_of(exc: httpx.HTTPError) -> TransportFailure:
    if isinstance(exc, httpx.TimeoutException):
        return TransportFailure.TIMEOUT
    if isinstance(exc, httpx.ProtocolError):
        return TransportFailure.PROTOCOL
    cause = exc.__cause__
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return TransportFailure.TLS
        cause = cause.__cause__ or cause.__context__
    return TransportFailure.CONNECT


class OutboundSender:
    """Sends one request to a customer URL under the outbound policy.

    ``client`` should come from ``build_client(guard)`` in production; tests may inject any
    client (a ``MockTransport``): the dispatch-time check runs either way.
    """

    def __init__(
        self, client: httpx.AsyncClient, guard: DestinationGuard, clock: Clock | None = None
    ) -> None:
        self._client = client
        self._guard = guard
        self._clock = clock or SystemClock()

    @property
    def guard(self) -> DestinationGuard:
        return self._guard

    async def send(
        self, method: str, url: str, *, headers: dict[str, str] | None = None, content: bytes = b""
    ) -> OutboundResponse:
        """Check ``url`` now, then send; raises ``DestinationRefused`` or ``DeliveryFailed``.

        Any HTTP status is a response (3xx included: redirects are never followed). The body is
        read up to ``max_response_bytes``; the rest is dropped and ``truncated`` set.
        """
        policy = self._guard.policy
        dest = await self._guard.resolve(url)
        pins = {**_PINS.get({}), (dest.host, dest.port): dest.addresses}
        token = _PINS.set(pins)
        # No compression: a small compressed body must not inflate past the read bound.
        request_headers = {"Accept-Encoding": "identity", **(headers or {})}
        timeout = httpx.Timeout(policy.response_timeout, connect=policy.connect_timeout)
        try:
            async with asyncio.timeout(policy.response_timeout):
                async with self._client.stream(
                    method,
                    url,
                    headers=request_headers,
                    content=content,
                    timeout=timeout,
                    follow_redirects=False,
                ) as response:
                    body, truncated = await _read_bounded(response, policy.max_response_bytes)
                    return OutboundResponse(response.status_code, response.headers, body, truncated)
        except TimeoutError as exc:
            raise DeliveryFailed(TransportFailure.TIMEOUT, "no response in time") from exc
        except httpx.HTTPError as exc:
            raise DeliveryFailed(_failure_of(exc), str(exc)) from exc
        finally:
            _PINS.reset(token)

    async def attempt(
        self, url: str, *, headers: dict[str, str], content: bytes
    ) -> tuple[AttemptResult, OutboundResponse | None]:
        """POST one delivery attempt and say how it ended, for ``retry.decide``; never raises for
        anything the endpoint or the network did (a refused destination is a retried failure)."""
        try:
            response = await self.send("POST", url, headers=headers, content=content)
        except DestinationRefused:
            return AttemptResult(failure=TransportFailure.REFUSED), None
        except DeliveryFailed as exc:
            return AttemptResult(failure=exc.failure), None
        return response.attempt_result(self._clock.now()), response
