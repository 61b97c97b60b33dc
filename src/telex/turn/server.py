"""asyncio adapter: sockets around ``TurnCore``.

    client ──UDP──► _UdpListener ─┐                           ┌─► _Relay.sock ──► peer
    client ──TCP/TLS► _TcpConnection ┴► TurnCore events/effects ┘
    peer ───UDP──► _Relay ──► core.to_client ──► ChannelData / Data indication ──► client

Sockets are read with ``loop.add_reader``, because stdlib asyncio's datagram transport reads one
datagram per loop iteration (performance.md pitfall 11); the same code runs on uvloop or the
stdlib loop. A listener drains up to ``_BATCH`` datagrams per wake-up: every client sends to it,
so it often holds several. A relay socket reads one datagram per wake-up: at call rates it holds
one at a time, and a second read would come back empty (a syscall and a Python exception,
~0.6 µs here); when it does hold more, the level-triggered loop calls it again.

The core decides; the adapter moves bytes. Relay sockets are bound when the core returns an
``OpenRelay`` effect and closed on ``CloseRelay``; a ``CheckUser`` effect runs the injected user
lookup in a task and hands the core's answers to the parked requests' 5-tuples. The ChannelData
fast path (client→peer and peer→client on UDP) does no STUN parsing and asks the core's
per-datagram rules, ``to_peer`` and ``to_client`` (channel, permission, bandwidth), with plain
numbers. Datagrams are received with ``recvfrom_into`` into preallocated buffers: client
ChannelData is forwarded as a slice of that buffer, and a peer's datagram lands right after a
4-byte header slot, so relaying either way copies nothing in Python. Every datagram handler is
wrapped so that one bad packet is counted, never fatal (security.md §5.1, the CVE-2026-40613
lesson).

Native data path (``telex.turn.native``, on by default when built): a C thread reads the UDP
listeners and the UDP allocations' relay sockets instead of this loop and relays ChannelData
itself; what it does not know comes back through ``_drain_native`` to the same handlers as above
(``_UdpListener.handle``, ``_Relay.from_peer``). After every core call ``apply`` mirrors the
allocations the core changed (``TurnCore.take_relay_changes``) into its tables. TCP/TLS clients'
relay sockets stay on this loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import logging
import os
import random
import socket
import ssl
import struct
from collections.abc import Awaitable, Callable, Sequence
from ipaddress import ip_address
from typing import cast

from prometheus_client import CollectorRegistry

from telex.core.clock import Clock
from telex.turn.allocation import Address, Allocation, ClientKey
from telex.turn.core import (
    CheckUser,
    CloseRelay,
    CoreConfig,
    Event,
    OpenRelay,
    Reply,
    ToPeer,
    TurnCore,
    UserCheck,
)
from telex.turn.metrics import TurnCollector, TurnStats
from telex.turn.native import LISTENER, NativePath, native_wanted
from telex.turn.policy import PeerPolicy
from telex.turn.settings import TurnSettings
from telex.turn.tcpframing import StreamFramer

__all__ = ["TurnServer"]

log = logging.getLogger(__name__)

_BATCH = 64  # datagrams a listener reads per wake-up at most
_MAX_DATAGRAM = 65535
_RCVBUF = 1 << 20
_IP_PMTUDISC_DO = getattr(
    socket, "IP_PMTUDISC_DO", 2
)  # Linux value; typeshed omits it  # coturn#1902: 64 KiB relay buffers drop bursts


def _udp_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
        sock.setblocking(False)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def _tls_context(settings: TurnSettings) -> ssl.SSLContext | None:
    """Server context for ``turns:`` (RFC 8656 §3.2: TLS over TCP, same framing inside)."""
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
    return context


_HEADER = struct.Struct("!HH")  # ChannelData: channel number, length (RFC 8656 §12.4)


class _Relay:
    """One allocation's relay socket."""

    __slots__ = (
        "address",
        "alloc",
        "client_addr",
        "client_sock",
        "client_tcp",
        "fd",
        "handle",
        "server",
        "sock",
        "v6",
    )

    def __init__(self, server: TurnServer, alloc: Allocation, sock: socket.socket) -> None:
        self.server = server
        self.alloc = alloc
        self.sock = sock
        self.fd = sock.fileno()
        host, port = sock.getsockname()[:2]
        self.address: Address = (host, port)
        self.v6 = sock.family == socket.AF_INET6
        self.client_addr: Address = alloc.key[1]
        self.client_sock: socket.socket | None = None
        self.client_tcp: _TcpConnection | None = None
        self.handle: int | None = None  # set when the native path relays this allocation

    def close(self) -> None:
        native = self.server._native
        if self.handle is not None and native is not None:
            # Out of the C tables (and its epoll set) before the fd number can be reused.
            native.detach(self.alloc)
            self.server._native_relays.pop(self.handle, None)
        else:
            self.server._loop.remove_reader(self.fd)
        self.sock.close()
        listener = self.server._udp_by_local.get(self.alloc.key[2])
        if listener is not None and self.alloc.key[0] == "udp":
            listener.by_client.pop(self.client_addr, None)

    def on_readable(self) -> None:
        """One datagram from a peer, received straight after the scratch buffer's 4-byte header
        slot (a bound channel then needs no copy)."""
        try:
            size, addr = self.sock.recvfrom_into(self.server._payload_view)
        except OSError:
            return  # nothing after all, or an ICMP error surfaced on the socket
        self.from_peer(size, (addr[0], addr[1]) if self.v6 else addr)

    def from_peer(self, size: int, peer: Address) -> None:
        """``size`` bytes from ``peer`` in the scratch buffer's payload: the core's ``to_client``
        rule, then ChannelData (framed in place in front of the payload) or a Data indication."""
        server = self.server
        payload = server._payload_view
        try:
            number = server.core.to_client(self.alloc, peer, size, server._clock.now())
            if number < 0:
                return
            stats = server._py_stats
            client_sock = self.client_sock
            if number and client_sock is not None:
                _HEADER.pack_into(server._scratch, 0, number, size)
                try:
                    client_sock.sendto(server._scratch_view[: 4 + size], self.client_addr)
                except (BlockingIOError, InterruptedError):
                    stats.dropped += 1  # UDP semantics: a full socket buffer drops the datagram
                    return
                except OSError:
                    stats.send_errors += 1
                    return
            else:
                data = bytes(payload[:size])
                self.send_to_client(
                    _HEADER.pack(number, size) + data if number else server.core.data_indication(peer, data)
                )
            stats.packets_to_client += 1
            stats.bytes_to_client += size
        except Exception:
            server._py_stats.internal_errors += 1
            log.exception("turn: error relaying a peer datagram")

    def send_to_client(self, data: bytes) -> None:
        if self.client_sock is not None:
            self.server._sendto(self.client_sock, data, self.client_addr)
        elif self.client_tcp is not None:
            self.client_tcp.write(data)


class _UdpListener:
    """A client-facing UDP socket."""

    def __init__(self, server: TurnServer, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        host, port = sock.getsockname()[:2]
        self.local: Address = (host, port)
        self.v6 = sock.family == socket.AF_INET6
        # client address -> its allocation's relay, for the ChannelData fast path.
        self.by_client: dict[Address, _Relay] = {}
        # Datagrams are received into this buffer; only STUN messages are copied out of it.
        self._buffer = bytearray(_MAX_DATAGRAM)
        self._view = memoryview(self._buffer)
        self.index: int | None = None  # the native path's number for it, when that reads it

    def on_readable(self) -> None:
        """Up to ``_BATCH`` datagrams from clients (the pure-Python path)."""
        sock, buf, view = self.sock, self._buffer, self._view
        now = self.server._clock.now()  # one clock read per wake-up
        for _ in range(_BATCH):
            try:
                size, addr = sock.recvfrom_into(view)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # an ICMP error surfaced on the socket
            self.handle(buf, view, size, (addr[0], addr[1]) if self.v6 else addr, now)

    def handle(
        self, buf: bytes | bytearray, view: memoryview, size: int, client: Address, now: float
    ) -> None:
        """One datagram from ``client``: ChannelData straight to the peer the core's ``to_peer``
        rule names, anything else through ``TurnCore.handle_client``."""
        stats = self.server._py_stats
        try:
            if size < 4 or not 0x40 <= buf[0] <= 0x7F:
                self._stun(bytes(view[:size]), client, now)
                return
            # Fast path: ChannelData (RFC 8656 §12.5) — a header, the core's rule, one send.
            relay = self.by_client.get(client)
            length = (buf[2] << 8) | buf[3]
            if relay is None or 4 + length > size:
                stats.dropped += 1
                return
            peer = self.server.core.to_peer(relay.alloc, (buf[0] << 8) | buf[1], length, now)
            if peer is None:
                return
            try:
                relay.sock.sendto(view[4 : 4 + length], peer)
            except (BlockingIOError, InterruptedError):
                stats.dropped += 1
                return
            except OSError:
                stats.send_errors += 1
                return
            stats.packets_to_peer += 1
            stats.bytes_to_peer += length
        except Exception:
            stats.internal_errors += 1
            log.exception("turn: error handling a client datagram")

    def _stun(self, data: bytes, client: Address, now: float) -> None:
        server, sock = self.server, self.sock
        key: ClientKey = ("udp", client, self.local)
        server.apply(server.core.handle_client(data, key, now), lambda out: server._sendto(sock, out, client))


class _TcpConnection(asyncio.Protocol):
    """A client-facing TCP connection, framed per RFC 8656 §6.2 (STUN and padded ChannelData)."""

    def __init__(self, server: TurnServer, transport: str = "tcp") -> None:
        self.server = server
        self.kind = transport  # "tcp" or "tls": part of the 5-tuple, so nonces do not cross over
        self.framer = StreamFramer()
        self.transport: asyncio.Transport | None = None
        self.key: ClientKey | None = None
        self.opened_at = server._clock.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport does not subclass asyncio.Transport; it has the same methods.
        self.transport = cast(asyncio.Transport, transport)
        peer, local = transport.get_extra_info("peername"), transport.get_extra_info("sockname")
        self.key = (self.kind, (peer[0], peer[1]), (local[0], local[1]))
        self.server._tcp_connections[self.key] = self

    def data_received(self, data: bytes) -> None:
        server, key = self.server, self.key
        assert key is not None
        assert self.transport is not None
        try:
            messages = self.framer.feed(data)
        except ValueError:
            server._py_stats.malformed += 1
            self.transport.close()  # a stream that lost framing cannot be resynchronised
            return
        for message in messages:
            try:
                server.apply(server.core.handle_client(message, key, server._clock.now()), self.write)
            except Exception:
                server._py_stats.internal_errors += 1
                log.exception("turn: error handling a TCP message")

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data + bytes(-len(data) % 4))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.key is not None:
            self.server._tcp_connections.pop(self.key, None)
            # The allocation lives exactly as long as its control connection (RFC 8656 §6.2).
            self.server.apply(self.server.core.remove(self.key), self.write)


class TurnServer:
    """A STUN/TURN server on the running event loop.

    ``secrets``: the REST shared secrets (first signs, all verify), or a callable returning them
    (read on every authentication, so rotation applies at once). ``host`` is the listening address
    unless ``settings.listen_addresses`` is set. ``registry``: where metrics are registered; by
    default a private ``CollectorRegistry`` (``self.registry``) so two servers never collide.
    ``users`` and ``lookup``: the user check of ``TurnCore`` (no I/O; from a cache) and the
    coroutine that fills that cache for one user id; without them credentials are not checked
    against revocation (a standalone relay).
    """

    _loop: asyncio.AbstractEventLoop  # set by start(): the loop the server runs in

    def __init__(
        self,
        settings: TurnSettings,
        secrets: Sequence[bytes] | Callable[[], Sequence[bytes]],
        clock: Clock,
        host: str = "127.0.0.1",
        *,
        registry: CollectorRegistry | None = None,
        users: UserCheck | None = None,
        lookup: Callable[[str], Awaitable[object]] | None = None,
    ) -> None:
        self.settings = settings
        self._lookup = lookup
        self._checks: set[asyncio.Task[None]] = set()
        self._clock = clock
        self._hosts = settings.listen_addresses or (host,)
        fixed = tuple(secrets) if not callable(secrets) else ()
        self._secrets: Callable[[], Sequence[bytes]] = secrets if callable(secrets) else (lambda: fixed)
        v4 = [h for h in self._hosts if ":" not in h]
        v6 = [h for h in self._hosts if ":" in h]
        self._relay_v4 = settings.relay_address or (v4[0] if v4 else "")
        self._relay_v6 = settings.relay_address_v6 or (v6[0] if v6 else "")
        for relay, external in (
            (self._relay_v4, settings.external_address),
            (self._relay_v6, settings.external_address_v6),
        ):
            if relay and ip_address(relay).is_unspecified and not external:
                # XOR-RELAYED-ADDRESS must name an address peers can reach, never 0.0.0.0 or ::.
                raise ValueError("listening on a wildcard address needs relay_address or external_address")
        own = [*self._hosts, self._relay_v4, self._relay_v6]
        own += [settings.external_address, settings.external_address_v6]
        self.policy = PeerPolicy(
            allow_loopback=settings.allow_loopback_peers,
            own_addresses=[a for a in own if a and not ip_address(a).is_unspecified],
            relay_ports=range(settings.min_port, settings.max_port + 1),
            denied=settings.denied_peers,
            external_v4=settings.external_address,
            external_v6=settings.external_address_v6,
        )
        config = CoreConfig(
            realm=settings.realm,
            default_lifetime=settings.default_lifetime,
            max_lifetime=settings.max_lifetime,
            nonce_lifetime=settings.nonce_lifetime,
            max_credential_ttl=settings.max_credential_ttl,
            user_quota=settings.user_quota,
            total_quota=settings.total_quota,
            max_bytes_per_second=settings.max_bytes_per_second,
            error_rate_per_source=settings.error_rate_per_source,
            binding_rate_per_source=settings.binding_rate_per_source,
            ipv6_relay=bool(self._relay_v6),
            ipv4_relay=bool(self._relay_v4),
            max_channel=0x7FFF if settings.rfc5766_channels else 0x4FFF,
        )
        self.core = TurnCore(config, self._secrets, self.policy, os.urandom(32), users if lookup else None)
        self._py_stats = TurnStats()  # what the Python side relayed, dropped, ...
        self.registry = registry if registry is not None else CollectorRegistry()
        self._collector = TurnCollector(self.core, lambda: self.stats)
        # The C data path (telex.turn.native), made by start() when wanted and built.
        self._native_enabled = native_wanted(settings.native)
        self._native: NativePath | None = None
        self._native_listeners: list[_UdpListener] = []
        self._native_relays: dict[int, _Relay] = {}
        self._scratch = bytearray(4 + _MAX_DATAGRAM)
        self._scratch_view = memoryview(self._scratch)
        self._payload_view = self._scratch_view[4:]
        self._udp: list[_UdpListener] = []
        self._udp_by_local: dict[Address, _UdpListener] = {}
        self._relays: dict[ClientKey, _Relay] = {}
        self._tcp_servers: list[asyncio.Server] = []
        self._tls_servers: list[asyncio.Server] = []
        self._tls = _tls_context(settings)
        self._tcp_connections: dict[ClientKey, _TcpConnection] = {}
        self._timer_task: asyncio.Task[None] | None = None
        self._ports = list(range(settings.min_port, settings.max_port + 1))

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Bind the listeners (``settings.port``; 0 picks a free port) and start the timer task."""
        self._loop = asyncio.get_running_loop()
        # Port 0 promises one number for UDP and TCP; the number the kernel picks for UDP may be
        # taken for TCP, so try a few picks before giving up.
        attempts = 5 if self.settings.port == 0 and self.settings.tcp else 1
        for attempt in range(attempts):
            try:
                if self._native_enabled:
                    self._native = NativePath(self.settings.total_quota)
                    self._native_listeners = []
                await self._bind(self.settings.port)
                break
            except OSError as exc:
                await self.stop()
                if exc.errno != errno.EADDRINUSE or attempt + 1 == attempts:
                    raise
            except BaseException:
                await self.stop()
                raise
        if self._native is not None:
            self._native.start()
            self._loop.add_reader(self._native.notify_fd, self._drain_native)
        self.registry.register(self._collector)
        self._timer_task = asyncio.create_task(self._run_timers(), name="turn-timers")

    async def _bind(self, port: int) -> None:
        for host in self._hosts:
            sock = _udp_socket(host, port)
            listener = _UdpListener(self, sock)
            self._udp.append(listener)
            self._udp_by_local[listener.local] = listener
            if self._native is not None:
                listener.index = self._native.add_listener(sock.fileno())
                self._native_listeners.append(listener)
            else:
                self._loop.add_reader(sock.fileno(), listener.on_readable)
            if port == 0 and len(self._hosts) == 1:
                port = listener.local[1] if self.settings.tcp else 0
            if self.settings.tcp:
                server = await self._loop.create_server(
                    lambda: _TcpConnection(self), host, port, reuse_address=True
                )
                self._tcp_servers.append(server)
            if self._tls is not None:
                server = await self._loop.create_server(
                    lambda: _TcpConnection(self, "tls"),
                    host,
                    self.settings.tls_port,
                    ssl=self._tls,
                    reuse_address=True,
                )
                self._tls_servers.append(server)

    async def stop(self) -> None:
        """Close every socket and allocation; safe to call twice."""
        if self._timer_task is not None:
            self._timer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer_task
            self._timer_task = None
            with contextlib.suppress(KeyError):
                self.registry.unregister(self._collector)
        for task in list(self._checks):
            task.cancel()
        native = self._native
        if native is not None and native.started:
            # Join the C thread first: after this nothing but this thread touches the sockets.
            self._loop.remove_reader(native.notify_fd)
            native.stop()
        self.apply(self.core.close_all(), lambda data: None)
        for listener in self._udp:
            if listener.index is None:
                self._loop.remove_reader(listener.sock.fileno())
            listener.sock.close()
        self._udp.clear()
        self._udp_by_local.clear()
        for conn in list(self._tcp_connections.values()):
            if conn.transport is not None:
                conn.transport.close()
        for server in [*self._tcp_servers, *self._tls_servers]:
            server.close()
            await server.wait_closed()
        self._tcp_servers.clear()
        self._tls_servers.clear()

    @property
    def native(self) -> bool:
        """Whether the C data path relays UDP ChannelData (``docs/turn.md``)."""
        return self._native is not None

    @property
    def stats(self) -> TurnStats:
        """What this server relayed and dropped, on both paths (a snapshot)."""
        s = self._py_stats
        if self._native is None:
            return dataclasses.replace(s)
        to_peer, bytes_peer, to_client, bytes_client, dropped, errors, _, queue_full = self._native.totals()
        return TurnStats(
            packets_to_peer=s.packets_to_peer + to_peer,
            bytes_to_peer=s.bytes_to_peer + bytes_peer,
            packets_to_client=s.packets_to_client + to_client,
            bytes_to_client=s.bytes_to_client + bytes_client,
            dropped=s.dropped + dropped + queue_full,
            malformed=s.malformed,
            send_errors=s.send_errors + errors,
            internal_errors=s.internal_errors,
        )

    def relay_counters(self, key: ClientKey) -> tuple[int, int, int, int, int] | None:
        """Datagrams and bytes the native path relayed for ``key``'s allocation (to the peer,
        to the client) and dropped; None when the native path does not relay it."""
        relay = self._relays.get(key)
        if relay is None or relay.handle is None or self._native is None:
            return None
        return self._native.counters(relay.alloc)

    @property
    def udp_port(self) -> int:
        return self._udp[0].local[1]

    @property
    def tcp_port(self) -> int | None:
        if not self._tcp_servers:
            return None
        return int(self._tcp_servers[0].sockets[0].getsockname()[1])

    @property
    def tls_context(self) -> ssl.SSLContext | None:
        """The ``turns:`` listeners' TLS context, when configured: a certificate chain loaded into
        it (``telex serve`` does on SIGHUP) applies to every later handshake."""
        return self._tls

    @property
    def tls_port(self) -> int | None:
        """The ``turns:`` port, when ``tls_cert_file``/``tls_key_file`` are configured."""
        if not self._tls_servers:
            return None
        return int(self._tls_servers[0].sockets[0].getsockname()[1])

    def relay_address(self, key: ClientKey) -> Address | None:
        """The local address the relay socket of ``key``'s allocation is bound to, if any."""
        relay = self._relays.get(key)
        return relay.address if relay is not None else None

    def run_timers(self) -> None:
        """Run due expiries now (tests that move a ``FakeClock`` call this instead of waiting)."""
        self.apply(self.core.handle_timer(self._clock.now()), lambda data: None)

    async def _run_timers(self) -> None:
        # The wake-up cadence is real time (at most 1 s, so a new earlier deadline is seen
        # promptly); what expires is decided by the injected clock.
        while True:
            now = self._clock.now()
            self.apply(self.core.handle_timer(now), lambda data: None)
            self._close_idle_connections()
            deadline = self.core.next_timer()
            delay = 1.0 if deadline is None else min(1.0, max(0.01, deadline - now))
            await asyncio.sleep(delay)

    def _close_idle_connections(self) -> None:
        """Close TCP connections that hold no allocation after ``tcp_idle_timeout`` seconds, so
        half-open or silent connections cannot pile up (a slowloris guard)."""
        cutoff = self._clock.monotonic() - self.settings.tcp_idle_timeout
        for key, conn in list(self._tcp_connections.items()):
            if conn.opened_at < cutoff and key not in self.core.allocations and conn.transport is not None:
                conn.transport.close()

    # ---------------------------------------------------------------- events and effects

    def apply(self, events: list[Event], reply: Callable[[bytes], None]) -> None:
        """Carry out what the core returned; ``reply`` sends bytes to the client concerned."""
        for event in events:
            if isinstance(event, Reply):
                reply(event.data)
            elif isinstance(event, ToPeer):
                relay = self._relays.get(event.allocation.key)
                if relay is not None:
                    self._sendto(relay.sock, event.data, event.peer)
                    self._py_stats.packets_to_peer += 1
                    self._py_stats.bytes_to_peer += len(event.data)
            elif isinstance(event, OpenRelay):
                relay = self._open_relay(event)
                now = self._clock.now()
                if relay is None:
                    self.apply(self.core.relay_failed(event.allocation, now), reply)
                else:
                    self.apply(self.core.relay_opened(event.allocation, relay.address, now), reply)
            elif isinstance(event, CloseRelay):
                relay = self._relays.get(event.allocation.key)
                if relay is not None and relay.alloc is event.allocation:
                    del self._relays[event.allocation.key]
                    relay.close()
            elif isinstance(event, CheckUser):
                task = self._loop.create_task(self._check_user(event.user_id))
                self._checks.add(task)
                task.add_done_callback(self._checks.discard)
        changed = self.core.take_relay_changes()
        if self._native is not None:
            for alloc in changed:
                self._native.sync(alloc)

    def _drain_native(self) -> None:
        """Datagrams the C path left to Python: handled as the pure-Python path handles them."""
        native = self._native
        if native is None:
            return
        now = self._clock.now()
        for kind, ident, host, port, data in native.drain():
            try:
                if kind == LISTENER:
                    self._native_listeners[ident].handle(data, memoryview(data), len(data), (host, port), now)
                    continue
                relay = self._native_relays.get(ident)
                if relay is not None:
                    size = len(data)
                    self._payload_view[:size] = data
                    relay.from_peer(size, (host, port))
            except Exception:
                self._py_stats.internal_errors += 1
                log.exception("turn: error handling a datagram from the native path")

    async def _check_user(self, user_id: str) -> None:
        """Look the user up for the core (a parked request waits for it), then answer."""
        assert self._lookup is not None
        try:
            await self._lookup(user_id)
        except Exception:  # the store may be briefly unavailable: the core answers 500
            log.exception("turn: could not look up a user")
        for key, events in self.core.user_checked(user_id, self._clock.now()):
            self.apply(events, self._reply_to(key))

    def _reply_to(self, key: ClientKey) -> Callable[[bytes], None]:
        transport, client, local = key
        if transport == "udp":
            listener = self._udp_by_local.get(local)
            if listener is None:
                return lambda data: None
            sock = listener.sock
            return lambda data: self._sendto(sock, data, client)
        conn = self._tcp_connections.get(key)
        return conn.write if conn is not None else (lambda data: None)

    def _open_relay(self, effect: OpenRelay) -> _Relay | None:
        """Bind a relay socket in the configured port range (``None`` when none is free)."""
        allocation, family = effect.allocation, effect.family
        host = self._relay_v4 if family == 4 else self._relay_v6
        if not host:
            return None
        candidates = self._ports
        if len(candidates) > 256:
            candidates = random.sample(candidates, 64)
        else:
            start = random.randrange(len(candidates))
            candidates = candidates[start:] + candidates[:start]
        for port in candidates:
            if effect.even_port and port % 2:
                continue
            try:
                sock = _udp_socket(host, port)
            except OSError:
                continue
            if effect.dont_fragment and family == 4 and hasattr(socket, "IP_MTU_DISCOVER"):
                # DONT-FRAGMENT (RFC 8656 §7.2, §14.8): set DF on everything this relay sends.
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MTU_DISCOVER, _IP_PMTUDISC_DO)
            relay = _Relay(self, allocation, sock)
            transport, client, local = allocation.key
            index: int | None = None  # the listener's number in the native path
            if transport == "udp":
                listener = self._udp_by_local.get(local)
                if listener is None:
                    sock.close()
                    return None
                relay.client_sock = listener.sock
                listener.by_client[client] = relay
                index = listener.index
            else:
                relay.client_tcp = self._tcp_connections.get(allocation.key)
            self._relays[allocation.key] = relay
            if self._native is not None and index is not None:
                relay.handle = self._native.attach(allocation, relay.fd, index, client)
            if relay.handle is not None:
                self._native_relays[relay.handle] = relay
            else:  # TCP clients, or the C tables are full: the relay socket is read here
                self._loop.add_reader(relay.fd, relay.on_readable)
            return relay
        return None

    # ---------------------------------------------------------------- sending

    def _sendto(self, sock: socket.socket, data: bytes | memoryview, addr: Address) -> None:
        try:
            sock.sendto(data, addr)
        except (BlockingIOError, InterruptedError):
            self._py_stats.dropped += 1  # UDP semantics: a full socket buffer drops the datagram
        except OSError:
            self._py_stats.send_errors += 1
