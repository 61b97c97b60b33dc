"""The bus contract shared by the in-process and Redis implementations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

__all__ = ["Bus", "Listener"]

Listener = Callable[[int], None]


class Bus(Protocol):
    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(position)`` (on the event loop) for every announced position."""

    async def publish(self, position: int) -> None:
        """Announce that the log has grown to ``position``. Never raises: losing one is allowed."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...
