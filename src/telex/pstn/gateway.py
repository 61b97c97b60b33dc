"""The PSTN gateway of a node: the SIP transport for every trunk, and the trunk calls it bridges.

    carrier ─UDP/TCP/TLS─► SipTransport ─► UserAgent (sans-I/O) ─► on_event
        IncomingCall ─► our number? (404 unknown, 403 no inbound calling) ─► its route?
            none: TrunkCall.run_inbound (IncomingCall to applications); users: run_inbound rings
            them; a group call: TrunkCall.run_group joins it
        other events ─► the TrunkCall of that Call-ID (its queue)
    Call Automation create_call to a phone number ─► check_outbound (caller id, route: 403)
        ─► dial ─► a trunk that is up ─► trunk limits ─► INVITE ─► TrunkCall.run_outbound
    every trunk's options_interval_seconds ─► OPTIONS ─► TrunkHealth (up / down)

Only the carriers' addresses may start calls (``accept_from``: anything else is dropped without
an answer), and a trunk may require digest authentication of them. The gateway's participants
are phone numbers' raw ids (``4:+14255550100``) acting with ``voip`` rights, as Call Automation's
applications act as their users.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import ssl
from collections.abc import Callable, Coroutine
from typing import Any

from aiortc import RTCConfiguration

from telex.automation.media.engine import MediaEngine
from telex.automation.media.signaling import LocalCallClient
from telex.calling import CallingService, EndReason
from telex.core.clock import Clock
from telex.core.errors import ErrorCode, TelexError
from telex.numbers import NumbersService
from telex.numbers.routing import NumberRoutes
from telex.pstn.calls import TrunkCall, phone_principal
from telex.pstn.health import TrunkHealth
from telex.pstn.settings import SipSettings, TrunkSettings
from telex.pstn.trunks import Trunk, TrunkRouter
from telex.realtime import Hub
from telex.rtp import RtpEndpoint
from telex.sip import (
    DigestServer,
    EndCause,
    Event,
    IncomingCall,
    OptionsResult,
    Peer,
    SipTransport,
    SipUri,
    TlsTarget,
    UaConfig,
    UserAgent,
)
from telex.sip.uri import NameAddr, Uri

__all__ = ["PstnGateway", "phone_number_of"]

log = logging.getLogger(__name__)


def phone_number_of(uri: Uri) -> str | None:
    """The E.164 number a SIP or tel URI names (``sip:+14255550100@…``, ``sip:14255550100@…``,
    ``tel:+1-425-555-0100``), or None."""
    user = getattr(uri, "user", None) or getattr(uri, "number", None)
    if not isinstance(user, str):
        return None
    digits = "".join(ch for ch in user.split(";", 1)[0] if ch.isdigit())
    if not 2 <= len(digits) <= 15 or digits[0] == "0":
        return None
    return "+" + digits


class PstnGateway:
    def __init__(
        self,
        settings: SipSettings,
        *,
        host: str,
        calling: CallingService,
        hub: Hub,
        numbers: NumbersService,
        engine: MediaEngine | None,
        rtc: Callable[[str], RTCConfiguration],
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.router = TrunkRouter(settings.trunks)
        self.calling = calling
        self.numbers = numbers
        self.routes = NumberRoutes(numbers.store)
        self.engine = engine
        self.clock = clock
        self._hub = hub
        self._rtc = rtc
        self.bind_host = settings.host or host
        self.media_host = settings.advertised_host or self.bind_host
        auth = None
        if self.router.challenges:
            # Without a shared ``nonce_secret``, a per-node one: nonces are good on the node that
            # issued them (a Kamailio edge keeps a call's requests on one node).
            algorithms = tuple(settings.digest_algorithms)
            secret = settings.nonce_key() or os.urandom(32)
            auth = DigestServer("telex", secret, self.router.inbound_password, algorithms=algorithms)
        ports = {"udp": settings.udp_port}
        if settings.tcp_port:
            ports["tcp"] = settings.tcp_port
        if settings.tls_port:
            ports["tls"] = settings.tls_port
        config = UaConfig(
            host=self.media_host, ports=ports, user="telex", credentials=self.router.credentials,
            auth=auth, accept_from=lambda peer: self.router.for_source(peer.host) is not None,
        )  # fmt: skip
        self.ua = UserAgent(config)
        self._tls = {t.name: _client_context(t.settings, settings) for t in self.router.trunks
                     if t.settings.transport == "tls"}  # fmt: skip
        # Built here, not at start: a missing or unreadable certificate stops ``Node.open``.
        self._server_tls = _server_context(settings) if settings.tls_port else None
        self.transport = SipTransport(self.ua, clock=clock, on_event=self._on_event, tls_for=self._tls_for)
        self.health = TrunkHealth(self.router.trunks, clock.now())
        self.calls: dict[str, TrunkCall] = {}
        self.finished: list[TrunkCall] = []  # the last few, for tests and diagnostics
        self._tasks: set[asyncio.Task[None]] = set()
        self._keepalive: asyncio.Task[None] | None = None
        self.udp_port = 0
        self.tcp_port = 0
        self.tls_port = 0

    # lifecycle ------------------------------------------------------------------------------------
    async def start(self) -> None:
        self.udp_port = await self.transport.listen_udp(self.bind_host, self.settings.udp_port)
        if self.settings.tcp_port:
            self.tcp_port = await self.transport.listen_tcp(self.bind_host, self.settings.tcp_port)
        if self._server_tls is not None:
            self.tls_port = await self.transport.listen_tcp(
                self.bind_host, self.settings.tls_port, self._server_tls
            )
        log.info(
            "PSTN gateway on %s (udp %d, tcp %d, tls %d)",
            self.bind_host, self.udp_port, self.tcp_port, self.tls_port,
        )  # fmt: skip
        self._keepalive = asyncio.create_task(self._keep_alive())

    async def close(self) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keepalive
        for call in list(self.calls.values()):
            with contextlib.suppress(Exception):
                self.transport.run(lambda now, c=call: self.ua.hangup(c.sip_id, now))  # type: ignore[misc]
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.transport.close()

    # what trunk calls use -------------------------------------------------------------------------
    async def open_rtp(self) -> RtpEndpoint:
        s = self.settings
        ports = (s.rtp_port_min, s.rtp_port_max)
        return await RtpEndpoint.open(self.bind_host, clock=self.clock, port_range=ports)

    def local_client(self, user: str) -> LocalCallClient:
        return LocalCallClient(self.calling, self._hub, phone_principal(user), self._rtc(user))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, call: TrunkCall, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except Exception:
            log.exception("trunk call %s failed", call.sip_id)
            with contextlib.suppress(Exception):
                self.transport.run(lambda now: self.ua.hangup(call.sip_id, now, EndCause.FAILED))
        finally:
            await call.close()
            self.calls.pop(call.sip_id, None)
            call.trunk.release()
            self.finished = [*self.finished[-19:], call]

    def _admit(self, call: TrunkCall) -> None:
        if len(self.calls) >= self.settings.max_calls:
            raise TelexError(ErrorCode.UNAVAILABLE, "The PSTN gateway carries its most calls.", retry_after=5)
        call.trunk.admit(self.clock.now())

    # trunks: TLS and keep-alives --------------------------------------------------------------------
    def _tls_for(self, peer: Peer) -> TlsTarget | None:
        """The TLS settings of the trunk at ``peer``: its own address, else a trunk on that host
        (in-dialog requests go to the carrier's Contact, which may name another port)."""
        tls = [t for t in self.router.trunks if t.name in self._tls]
        trunk = next((t for t in tls if t.peer == peer), None) or next(
            (t for t in tls if t.settings.host == peer.host), None
        )
        if trunk is None:
            return None
        name = trunk.settings.tls_server_name or None
        return TlsTarget(self._tls[trunk.name], name, f"trunk {trunk.name}")

    async def _keep_alive(self) -> None:
        """The asyncio shell of ``TrunkHealth``: sleep on the injected clock until the next ping
        is due, send what is due."""
        while True:
            due = self.health.next_timer()
            if due is None:
                return
            delay = due - self.clock.now()
            if delay > 0:
                await self.clock.sleep(delay)
            for trunk in self.health.handle_timer(self.clock.now()):
                self.transport.run(functools.partial(self._ping, trunk))

    def _ping(self, trunk: Trunk, now: float) -> None:
        # Registered before the transport flushes: a failure it reports at once must find it.
        self.health.sent(trunk, self.ua.send_options(trunk.peer, now, _uri(trunk)))

    # SIP events -------------------------------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        if isinstance(event, IncomingCall):
            self._incoming(event)
            return
        if isinstance(event, OptionsResult):
            self.health.result(event.handle, event.status, self.clock.now())
            return
        call = self.calls.get(getattr(event, "call_id", ""))
        if call is not None:
            call.events.put_nowait(event)

    def _incoming(self, event: IncomingCall) -> None:
        trunk = self.router.for_source(event.source.host)
        dialed = phone_number_of(event.request_uri) or phone_number_of(event.to.uri)
        if trunk is None or dialed is None:
            self.transport.run(lambda now: self.ua.reject(event.call_id, now, EndCause.NOT_FOUND))
            return
        call = TrunkCall(self, event.call_id, trunk, "4:" + (phone_number_of(event.from_.uri) or "anonymous"))
        try:
            self._admit(call)
        except TelexError:
            self.transport.run(lambda now: self.ua.reject(event.call_id, now, EndCause.UNAVAILABLE))
            return
        self.calls[event.call_id] = call  # from now on its SIP events queue up for it
        self._spawn(self._run(call, self._inbound(call, event, dialed)))

    async def _inbound(self, call: TrunkCall, event: IncomingCall, dialed: str) -> None:
        owned = await self.numbers.lookup(dialed)
        if owned is None or not owned.capabilities.calling.inbound:
            # Unknown: 404. Ours, but bought without inbound calling: 403.
            cause = EndCause.NOT_FOUND if owned is None else EndCause.FORBIDDEN
            call.outcome = f"refused:{cause.value}"
            self.transport.run(lambda now: self.ua.reject(event.call_id, now, cause))
            return
        route = await self.routes.get(dialed)
        if route is not None and route.group_call_id is not None:
            await call.run_group(route.group_call_id, _display(event.from_))
            return
        ring = list(route.users) if route is not None else None
        seconds = route.ring_seconds if route is not None else None
        await call.run_inbound(
            call.user, "4:" + dialed, _display(event.from_), ring=ring, ring_seconds=seconds
        )

    # outbound (Call Automation's PstnDialer) -----------------------------------------------------------
    async def check_outbound(self, caller_id: str, target: str) -> None:
        owned = await self.numbers.lookup(caller_id)
        if owned is None or not owned.capabilities.calling.outbound:
            raise TelexError(
                ErrorCode.FORBIDDEN,
                "sourceCallerIdNumber must be a phone number of this resource with outbound calling.",
            )
        if phone_number_of(SipUri("x", target)) != target:
            raise TelexError(ErrorCode.VALIDATION_FAILED, f"{target!r} is not an E.164 number.")
        self.router.route(target)

    async def dial(self, call_id: str, participant_id: str, target: str, caller_id: str) -> None:
        trunk = self.router.route(target)
        call = TrunkCall(self, "", trunk, "4:" + target)
        try:
            self._admit(call)
        except TelexError:
            with contextlib.suppress(TelexError):
                await self.calling.end_invitation(call_id, participant_id, EndReason.UNAVAILABLE)
            raise
        try:
            await call._open()
        except Exception:
            call.trunk.release()
            await call.close()
            raise
        assert call.bridge is not None
        port = call.bridge.rtp.local_port
        uri = _uri(trunk, target)
        call.sip_id = self.transport.run(
            lambda now: self.ua.invite(
                uri, peer=trunk.peer, rtp=(self.media_host, port), now=now, from_user=caller_id,
                headers=[("P-Asserted-Identity", f"<sip:{caller_id}@{self.media_host}>")],
            )
        )  # fmt: skip
        self.calls[call.sip_id] = call
        self._spawn(self._run(call, call.run_outbound(call_id, participant_id)))


def _display(name: NameAddr) -> str | None:
    return name.display_name or None


def _uri(trunk: Trunk, user: str | None = None) -> SipUri:
    """The trunk's URI for ``user`` (RFC 3261 §19.1.1: ``transport=`` names TCP and TLS; a
    ``sip:`` URI over TLS, as carriers' direct routing expects, rather than ``sips:``, which
    would promise TLS on every hop beyond the carrier, RFC 5630 §3.1.1)."""
    s = trunk.settings
    params = (("transport", s.transport),) if s.transport != "udp" else ()
    return SipUri(s.tls_server_name or s.host, user, s.port, params=params)


def _client_context(trunk: TrunkSettings, sip: SipSettings) -> ssl.SSLContext:
    """TLS towards a carrier: its certificate must chain to the trunk's CA (or the system's
    store) and name the trunk's ``tls_server_name`` or, without one, its address (RFC 5922
    §7.2); our client certificate goes along when we have one (mutual TLS)."""
    context = ssl.create_default_context(cafile=str(trunk.tls_ca_file) if trunk.tls_ca_file else None)
    cert, key = trunk.tls_cert_file, trunk.tls_key_file
    if cert is None:
        cert, key = sip.tls_cert_file, sip.tls_key_file
    if cert is not None and key is not None:
        context.load_cert_chain(str(cert), str(key))
    return context


def _server_context(sip: SipSettings) -> ssl.SSLContext:
    """The TLS listener: our certificate, and the carriers' client certificates checked against
    ``tls_client_ca_file`` when it is set (mutual TLS)."""
    assert sip.tls_cert_file is not None and sip.tls_key_file is not None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(sip.tls_cert_file), str(sip.tls_key_file))
    if sip.tls_client_ca_file is not None:
        context.load_verify_locations(str(sip.tls_client_ca_file))
        context.verify_mode = ssl.CERT_REQUIRED
    return context
