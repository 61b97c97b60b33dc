"""The Redis bus: positions and ephemeral events go to other nodes through one pub/sub channel.

    announce(pos) ─► newest pending position ─┐
    broadcast(ev) ─► bounded queue ───────────┴─► sender task ─► PUBLISH "p <node> <pos>" / "e <node> <json>"
    SUBSCRIBE ─► listener task ─► skip our own node's messages ─► on_position / on_ephemeral

Announcements coalesce: only the newest position matters to a node that reads the log from its
own cursor. Redis losing a message (restart, disconnect) only delays delivery until the other
hubs' next poll of the log; an ephemeral event lost that way is gone, as typing may be.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import deque
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from telex.bus.base import EphemeralListener, PositionListener

__all__ = ["CHANNEL", "RedisBus"]

log = logging.getLogger(__name__)

CHANNEL = "telex:events"
_EPHEMERAL_BACKLOG = 1000


class RedisBus:
    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        self._url = url
        self._channel = channel
        self._node = uuid.uuid4().hex[:12]
        self._on_position: list[PositionListener] = []
        self._on_ephemeral: list[EphemeralListener] = []
        self._client: aioredis.Redis | None = None
        self._pubsub: PubSub | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._pending_position = 0
        self._ephemeral: deque[str] = deque(maxlen=_EPHEMERAL_BACKLOG)
        self._wake = asyncio.Event()

    def subscribe(self, on_position: PositionListener, on_ephemeral: EphemeralListener | None = None) -> None:
        self._on_position.append(on_position)
        if on_ephemeral is not None:
            self._on_ephemeral.append(on_ephemeral)

    def announce(self, position: int) -> None:
        if position > self._pending_position:
            self._pending_position = position
            self._wake.set()

    def broadcast(self, event: dict[str, Any]) -> None:
        self._ephemeral.append(json.dumps(event, separators=(",", ":")))
        self._wake.set()

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
        self._tasks = [asyncio.create_task(self._listen(pubsub)), asyncio.create_task(self._send(client))]

    async def _send(self, client: aioredis.Redis) -> None:
        sent = 0
        while True:
            await self._wake.wait()
            self._wake.clear()
            messages = [f"e {self._node} {body}" for body in self._ephemeral]
            self._ephemeral.clear()
            if self._pending_position > sent:
                sent = self._pending_position
                messages.append(f"p {self._node} {sent}")
            try:
                for message in messages:
                    await client.publish(self._channel, message)
            except (RedisError, OSError) as exc:
                log.warning("bus publish failed (other nodes will poll): %s", exc)

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
                self._deliver(message["data"])

    def _deliver(self, data: bytes) -> None:
        parts = data.decode(errors="replace").split(" ", 2)
        if len(parts) != 3:
            log.warning("ignoring a malformed bus message")
            return
        kind, node, body = parts
        if node == self._node:
            return  # our own: this node's hub already has it
        try:
            if kind == "p":
                position = int(body)
                for on_position in self._on_position:
                    on_position(position)
            elif kind == "e":
                event = json.loads(body)
                for on_ephemeral in self._on_ephemeral:
                    on_ephemeral(event)
        except ValueError:
            log.warning("ignoring a malformed bus message")

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                async with asyncio.timeout(2):
                    await task
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.aclose()
        if self._client is not None:
            await self._client.aclose()
        self._on_position.clear()
        self._on_ephemeral.clear()
