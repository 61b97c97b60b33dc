"""``RealtimeClient``: the realtime gateway as an async iterator of events that survives
disconnects by resuming from its last cursor.

    async with RealtimeClient("https://host:8443", token, ssl=ctx) as client:
        async for event in client:          # event.type: ACS event name, event.data: dict
            ...

    connect ─► auth(token, cursor) ─► ready ─► events ... ─┐
        ▲  resumable close (1001/1006/1011/1012/4008),       │
        └──── lost socket, silent server (3 heartbeats) ◄────┘   backoff 0.1 s → 5 s
    4001 (token) with a token provider: ask it for a new token and reconnect; otherwise raise.
    A frame it cannot take never stops it or makes it loop: a "skipped" frame (an event the
    server would not send whole, docs/realtime.md) or a malformed one is passed over, logged and
    kept in ``skipped``; a frame larger than ``max_size`` (only a server with a larger
    realtime.max_event_bytes sends one) ends the client with ``RealtimeError(1009)`` rather than
    reconnecting to the same frame for ever.

Several endpoints (the nodes of one deployment): the client stays on one while it works; when
its session ends or it cannot connect, it resumes on the next with its cursor at once (a node
that is draining closes with 1012), and backs off only after every endpoint has failed in turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl as ssl_module
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

__all__ = ["RealtimeClient", "RealtimeError", "RealtimeEvent", "SkippedEvent"]

log = logging.getLogger(__name__)

TokenSource = str | Callable[[], Awaitable[str]]

_RESUMABLE = frozenset({1001, 1006, 1011, 1012, 1013, 4008})
_UNAUTHORIZED = 4001
_TOO_BIG = 1009
# The largest frame the client takes: the server's realtime.max_event_bytes may not exceed it.
MAX_FRAME_BYTES = 4 << 20
_SKIPPED_KEPT = 100


@dataclass(frozen=True, slots=True)
class RealtimeEvent:
    type: str
    data: dict[str, Any]
    cursor: str


@dataclass(frozen=True, slots=True)
class SkippedEvent:
    """An event the client passed over: ``type`` and ``cursor`` as far as known, ``reason``
    ("tooLarge": the server sent a reference, ``ref``, instead of the event; "malformed"), and
    ``ref``: the ids to fetch it by (``threadId``, ``messageId``, ``callId``)."""

    type: str
    cursor: str | None
    reason: str
    size: int = 0
    ref: dict[str, str] | None = None


class RealtimeError(Exception):
    """The gateway refused the connection for good (bad token, scope or request)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"realtime connection closed ({code}): {reason}")
        self.code = code
        self.reason = reason


def _ws_url(endpoint: str) -> str:
    base = endpoint.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base[len("https://") :] + "/realtime"
    if base.startswith("http://"):
        return "ws://" + base[len("http://") :] + "/realtime"
    return base + "/realtime"


class RealtimeClient:
    def __init__(
        self,
        endpoint: str | Sequence[str],
        token: TokenSource,
        *,
        cursor: str | None = None,
        ssl: ssl_module.SSLContext | None = None,
        origin: str | None = None,
        max_backoff: float = 5.0,
        buffer: int = 10_000,
    ) -> None:
        endpoints = [endpoint] if isinstance(endpoint, str) else list(endpoint)
        if not endpoints:
            raise ValueError("RealtimeClient needs at least one endpoint")
        self._urls = [_ws_url(e) for e in endpoints]
        self._endpoints = endpoints
        self._current = 0
        self._token = token
        self._ssl = ssl
        self._origin = origin
        self._max_backoff = max_backoff
        self._queue: asyncio.Queue[RealtimeEvent | BaseException] = asyncio.Queue(buffer)
        self._task: asyncio.Task[None] | None = None
        self._ws: ClientConnection | None = None
        self.cursor = cursor
        self.connected = asyncio.Event()
        self.connects = 0  # successful connections so far (1 + number of resumptions)
        self.skipped: list[SkippedEvent] = []  # the last few events passed over (see the docstring)

    async def __aenter__(self) -> RealtimeClient:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def __aiter__(self) -> RealtimeClient:
        return self

    async def __anext__(self) -> RealtimeEvent:
        item = await self._queue.get()
        if isinstance(item, BaseException):
            self._queue.put_nowait(item)  # stay failed for later calls too
            raise item
        return item

    @property
    def endpoint(self) -> str:
        """The endpoint the client is using (or will try next)."""
        return self._endpoints[self._current]

    async def wait_connected(self) -> None:
        """Until the gateway has answered ``ready`` (callers bound it with ``asyncio.timeout``)."""
        await self.connected.wait()

    def drop_connection(self) -> None:
        """Abort the current socket without a closing handshake (for tests of resumption)."""
        if self._ws is not None and self._ws.transport is not None:
            self._ws.transport.abort()

    async def _token_now(self) -> str:
        return self._token if isinstance(self._token, str) else await self._token()

    async def _run(self) -> None:
        backoff = 0.1
        failed = 0  # endpoints tried in a row without a session getting through
        try:
            while True:
                connects = self.connects
                try:
                    await self._session()
                except RealtimeError as exc:
                    if exc.code != _UNAUTHORIZED or isinstance(self._token, str):
                        raise
                    # a token provider gives a fresh token on the next connect
                except (OSError, InvalidHandshake, TimeoutError, ConnectionClosed) as exc:
                    if isinstance(exc, InvalidStatus) and exc.response.status_code in (401, 403):
                        raise RealtimeError(exc.response.status_code, "refused") from exc
                finally:
                    self.connected.clear()
                    self._ws = None
                if self.connects > connects:
                    backoff, failed = 0.1, 0  # that session got through: back off afresh
                failed += 1
                self._current = (self._current + 1) % len(self._urls)
                if failed % len(self._urls) == 0:  # every endpoint had its turn: wait a little
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self._max_backoff)
        except RealtimeError as exc:
            await self._queue.put(exc)

    async def _session(self) -> None:
        headers = {"Origin": self._origin} if self._origin else None
        async with connect(
            self._urls[self._current],
            ssl=self._ssl,
            additional_headers=headers,
            max_size=MAX_FRAME_BYTES,
            open_timeout=10,
        ) as ws:
            self._ws = ws
            await ws.send(
                json.dumps({"type": "auth", "token": await self._token_now(), "cursor": self.cursor})
            )
            idle = 45.0
            try:
                while True:
                    async with asyncio.timeout(idle):
                        text = await ws.recv()
                    frame = self._parse(text)
                    if frame is None:
                        continue
                    kind = frame.get("type")
                    if kind == "event":
                        event = RealtimeEvent(frame["event"], frame["data"], frame["cursor"])
                        await self._queue.put(event)
                        self.cursor = event.cursor
                    elif kind == "skipped":
                        ref, size = frame.get("ref"), frame.get("bytes")
                        self._skip(
                            SkippedEvent(
                                str(frame.get("event")),
                                str(frame["cursor"]),
                                "tooLarge",
                                int(size) if isinstance(size, int) else 0,
                                dict(ref) if isinstance(ref, dict) else None,
                            )
                        )
                        self.cursor = frame["cursor"]
                    elif kind == "ready":
                        idle = 3 * float(frame.get("heartbeatSeconds", 15))
                        if self.cursor is None:
                            self.cursor = frame["cursor"]
                        self.connects += 1
                        self.connected.set()
            except ConnectionClosed as exc:
                if exc.sent is not None and exc.sent.code == _TOO_BIG:
                    # Reconnecting would only bring the same frame back, for ever.
                    raise RealtimeError(_TOO_BIG, "an event larger than this client takes") from exc
                code = exc.rcvd.code if exc.rcvd is not None else 1006
                reason = exc.rcvd.reason if exc.rcvd is not None else ""
                if code in _RESUMABLE or code == 1000:
                    raise
                raise RealtimeError(code, reason) from exc

    def _parse(self, text: str | bytes) -> dict[str, Any] | None:
        """A frame as a dict, or None (reported) for one this client cannot read."""
        try:
            frame = json.loads(text)
            if not isinstance(frame, dict):
                raise TypeError("not an object")
            if frame.get("type") == "event" and not (
                isinstance(frame.get("event"), str)
                and isinstance(frame.get("data"), dict)
                and isinstance(frame.get("cursor"), str)
            ):
                raise TypeError("an event frame without event, data and cursor")
            if frame.get("type") == "skipped" and not isinstance(frame.get("cursor"), str):
                raise TypeError("a skipped frame without a cursor")
        except (ValueError, TypeError, UnicodeDecodeError) as exc:
            self._skip(SkippedEvent("", None, "malformed"), str(exc))
            return None
        return frame

    def _skip(self, skipped: SkippedEvent, why: str = "") -> None:
        log.warning(
            "realtime: passed over %s event %s at cursor %s %s",
            skipped.reason, skipped.type or "?", skipped.cursor, why or skipped.ref or "",
        )  # fmt: skip
        self.skipped.append(skipped)
        del self.skipped[:-_SKIPPED_KEPT]
