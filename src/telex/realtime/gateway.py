"""The ``/realtime`` WebSocket endpoint: a thin asyncio shell around ``RealtimeSession``.

    upgrade ─► Origin allowlist ─► sockets of this address < max_sockets_per_ip ─► accept
            ─► receive loop: frames ─► session.receive
    session effects ─► VerifyToken: verifier, sockets of this user < max_sockets_per_user (4029),
                                    then hub.add, session.verified
                     ─► ReadReplay: EventLog.visible pages ─► session.replayed
                     ─► CloseConnection: error frame, close frame, done
    hub ─► _Connection.offer(event) ─► session.offer ─► frames sent at once, on the hub's call
    one timer task for every connection (auth deadline, heartbeats) on the injected clock
    one liveness task: each distinct token re-checked every token_check_seconds (revocation ≤ 1 s)

The endpoint is plain ASGI (no framework WebSocket object, no task or queue per connection
besides the ASGI one): an idle connection holds its session, this small shell, and the server's
own protocol objects. Frames go out on the caller's turn: the ASGI ``send`` of a writable
socket completes without suspending, so it is driven synchronously (``_send_now``); only when
the transport pushes back (a client that does not read) does a task wait for it, while further
frames pile up in the session's bounded outbox until it overflows (4008).

Under the server ``telex serve`` runs (uvicorn's websockets-sansio protocol), a frame for a
writable socket skips even that: ASGI has no synchronous send, but that protocol object carries
the sans-I/O ``websockets`` connection and the transport, and the frame is written the way
``websockets``' own ``broadcast()`` writes it (``_DirectWriter``); fan-out is the hot path of
the whole node (bench/realtime.py). Under any other server, or when the socket is not writable,
the ASGI send is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import json
import logging
import socket
import struct
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from starlette.types import Receive, Scope, Send

from telex.core.clock import Clock
from telex.core.errors import ErrorCode, TelexError
from telex.core.ids import UserId
from telex.events.audience import TopicScopes
from telex.events.log import EventLog
from telex.events.model import DomainEvent
from telex.identity import Principal, TokenVerifier
from telex.identity import Scope as TokenScope
from telex.realtime import protocol as p
from telex.realtime.admission import SocketAdmission, SocketRefusals
from telex.realtime.hub import Hub
from telex.realtime.session import CloseConnection, ReadReplay, RealtimeSession, VerifyToken
from telex.realtime.settings import RealtimeSettings

__all__ = ["RealtimeGateway", "TokenLiveness", "refuse_upgrade"]

log = logging.getLogger(__name__)

_REPLAY_BATCH = 500
# How long a closing socket's peer has to take the close frames before the connection is dropped.
_CLOSE_TIMEOUT = 5.0


async def _resume(coro: Coroutine[Any, Any, None], yielded: Any) -> None:
    """Finish driving a coroutine that ``_send_now`` started and that suspended on ``yielded``."""
    while True:
        if yielded is None:
            await asyncio.sleep(0)
        else:
            # What asyncio's Task does with a future a coroutine yields: take over the "blocking"
            # flag the coroutine's own await set, wait for the future, then resume the coroutine,
            # which reads the outcome through its own await.
            yielded._asyncio_future_blocking = False
            with contextlib.suppress(BaseException):
                await yielded
        try:
            yielded = coro.send(None)
        except StopIteration:
            return


def _send_now(
    send: Send, message: dict[str, Any], coro: Coroutine[Any, Any, None] | None = None
) -> asyncio.Task[None] | None:
    """Run ``send(message)`` (or ``coro``) on this turn; a task finishing it if it had to wait
    (back-pressure). Raises what the send raises (the peer is gone)."""
    if coro is None:
        started = send(message)
        assert isinstance(started, Coroutine)
        coro = started
    try:
        yielded = coro.send(None)
    except StopIteration:
        return None
    return asyncio.get_running_loop().create_task(_resume(coro, yielded))


class _DirectWriter:
    """Writes text frames straight into the server's WebSocket protocol object (see the module
    docstring), when the ASGI ``send`` belongs to one that exposes what that takes."""

    __slots__ = ("_proto",)

    def __init__(self, proto: Any) -> None:
        self._proto = proto

    @classmethod
    def of(cls, send: Send) -> _DirectWriter | None:
        proto = getattr(send, "__self__", None)
        needed = ("conn", "transport", "writable", "close_sent", "disconnected")
        if proto is None or not all(hasattr(proto, name) for name in needed):
            return None
        if not (hasattr(proto.conn, "send_text") and hasattr(proto.conn, "data_to_send")):
            return None
        return cls(proto)

    def abort(self) -> None:
        """Drop the connection now, unsent data and all (a peer that stopped reading). A plain
        close would leave the kernel holding the unsent frames, probing a zero window for
        minutes; a zero linger makes the close a reset that frees them at once."""
        transport = self._proto.transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()

    def write(self, frame: bytes) -> bool:
        """Write ``frame`` (UTF-8) now; False if this socket cannot take it this way (use the ASGI
        send)."""
        proto = self._proto
        if proto.close_sent or proto.disconnected or not proto.writable.is_set():
            return False
        proto.conn.send_text(frame)
        proto.transport.write(b"".join(proto.conn.data_to_send()))
        return True


class _Connection:
    """One socket: the hub's ``Sink``, the session's shell."""

    __slots__ = (
        "_blocked",
        "_clock",
        "_closing",
        "_direct",
        "_now",
        "_send",
        "_task",
        "closed",
        "session",
        "user_id",
    )

    def __init__(self, session: RealtimeSession, send: Send, clock: Clock) -> None:
        self.session = session
        self._send = send
        self._direct = _DirectWriter.of(send)
        self._now = clock.monotonic
        self._clock = clock
        self._blocked = False
        self._closing = False
        self._task = asyncio.current_task()
        self.user_id = ""
        self.closed = False

    def offer(self, event: DomainEvent) -> bool:
        ok = self.session.offer(event)
        self.flush()
        return ok

    def flush(self) -> None:
        """Send what the session has queued, on this turn, until the transport pushes back; start
        the close if the session has decided to close."""
        session = self.session
        if session.close is not None:
            self._start_close(session.close)
            return
        direct = self._direct
        while not self._blocked and not self.closed:
            frame = session.pop_frame(self._now())
            if frame is None:
                return
            try:
                if direct is not None and direct.write(frame):
                    continue
                task = _send_now(self._send, {"type": "websocket.send", "text": frame.decode()})
            except Exception:  # the peer is gone; the receive loop sees the disconnect
                self.closed = True
                return
            if task is not None:
                self._blocked = True
                task.add_done_callback(self._unblocked)

    def _unblocked(self, task: asyncio.Task[None]) -> None:
        self._blocked = False
        if task.cancelled() or task.exception() is not None:
            self.closed = True
            return
        self.flush()

    def _start_close(self, close: CloseConnection) -> None:
        """Send the error and close frames; the server then hands the receive loop a disconnect.
        A peer that never reads may never take them: after a bound the loop is stopped anyway."""
        if self._closing or self.closed:
            return
        self._closing = True
        try:
            task = _send_now(self._send, {}, coro=self._close_frames(close))
        except Exception:
            self.closed = True
        else:
            if task is not None:  # the peer may be gone by the time the frames can go
                task.add_done_callback(lambda t: t.cancelled() or t.exception())
        asyncio.get_running_loop().call_later(_CLOSE_TIMEOUT, self._abort)

    async def _close_frames(self, close: CloseConnection) -> None:
        if close.code >= 4000 and close.reason:
            await self._send({"type": "websocket.send", "text": p.error_frame(str(close.code), close.reason)})
        await self._send({"type": "websocket.close", "code": close.code, "reason": close.reason[:120]})

    def _abort(self) -> None:
        """The close frames did not go out in time: the peer is not reading. Release everything
        now (a graceful close would wait for the peer to read the buffered frames first)."""
        if self.closed:
            return
        self.closed = True
        if self._direct is not None:
            self._direct.abort()
        if self._task is not None and not self._task.done():
            self._task.cancel()


class _Timers:
    """Every connection's next deadline in one heap, served by one task on the injected clock.
    Deadlines only move later (a heartbeat after traffic), so an entry that fires early is just
    put back at the session's current ``next_timer()``."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._heap: list[tuple[float, int, _Connection]] = []
        self._seq = itertools.count()
        self._handle: asyncio.TimerHandle | None = None
        self._armed_for: float | None = None

    def schedule(self, conn: _Connection) -> None:
        deadline = conn.session.next_timer()
        if deadline is None:
            return
        heapq.heappush(self._heap, (deadline, next(self._seq), conn))
        if self._armed_for is None or deadline < self._armed_for:
            self._arm(deadline)

    def _arm(self, deadline: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        delay = max(0.0, deadline - self._clock.monotonic())
        self._armed_for = deadline
        self._handle = asyncio.get_running_loop().call_later(delay, self._fire)

    def _fire(self) -> None:
        self._handle, self._armed_for = None, None
        self.run_due(self._clock.monotonic())
        if self._heap:
            self._arm(self._heap[0][0])

    def run_due(self, now: float) -> None:
        """Fire every deadline at or before ``now`` (the timer calls this; tests may too)."""
        while self._heap and self._heap[0][0] <= now:
            _, _, conn = heapq.heappop(self._heap)
            if conn.closed or conn.session.close is not None:
                continue
            deadline = conn.session.next_timer()
            if deadline is not None and deadline <= now:
                conn.session.handle_timer(now)
                conn.flush()
            self.schedule(conn)


# Node clocks may disagree by this much: a revocation stamped by another node's clock is still
# seen if it lands this far before the instant this node last looked.
_CLOCK_SKEW = 5.0


class _Checked(Protocol):
    """A connection whose token is re-checked: its session (with the principal, once
    authenticated) and a way to write what ``revoked()`` queued."""

    @property
    def session(self) -> _RevocableSession: ...

    def flush(self) -> None: ...


class _RevocableSession(Protocol):
    @property
    def principal(self) -> Principal | None: ...

    def revoked(self) -> None: ...


class TokenLiveness:
    """One task re-checks every open connection's token each ``every`` seconds, whatever the
    number of connections: expiry from the token itself, revocations and deletions from one read
    of the users revoked since the previous round (on any node: the store is shared). A
    revocation made on this node closes its user's sockets at once, without waiting for a round
    (a loaded node may run a round late). Serves ``/realtime`` and the JavaScript chat SDK's
    notification sockets alike."""

    def __init__(self, verifier: TokenVerifier, clock: Clock, every: float) -> None:
        self._verifier = verifier
        self._clock = clock
        self._every = every
        self._open: set[_Checked] = set()
        self._task: asyncio.Task[None] | None = None
        self._since = 0.0
        verifier.on_revoked(self._revoked_here)

    def add(self, conn: _Checked) -> None:
        self._open.add(conn)
        if self._task is None or self._task.done():
            self._since = self._clock.now()
            self._task = asyncio.create_task(self._run())

    def discard(self, conn: _Checked) -> None:
        self._open.discard(conn)

    async def _run(self) -> None:
        while self._open:
            await self._clock.sleep(self._every)
            started = self._clock.now()
            try:
                changed = await self._verifier.revoked_since(self._since - _CLOCK_SKEW)
            except TelexError as exc:  # the store is away (it logs the outage once): next round
                if exc.code is not ErrorCode.UNAVAILABLE:
                    log.exception("token check failed")
                continue
            except Exception:
                log.exception("token check failed")
                continue
            self._since = started
            for conn in list(self._open):
                principal = conn.session.principal
                if principal is None:
                    continue
                state = changed.get(principal.user_id)
                stale = state is not None and (not state[1] or state[0] != principal.generation)
                if stale or self._verifier.expired(principal):
                    self._close(conn)

    def _revoked_here(self, user: UserId) -> None:
        # Every token the user holds predates the revocation (the generation just moved on).
        for conn in list(self._open):
            principal = conn.session.principal
            if principal is not None and principal.user_id == user:
                self._close(conn)

    def _close(self, conn: _Checked) -> None:
        # Out of the set at once: its session is closed, and a closed session refuses inputs.
        self._open.discard(conn)
        conn.session.revoked()
        conn.flush()


async def refuse_upgrade(scope: Scope, send: Send, status: int, code: ErrorCode, message: str) -> None:
    """Answer an upgrade with an HTTP error (the ACS error body), or close before accepting it
    (a 403 to the client) on a server without the WebSocket denial-response extension."""
    if "websocket.http.response" in scope.get("extensions", {}):
        body = json.dumps({"error": {"code": code.wire, "message": message}}).encode()
        headers = [(b"content-type", b"application/json"), (b"x-ms-error-code", code.wire.encode())]
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": p.Close.POLICY})


class RealtimeGateway:
    """The ASGI app of ``/realtime``."""

    def __init__(
        self,
        verifier: TokenVerifier,
        log_: EventLog,
        hub: Hub,
        settings: RealtimeSettings,
        clock: Clock,
        topics: TopicScopes,
        scopes: frozenset[TokenScope],
        *,
        origins: Callable[[Scope], str | None],
        refusals: SocketRefusals | None = None,
    ) -> None:
        """``origins``: the origin a browser upgrade comes from when it is refused, else None
        (the REST API's ``OriginPolicy.refused``: one allowlist for both ways in); ``refusals``:
        the node's count of refused sockets."""
        self._origins = origins
        self._verifier = verifier
        self._log = log_
        self._hub = hub
        self._settings = settings
        self._clock = clock
        self._topics = topics
        self._scopes = scopes
        self._timers = _Timers(clock)
        self._liveness = TokenLiveness(verifier, clock, settings.token_check_seconds)
        self._admission = SocketAdmission(
            "realtime", settings.max_sockets_per_ip, settings.max_sockets_per_user, refusals
        )

    def _permits(self, event: DomainEvent, scopes: frozenset[str]) -> bool:
        return self._topics.permits(event.topic, scopes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        refused = self._origins(scope)
        if refused is not None:
            # The ACS error body, as REST answers a refused origin.
            self._admission.origin_refused(refused)
            why = f"The origin {refused} is not allowed (http.allowed_origins)."
            await refuse_upgrade(scope, send, 403, ErrorCode.FORBIDDEN, why)
            return
        client = scope.get("client")
        address = str(client[0]) if client else ""
        if not self._admission.admit_address(address):
            too_many = "Too many realtime connections from this address (realtime.max_sockets_per_ip)."
            await refuse_upgrade(scope, send, 503, ErrorCode.UNAVAILABLE, too_many)
            return
        try:
            await self._accepted(send, receive)
        finally:
            self._admission.release_address(address)

    async def _accepted(self, send: Send, receive: Receive) -> None:
        await send({"type": "websocket.accept"})
        s = self._settings
        session = RealtimeSession(
            self._clock.monotonic(),
            auth_timeout=s.auth_timeout_seconds,
            heartbeat=s.heartbeat_seconds,
            max_frame_bytes=s.max_frame_bytes,
            queue_limit=s.queue_size,
            queue_bytes=s.queue_bytes,
            max_event_bytes=s.max_event_bytes,
            permits=self._permits,
        )
        conn = _Connection(session, send, self._clock)
        self._timers.schedule(conn)
        try:
            await self._serve(conn, receive)
        except asyncio.CancelledError:
            if not conn.closed:
                raise  # the server is stopping
            # else: a close the peer never took (_Connection._abort): the server drops the socket
        finally:
            conn.closed = True
            self._hub.remove(conn)
            self._liveness.discard(conn)
            if conn.user_id:
                self._admission.release_user(conn.user_id)

    async def _serve(self, conn: _Connection, receive: Receive) -> None:
        session = conn.session
        while True:
            for effect in session.effects():
                try:
                    await self._apply(conn, effect)
                except TelexError as exc:
                    if exc.code is not ErrorCode.UNAVAILABLE:
                        raise
                    # The store is away (it logs the outage once): the client comes back later
                    # and resumes from its cursor, rather than being told its token is bad.
                    session.rejected(p.Close.TRY_AGAIN_LATER, "the store is unavailable; retry")
            conn.flush()
            if session.has_effects:
                continue
            message = await receive()
            if message["type"] == "websocket.disconnect":
                session.peer_gone()
                return
            session.receive(message.get("text"), self._clock.monotonic())

    async def _apply(self, conn: _Connection, effect: VerifyToken | ReadReplay | CloseConnection) -> None:
        session = conn.session
        if isinstance(effect, VerifyToken):
            try:
                principal = await self._verifier.verify(effect.token, self._scopes)
            except TelexError as exc:
                if exc.code is ErrorCode.UNAVAILABLE:
                    raise
                code = p.Close.FORBIDDEN if exc.code is ErrorCode.FORBIDDEN else p.Close.UNAUTHORIZED
                session.rejected(code, exc.message)
                return
            if not effect.first:
                session.refreshed(principal)
                return
            if not self._hub.started.is_set():
                session.rejected(p.Close.RESTART, "starting; retry")
                return
            head = await self._log.head() if effect.cursor is not None else 0
            if not self._admission.admit_user(principal.user_id):
                session.rejected(p.Close.TOO_MANY_SOCKETS, "too many open sockets for this user")
                return
            conn.user_id = principal.user_id
            hub_from = self._hub.add(conn)
            self._liveness.add(conn)
            session.verified(principal, head, hub_from, effect.cursor, self._clock.monotonic())
            self._timers.schedule(conn)
        elif isinstance(effect, ReadReplay):
            events = await self._log.visible(session.user_id, effect.after, _REPLAY_BATCH)
            done = len(events) < _REPLAY_BATCH
            session.replayed(events, events[-1].position if events else effect.after, done)
