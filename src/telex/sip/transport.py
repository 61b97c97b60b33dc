"""The asyncio shell around ``UserAgent``: UDP, TCP and TLS sockets, and the UA's one timer.

    datagram / stream bytes ─► ua.receive_*(data, peer, now) ─┐
    command (invite, answer …) via run(lambda now: …) ────────┼─► flush: ua.data_to_send() ─► sockets
    call_at(ua.next_timer()) ─► ua.handle_timer(now) ─────────┘          ua.events() ─► on_event

Every entry into the core is followed by ``_flush``, which sends what the core produced, hands
its events to ``on_event`` (default: the ``events`` queue) and re-arms the single timer. Time is
the injected clock's wall time, so a digest nonce issued by one gateway node checks out on
another that shares the secret. Outgoing stream messages reuse a connection to the same address
(one the peer opened, or ours), and open one when there is none (RFC 3261 §18.1.1, §18.2.2).
A TLS connection we open checks the peer's certificate with what ``tls_for`` gives for that
address (its CA, the name it must carry: RFC 5922 §7.2); a failed handshake is logged with the
reason and reaches the UA as a transport error (the request fails as unavailable, 503).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from telex.core.clock import Clock, SystemClock
from telex.sip.events import Event, Peer
from telex.sip.user_agent import UserAgent

__all__ = ["SipTransport", "TlsTarget"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_READ = 65536


@dataclass(frozen=True, slots=True)
class TlsTarget:
    """How to open TLS to one address: the context (CA, client certificate), the name sent as
    SNI and checked in the certificate (None: the context's ``check_hostname`` decides, with the
    address), and what to call the peer in logs."""

    context: ssl.SSLContext
    server_name: str | None = None
    label: str = ""


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, owner: SipTransport) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.owner._datagram(data, Peer("udp", str(addr[0]), int(addr[1])))


class SipTransport:
    def __init__(
        self,
        ua: UserAgent,
        *,
        clock: Clock | None = None,
        on_event: Callable[[Event], None] | None = None,
        tls_client: ssl.SSLContext | None = None,
        tls_for: Callable[[Peer], TlsTarget | None] | None = None,
    ) -> None:
        self.ua = ua
        self.clock = clock or SystemClock()
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self._on_event = on_event or self.events.put_nowait
        self._tls_client = tls_client
        self._tls_for = tls_for
        self._udp: asyncio.DatagramTransport | None = None
        self._servers: list[asyncio.Server] = []
        self._writers: dict[Peer, asyncio.StreamWriter] = {}
        self._connecting: dict[Peer, list[bytes]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False

    # ---- lifecycle ----------------------------------------------------------------------------

    async def listen_udp(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _Udp(self), local_addr=(host, port))
        self._udp = transport
        return self._bound("udp", int(transport.get_extra_info("sockname")[1]))

    async def listen_tcp(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> int:
        kind = "tls" if tls is not None else "tcp"
        server = await asyncio.start_server(
            lambda r, w: self._accepted(r, w, kind), host, port, ssl=tls, limit=_READ
        )
        self._servers.append(server)
        return self._bound(kind, int(server.sockets[0].getsockname()[1]))

    def _bound(self, transport: str, port: int) -> int:
        """Tell the UA the port it got when it asked for any (port 0): Via and Contact need it."""
        ports = self.ua.config.ports
        if ports.get(transport, 0) == 0:
            self.ua.config = replace(self.ua.config, ports={**ports, transport: port})
        return port

    async def close(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        if self._udp is not None:
            self._udp.close()
        for server in self._servers:
            server.close()
        for writer in list(self._writers.values()):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        for server in self._servers:
            await server.wait_closed()

    def run(self, command: Callable[[float], _T]) -> _T:
        """Run a UA command with the current time and send what it produced."""
        try:
            return command(self.clock.now())
        finally:
            self._flush()

    # ---- inbound ------------------------------------------------------------------------------

    def _datagram(self, data: bytes, peer: Peer) -> None:
        self.ua.receive_datagram(data, peer, self.clock.now())
        self._flush()

    def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, kind: str) -> None:
        host, port = writer.get_extra_info("peername")[:2]
        peer = Peer(kind, str(host), int(port))
        self._writers[peer] = writer
        self._spawn(self._read(peer, reader, writer))

    async def _read(self, peer: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(_READ):
                if not self.ua.receive_stream(data, peer, self.clock.now()):
                    break
                self._flush()
        except (ConnectionError, OSError):
            pass
        finally:
            if self._writers.get(peer) is writer:
                del self._writers[peer]
            writer.close()
            if not self._closed:
                self.ua.connection_lost(peer, self.clock.now())
                self._flush()

    # ---- outbound -----------------------------------------------------------------------------

    def _flush(self) -> None:
        for out in self.ua.data_to_send():
            self._send(out.peer, out.data)
        for event in self.ua.events():
            self._on_event(event)
        self._arm()

    def _send(self, peer: Peer, data: bytes) -> None:
        if peer.transport == "udp":
            if self._udp is not None:
                self._udp.sendto(data, (peer.host, peer.port))
            return
        writer = self._writers.get(peer)
        if writer is not None and not writer.is_closing():
            writer.write(data)
            return
        if peer in self._connecting:
            self._connecting[peer].append(data)
            return
        self._connecting[peer] = [data]
        self._spawn(self._connect(peer))

    async def _connect(self, peer: Peer) -> None:
        target = None
        if peer.transport == "tls":
            target = self._tls_for(peer) if self._tls_for is not None else None
            if target is None:
                target = TlsTarget(self._tls_client or ssl.create_default_context())
        try:
            if target is None:
                reader, writer = await asyncio.open_connection(peer.host, peer.port, limit=_READ)
            else:
                reader, writer = await asyncio.open_connection(
                    peer.host, peer.port, ssl=target.context, server_hostname=target.server_name,
                    limit=_READ,
                )  # fmt: skip
        except (OSError, ssl.SSLError) as exc:
            if target is not None:
                name = target.label or f"{peer.host}:{peer.port}"
                log.warning("SIP over TLS to %s (%s:%d) refused: %s", name, peer.host, peer.port, exc)
            self._connecting.pop(peer, None)
            self.ua.transport_error(peer, self.clock.now())
            self._flush()
            return
        self._writers[peer] = writer
        for data in self._connecting.pop(peer, []):
            writer.write(data)
        await self._read(peer, reader, writer)

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        due = self.ua.next_timer()
        if due is None or self._closed:
            return
        delay = max(0.0, due - self.clock.now())
        self._timer = asyncio.get_running_loop().call_later(delay, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self.ua.handle_timer(self.clock.now())
        self._flush()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
