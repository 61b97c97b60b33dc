"""The bus contract shared by the in-process and Redis implementations.

The bus carries what one node did to the *other* nodes: positions the log has grown to (a
doorbell: they read the events from the log themselves) and ephemeral events (typing), which
have no place in the log. A node's own committed and ephemeral events reach its own hub
directly from the event backbone, never through the bus. Both sends are fire-and-forget: they
never block the request that caused them and never raise; losing an announcement costs other
nodes latency (they poll the log), losing an ephemeral event costs a typing indicator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["Bus", "EphemeralListener", "PositionListener"]

PositionListener = Callable[[int], None]
EphemeralListener = Callable[[dict[str, Any]], None]


class Bus(Protocol):
    def subscribe(self, on_position: PositionListener, on_ephemeral: EphemeralListener | None = None) -> None:
        """Call ``on_position(position)`` / ``on_ephemeral(event)`` (on the event loop) for what
        other nodes send."""

    def announce(self, position: int) -> None:
        """Tell other nodes the log has grown to ``position``."""

    def broadcast(self, event: dict[str, Any]) -> None:
        """Hand an ephemeral event (JSON-ready) to other nodes."""

    @property
    def up(self) -> bool:
        """Whether announcements currently reach other nodes (False: they poll the log)."""

    async def start(self) -> None:
        """Begin connecting; returns without waiting for a bus that is away (it keeps trying)."""

    async def close(self) -> None: ...
