"""The Redis bus: announcements go to this node's listeners at once and to other nodes through
one Redis pub/sub channel. Redis losing a message (restart, disconnect) only delays delivery
until the hub's next poll of the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
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
        self._pubsub: PubSub | None = None
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
        if self._client is not None:
            return
        client = aioredis.from_url(self._url)
        try:
            await client.ping()  # fail start (the hub retries) while Redis is unreachable
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            await pubsub.subscribe(self._channel)
        except BaseException:
            await client.aclose()
            raise
        self._client, self._pubsub = client, pubsub
        self._task = asyncio.create_task(self._listen(pubsub))

    async def _listen(self, pubsub: PubSub) -> None:
        # get_message with a timeout rather than listen(): cancelling listen() can hang redis-py.
        while True:
            try:
                message = await pubsub.get_message(timeout=1.0)
            except (RedisError, OSError) as exc:
                log.warning("bus subscription lost, resubscribing: %s", exc)
                await asyncio.sleep(0.5)
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.subscribe(self._channel)
                continue
            if message is not None and message.get("type") == "message":
                with contextlib.suppress(ValueError):
                    self._announce(int(message["data"]))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                async with asyncio.timeout(2):
                    await self._task
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.aclose()
        if self._client is not None:
            await self._client.aclose()
        self._listeners.clear()
