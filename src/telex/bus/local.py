"""The in-process bus of a single node: there are no other nodes to tell."""

from __future__ import annotations

from typing import Any

from telex.bus.base import EphemeralListener, PositionListener

__all__ = ["LocalBus"]


class LocalBus:
    def subscribe(self, on_position: PositionListener, on_ephemeral: EphemeralListener | None = None) -> None:
        return None

    def announce(self, position: int) -> None:
        return None

    def broadcast(self, event: dict[str, Any]) -> None:
        return None

    @property
    def up(self) -> bool:
        return True

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None
