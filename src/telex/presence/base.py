"""The presence contract shared by the local and Redis implementations."""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

__all__ = ["ConnectionDirectory", "Presence"]


class ConnectionDirectory(Protocol):
    """What presence needs from this node's realtime hub."""

    def has_connections(self, user: str) -> bool: ...

    def connected_users(self) -> list[str]: ...


class Presence(Protocol):
    async def online(self, users: Collection[str]) -> set[str]:
        """Which of ``users`` have a live connection on some node right now."""

    async def run(self) -> None:
        """Keep this node's part of presence published (until cancelled)."""

    async def close(self) -> None: ...
