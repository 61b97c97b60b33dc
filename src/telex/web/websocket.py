"""The server's WebSocket protocol: uvicorn's websockets-sansio one, minus what an idle socket
need not hold.

An idle ``/realtime`` connection is mostly the server's own per-connection state
(bench/realtime.py measures it): uvicorn keeps the upgrade request and the handshake response
for the life of the connection though nothing reads them after the handshake, and gives every
connection an ``asyncio.Queue`` and an ``asyncio.Event``, which allocate three and one empty
``deque``s of about 600 bytes each up front. This subclass drops the handshake objects once the
handshake is sent and uses a queue and an event that allocate nothing until they are waited on.
When the connection ends it releases its place in the node's connection count
(``web/protocol.py`` counts the connection from its first byte of HTTP, through the upgrade).
Everything else is uvicorn's; ``tests/realtime`` runs every realtime test through it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

__all__ = ["TelexWebSocketProtocol"]


class _LightQueue:
    """What uvicorn asks of its receive queue (``put_nowait``, ``get``, ``empty``), one reader."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def get(self) -> Any:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)


class _LightEvent:
    """``asyncio.Event``'s interface, with waiters allocated only when someone waits."""

    __slots__ = ("_value", "_waiters")

    def __init__(self) -> None:
        self._value = False
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._value

    def set(self) -> None:
        self._value = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._value = False

    async def wait(self) -> bool:
        if self._value:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        await waiter
        return True


class TelexWebSocketProtocol(WebSocketsSansIOProtocol):
    # Set by the HTTP protocol that upgraded to this one: frees the connection's place in the count.
    telex_release: Callable[[], None] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = _LightQueue()  # type: ignore[assignment]
        self.writable = _LightEvent()  # type: ignore[assignment]
        self.writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        release, self.telex_release = self.telex_release, None
        if release is not None:
            release()
        super().connection_lost(exc)

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            self.request = None  # type: ignore[assignment]
            self.response = None  # type: ignore[assignment]
