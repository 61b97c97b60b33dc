"""The ``/realtime`` WebSocket endpoint: the asyncio shell around ``protocol`` and ``Hub``.

    upgrade ─► Origin allowlist ─► accept ─► first frame: auth (token, cursor) ─► register with hub
            ─► "ready" ─► replay visible events after cursor from the log ─► live events from the hub
    while open: token re-checked every token_check_seconds (revocation closes within 1 s),
                heartbeat when idle, pings answered, a full queue closes with 4008 (resumable).

Exactly once, in order: the connection registers with the hub *before* replaying, so an event
committed during the replay is either in the replay or queued by the hub; every event at or
below the last position sent is skipped. Replay reads each source (chat, calls) in pages and
merges them by position, so the cursor a client sees only ever moves forward.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Protocol

from fastapi import APIRouter
from starlette.websockets import WebSocket, WebSocketDisconnect

from telex.calling.payloads import CALL_STREAM_PREFIX
from telex.calling.service import CALL_SCOPES
from telex.chat.guard import CHAT_SCOPES
from telex.core.clock import Clock
from telex.core.errors import ErrorCode, TelexError
from telex.events.log import Event, EventLog
from telex.identity.tokens import Principal
from telex.identity.verifier import TokenVerifier
from telex.realtime import protocol as p
from telex.realtime.hub import Hub
from telex.realtime.settings import RealtimeSettings

__all__ = ["ReplaySource", "merged_replay", "realtime_router"]

log = logging.getLogger(__name__)

_REPLAY_BATCH = 500
# One socket carries chat and call events; a token needs a chat or a voip scope to open it.
_REALTIME_SCOPES = (*CHAT_SCOPES, *CALL_SCOPES)


def _permitted(event: Event, principal: Principal) -> bool:
    """Chat events need a chat scope, call events a voip scope: a voip-only token (a calling
    app) gets its calls but never the chat of threads its user happens to be in."""
    needed = CALL_SCOPES if event.stream.startswith(CALL_STREAM_PREFIX) else CHAT_SCOPES
    return not principal.scopes.isdisjoint(needed)


class ReplaySource(Protocol):
    async def visible_events(self, user: str, after: int, limit: int) -> list[Event]:
        """Events ``user`` may receive, position > ``after``, oldest first, at most ``limit``."""
        ...


async def merged_replay(
    sources: Sequence[ReplaySource], user: str, after: int, batch: int
) -> tuple[list[Event], int, bool]:
    """One page of every source's events after ``after``, merged by position, and the position
    the next page starts after. A full page of one source may stop short of events another
    source has beyond it: only events up to the lowest last position of a full page are safe
    to send, the rest come in the next round. Returns (events, next after, whether done)."""
    pages = [await source.visible_events(user, after, batch) for source in sources]
    full = [page[-1].position for page in pages if len(page) >= batch]
    upto = min(full) if full else None
    merged = sorted((e for page in pages for e in page), key=lambda e: e.position)
    if upto is None:
        return merged, merged[-1].position if merged else after, True
    return [e for e in merged if e.position <= upto], upto, False


_PONG = object()
_OVERFLOW = object()


class _Connection:
    """One authenticated socket: a bounded queue fed by the hub, drained by one writer."""

    def __init__(self, principal: Principal, limit: int) -> None:
        self.principal = principal
        self.user_id: str = principal.user_id
        self.limit = limit
        self.queue: asyncio.Queue[object] = asyncio.Queue()
        self.closing = asyncio.Event()
        self.close_code = p.Close.NORMAL
        self.close_reason = ""

    def request_close(self, code: int, reason: str) -> None:
        if not self.closing.is_set():
            self.close_code, self.close_reason = code, reason
            self.closing.set()

    def offer(self, event: Event) -> bool:
        if self.closing.is_set():
            return False
        if not _permitted(event, self.principal):
            return True  # not for this token's scopes; the socket stays healthy
        if self.queue.qsize() >= self.limit:
            self.request_close(p.Close.SLOW_CONSUMER, "slow consumer: reconnect with your last cursor")
            return False
        self.queue.put_nowait(event)
        return True


class _Liveness:
    """One task re-checks every open connection's token, once per distinct token per round:
    thousands of idle sockets cost one wake-up per round, not one each."""

    def __init__(self, verifier: TokenVerifier, every: float) -> None:
        self._verifier = verifier
        self._every = every
        self._open: set[_Connection] = set()
        self._task: asyncio.Task[None] | None = None

    def add(self, conn: _Connection) -> None:
        self._open.add(conn)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    def discard(self, conn: _Connection) -> None:
        self._open.discard(conn)

    async def _run(self) -> None:
        while self._open:
            await asyncio.sleep(self._every)
            by_token: dict[Principal, list[_Connection]] = {}
            for conn in self._open:
                by_token.setdefault(conn.principal, []).append(conn)
            for principal, conns in by_token.items():
                try:
                    await self._verifier.check_live(principal)
                except TelexError:
                    for conn in conns:
                        conn.request_close(p.Close.UNAUTHORIZED, "token expired or revoked")
                except Exception:  # the store may be briefly unavailable: check again next round
                    log.exception("token check failed")


class _Closed(Exception):
    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _origin_allowed(ws: WebSocket, allowed: tuple[str, ...]) -> bool:
    origin = ws.headers.get("origin")
    if origin is None or origin in allowed:
        return True
    host = ws.headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}")


def realtime_router(
    verifier: TokenVerifier,
    sources: Sequence[ReplaySource],
    events: EventLog,
    hub: Hub,
    settings: RealtimeSettings,
    clock: Clock,
) -> APIRouter:
    router = APIRouter()
    liveness = _Liveness(verifier, settings.token_check_seconds)

    async def authenticate(token: str) -> Principal:
        try:
            return await verifier.verify(token, _REALTIME_SCOPES)
        except TelexError as exc:
            code = p.Close.FORBIDDEN if exc.code is ErrorCode.FORBIDDEN else p.Close.UNAUTHORIZED
            raise _Closed(code, exc.message) from exc

    async def receive_frame(ws: WebSocket) -> p.AuthFrame | p.PingFrame:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        try:
            return p.parse_client_frame(message.get("text"), settings.max_frame_bytes)
        except p.ProtocolError as exc:
            raise _Closed(exc.code, exc.reason) from exc

    async def first_frame(ws: WebSocket) -> p.AuthFrame:
        try:
            async with asyncio.timeout(settings.auth_timeout_seconds):
                frame = await receive_frame(ws)
        except TimeoutError as exc:
            raise _Closed(p.Close.AUTH_TIMEOUT, "no auth frame") from exc
        if not isinstance(frame, p.AuthFrame):
            raise _Closed(p.Close.BAD_REQUEST, "the first frame must be auth")
        return frame

    async def replay(ws: WebSocket, conn: _Connection, after: int) -> int:
        user = conn.user_id
        while True:
            batch, after, done = await merged_replay(sources, user, after, _REPLAY_BATCH)
            now = clock.now()
            for event in batch:
                if p.deliverable(event, user, now) and _permitted(event, conn.principal):
                    await ws.send_text(p.event_frame(event, user))
            if done:
                return after

    async def writer(ws: WebSocket, conn: _Connection, start: int, replay_from: int | None) -> None:
        delivered = start
        await ws.send_text(p.ready_frame(conn.user_id, start, settings.heartbeat_seconds))
        if replay_from is not None:
            delivered = await replay(ws, conn, replay_from)
        while True:
            try:
                async with asyncio.timeout(settings.heartbeat_seconds):
                    item = await conn.queue.get()
            except TimeoutError:
                await ws.send_text(p.heartbeat_frame(delivered))
                continue
            if item is _PONG:
                await ws.send_text(p.pong_frame())
            elif isinstance(item, Event) and item.position > delivered:
                await ws.send_text(p.event_frame(item, conn.user_id))
                delivered = item.position

    async def reader(ws: WebSocket, conn: _Connection) -> None:
        while True:
            frame = await receive_frame(ws)
            if isinstance(frame, p.PingFrame):
                conn.queue.put_nowait(_PONG)
                continue
            fresh = await authenticate(frame.token)
            if fresh.user_id != conn.user_id:
                raise _Closed(p.Close.UNAUTHORIZED, "a refreshed token must be for the same user")
            conn.principal = fresh

    async def closer(conn: _Connection) -> None:
        # Woken by the hub (slow consumer) or the liveness check (token revoked or expired).
        await conn.closing.wait()
        raise _Closed(conn.close_code, conn.close_reason)

    async def serve(ws: WebSocket) -> None:
        frame = await first_frame(ws)
        if not hub.started.is_set():
            raise _Closed(p.Close.RESTART, "starting; retry")
        principal = await authenticate(frame.token)
        head = await events.head()
        if frame.cursor is not None and frame.cursor > head:
            raise _Closed(p.Close.BAD_REQUEST, "cursor is ahead of the log")
        conn = _Connection(principal, settings.queue_size)
        hub_from = hub.add(conn)
        liveness.add(conn)
        try:
            start = frame.cursor if frame.cursor is not None else hub_from
            tasks = [
                asyncio.create_task(writer(ws, conn, start, frame.cursor)),
                asyncio.create_task(reader(ws, conn)),
                asyncio.create_task(closer(conn)),
            ]
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            for task in done:
                exc = task.exception()
                if exc is not None:
                    raise exc
        finally:
            hub.remove(conn)
            liveness.discard(conn)

    @router.websocket("/realtime")
    async def realtime(ws: WebSocket) -> None:
        if not _origin_allowed(ws, settings.allowed_origins):
            await ws.close(code=p.Close.POLICY)  # before accept: the upgrade is refused (403)
            return
        await ws.accept()
        code, reason = p.Close.NORMAL, ""
        try:
            await serve(ws)
        except _Closed as exc:
            code, reason = exc.code, exc.reason
        except (WebSocketDisconnect, RuntimeError):
            return  # the peer is gone
        with contextlib.suppress(Exception):
            # A peer that never reads may never take the close frame; do not wait for it forever.
            async with asyncio.timeout(1.0):
                if code >= 4000 and reason:
                    await ws.send_text(p.error_frame(str(code), reason))
                await ws.close(code=code, reason=reason[:120])

    return router
