"""The Redis bus: announcements go to this node's listeners at once and to other nodes through
one Redis pub/sub channel. Redis losing a message (restart, disconnect) only delays delivery
until the hub's next poll of the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from telex.bus.base import Listener

__all__ = ["CHANNEL", "RedisBus"]

log = logging.getLogger(__name__)

CHANNEL = "telex:events"


class RedisBus:
    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        self._url = url
        self._channel = channel
        self._listeners: list[Listener] = []
        self._client: aioredis.Redis | None = None
        self._task: asyncio.Task[None] | None = None

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _announce(self, position: int) -> None:
        for listener in self._listeners:
            listener(position)

    async def publish(self, position: int) -> None:
        self._announce(position)
        if self._client is None:
            return
        try:
            await self._client.publish(self._channel, str(position))
        except (RedisError, OSError) as exc:
            log.warning("bus publish failed (other nodes will poll): %s", exc)

    async def start(self) -> None:
        if self._client is None:
            self._client = aioredis.from_url(self._url)
            await self._client.ping()  # fail start (and retry) while Redis is unreachable
            self._task = asyncio.create_task(self._listen())

    async def _listen(self) -> None:
        assert self._client is not None
        while True:
            try:
                async with self._client.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            with contextlib.suppress(ValueError):
                                self._announce(int(message["data"]))
            except (RedisError, OSError) as exc:
                log.warning("bus subscription lost, resubscribing: %s", exc)
                await asyncio.sleep(0.5)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._client is not None:
            await self._client.aclose()
        self._listeners.clear()
