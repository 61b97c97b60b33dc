"""The in-process bus: announcements go straight to this node's listeners."""

from __future__ import annotations

from telex.bus.base import Listener

__all__ = ["LocalBus"]


class LocalBus:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def publish(self, position: int) -> None:
        for listener in self._listeners:
            listener(position)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._listeners.clear()
