"""Presence on a single node: the hub knows every live connection there is."""

from __future__ import annotations

import asyncio
from collections.abc import Collection

from telex.presence.base import ConnectionDirectory

__all__ = ["LocalPresence"]


class LocalPresence:
    def __init__(self, hub: ConnectionDirectory) -> None:
        self._hub = hub

    async def online(self, users: Collection[str]) -> set[str]:
        return {u for u in users if self._hub.has_connections(u)}

    async def run(self) -> None:
        await asyncio.Event().wait()  # nothing to publish: wait to be cancelled

    async def close(self) -> None:
        return None
