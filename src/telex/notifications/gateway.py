"""The notification WebSocket (``/socket.io/1/websocket/…``): a thin asyncio shell around
``NotificationSession``, and a sink of the realtime hub like ``/realtime``'s sockets.

    upgrade ─► origin check ─► sockets of this address < max_sockets_per_ip (else 503) ─► accept
            ─► receive loop: frames ─► session.receive
    session effects ─► CheckTicket: open the ticket, check the token is live,
                                    sockets of this user < max_sockets_per_user, hub.add, verified
                     ─► ReadReplay: EventLog.visible pages ─► session.replayed
                     ─► CloseConnection: the disconnect packet, the close frame, done
    hub ─► _Socket.offer(event) ─► session.offer ─► the writer task sends the frames
    the writer task also fires the session's timer (heartbeat, silent client)
    one liveness task: every socket's token re-checked each token_check_seconds (revocation ≤ 1 s)

Written as plain ASGI, mounted with ``TelexApp.add_socket`` like ``/realtime``. The socket.io
session id in the path is always the same (``HANDSHAKE_SID``): the ticket in the query string is
what names the user, so any node can take the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from urllib.parse import parse_qs

from starlette.types import Receive, Scope, Send

from telex.core.clock import Clock
from telex.core.errors import ErrorCode, TelexError
from telex.events.audience import TopicScopes
from telex.events.log import EventLog
from telex.events.model import DomainEvent
from telex.identity import KeyringHolder, TokenVerifier
from telex.notifications.session import (
    CheckTicket,
    CloseConnection,
    Connection,
    NotificationSession,
    ReadReplay,
    parse_cursor,
)
from telex.notifications.settings import NotificationSettings
from telex.notifications.ticket import TicketError, open_ticket
from telex.realtime.admission import SocketAdmission, SocketRefusals
from telex.realtime.gateway import TokenLiveness, refuse_upgrade
from telex.realtime.hub import Hub

__all__ = ["HANDSHAKE_SID", "SOCKET_PATH", "NotificationGateway", "connection_of"]

log = logging.getLogger(__name__)

HANDSHAKE_SID = "telex"
SOCKET_PATH = f"/socket.io/1/websocket/{HANDSHAKE_SID}"
_REPLAY_BATCH = 500
_CLOSE_TIMEOUT = 1.0
# Browsers on another origin must be on the operator's list (None: the request may go on).
OriginCheck = Callable[[Scope], str | None]


def connection_of(base: str, ccid: str, ttl: int) -> Connection:
    """What the allocation and ``trouter.connected`` say about a connection, for a client that
    reaches this server at ``base`` (``https://host:port``)."""
    return Connection(
        socketio=f"{base}/", url=f"{base}/notifications/{ccid}/", surl=f"{base}/notifications/{ccid}/",
        ccid=ccid, id=ccid, ttl=ttl, reconnect_url=f"{base}/v4/a",
    )  # fmt: skip


class _Socket:
    """One socket: the hub's ``Sink``, the session's shell."""

    __slots__ = ("_clock", "_send", "_wake", "closed", "session", "user_id", "writer")

    def __init__(self, session: NotificationSession, send: Send, clock: Clock) -> None:
        self.session = session
        self._send = send
        self._clock = clock
        self._wake = asyncio.Event()
        self.user_id = ""
        self.closed = False
        self.writer: asyncio.Task[None] | None = None

    def offer(self, event: DomainEvent) -> bool:
        ok = self.session.offer(event)
        self._wake.set()
        return ok

    def flush(self) -> None:
        self._wake.set()

    async def write(self) -> None:
        """Send what the session queues, fire its timer, and carry out its close."""
        session = self.session
        while not self.closed:
            if session.close is not None:
                await self._close(session.close)
                return
            frame = session.pop_frame(self._clock.monotonic())
            if frame is not None:
                await self._send({"type": "websocket.send", "text": frame})
                continue
            deadline = session.next_timer()
            timeout = None if deadline is None else max(0.0, deadline - self._clock.monotonic())
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            if deadline is not None and self._clock.monotonic() >= deadline and session.close is None:
                session.handle_timer(self._clock.monotonic())

    async def _close(self, close: CloseConnection) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(_CLOSE_TIMEOUT):
                await self._send({"type": "websocket.send", "text": close.frame})
                await self._send({"type": "websocket.close", "code": close.code, "reason": close.reason})
        self.closed = True


class NotificationGateway:
    """The ASGI app of the notification WebSocket."""

    def __init__(
        self,
        verifier: TokenVerifier,
        keyring: KeyringHolder,
        log_: EventLog,
        hub: Hub,
        settings: NotificationSettings,
        clock: Clock,
        topics: TopicScopes,
        origins: OriginCheck | None = None,
        refusals: SocketRefusals | None = None,
    ) -> None:
        self._verifier = verifier
        self._keyring = keyring
        self._log = log_
        self._hub = hub
        self._settings = settings
        self._clock = clock
        self._topics = topics
        self._origins = origins
        self._liveness = TokenLiveness(verifier, clock, settings.token_check_seconds)
        self._admission = SocketAdmission(
            "notifications", settings.max_sockets_per_ip, settings.max_sockets_per_user, refusals
        )

    def _permits(self, event: DomainEvent, scopes: frozenset[str]) -> bool:
        return self._topics.permits(event.topic, scopes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        if self._origins is not None and (refused := self._origins(scope)) is not None:
            self._admission.origin_refused(refused)
            await send({"type": "websocket.close", "code": 1008})  # before accept: 403
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        ticket = (query.get("tkt") or [""])[0]
        cursor = parse_cursor((query.get("cur") or [None])[0])
        ccid = (query.get("ccid") or [""])[0][:64] or "telex"
        client = scope.get("client")
        address = str(client[0]) if client else ""
        if not self._admission.admit_address(address):
            why = "Too many notification connections from this address (notifications.max_sockets_per_ip)."
            await refuse_upgrade(scope, send, 503, ErrorCode.UNAVAILABLE, why)
            return
        try:
            await self._accepted(scope, send, receive, ticket, cursor, ccid)
        finally:
            self._admission.release_address(address)

    async def _accepted(
        self, scope: Scope, send: Send, receive: Receive, ticket: str, cursor: int | None, ccid: str
    ) -> None:
        await send({"type": "websocket.accept"})
        s = self._settings
        session = NotificationSession(
            self._clock.monotonic(),
            connection_of(_base(scope), ccid, int(s.ticket_seconds)),
            cursor,
            heartbeat=s.heartbeat_seconds,
            client_timeout=s.client_timeout_seconds,
            max_frame_bytes=s.max_frame_bytes,
            queue_limit=s.queue_size,
            queue_bytes=s.queue_bytes,
            permits=self._permits,
        )
        sock = _Socket(session, send, self._clock)
        sock.writer = asyncio.create_task(sock.write())
        try:
            await self._serve(sock, receive, ticket)
        finally:
            sock.closed = True
            sock.flush()
            self._hub.remove(sock)
            self._liveness.discard(sock)
            if sock.user_id:
                self._admission.release_user(sock.user_id)
            if sock.writer is not None:
                sock.writer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await sock.writer

    async def _serve(self, sock: _Socket, receive: Receive, ticket: str) -> None:
        session = sock.session
        while not sock.closed:
            for effect in session.effects():
                if isinstance(effect, CheckTicket):
                    await self._check(sock, ticket)
                elif isinstance(effect, ReadReplay):
                    events = await self._log.visible(session.user_id, effect.after, _REPLAY_BATCH)
                    done = len(events) < _REPLAY_BATCH
                    session.replayed(events, events[-1].position if events else effect.after, done)
            sock.flush()
            if session.has_effects:
                continue
            if session.close is not None:
                assert sock.writer is not None
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(sock.writer), _CLOSE_TIMEOUT * 2)
                return
            message = await receive()
            if message["type"] == "websocket.disconnect":
                session.peer_gone()
                return
            session.receive(message.get("text"), self._clock.monotonic())

    async def _check(self, sock: _Socket, ticket: str) -> None:
        session = sock.session
        try:
            principal = open_ticket(ticket, self._clock.now(), self._keyring.access_keys())
            await self._verifier.check_live(principal)
        except (TicketError, TelexError):
            session.rejected("unauthorized")
            return
        if not self._hub.started.is_set():
            session.rejected("starting")
            return
        head = await self._log.head()
        if not self._admission.admit_user(principal.user_id):
            session.rejected("too many sockets")
            return
        sock.user_id = principal.user_id
        hub_from = self._hub.add(sock)
        self._liveness.add(sock)
        session.verified(principal, head, hub_from, self._clock.monotonic())


def _base(scope: Scope) -> str:
    """``https://host:port`` as the client reached this server (the socket's own scheme and Host)."""
    scheme = "https" if scope.get("scheme") in ("wss", "https") else "http"
    host = ""
    for name, value in scope.get("headers") or []:
        if name == b"host":
            host = value.decode("latin-1")
            break
    if not host:
        server = scope.get("server") or ("localhost", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scheme}://{host}"
