"""The Redis bus: positions and ephemeral events go to other nodes through one pub/sub channel.

    announce(pos) ─► newest pending position ─┐
    broadcast(ev) ─► bounded queue ───────────┴─► sender task ─► PUBLISH "p <node> <pos>" / "e <node> <json>"
    SUBSCRIBE ─► listener task ─► skip our own node's messages ─► on_position / on_ephemeral

Announcements coalesce: only the newest position matters to a node that reads the log from its
own cursor. Redis losing a message (restart, disconnect) only delays delivery until the other
hubs' next poll of the log; an ephemeral event lost that way is gone, as typing may be.

Redis away (at start or later) is an outage, not an error: ``start`` returns at once, a task
connects and reconnects with backoff, and the outage is logged once when it begins and once
when it ends; meanwhile ``up`` is False and the hubs deliver by polling the log.
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
from telex.core.outage import Outage

__all__ = ["CHANNEL", "RedisBus"]

log = logging.getLogger(__name__)

CHANNEL = "telex:events"
_EPHEMERAL_BACKLOG = 1000
# Reconnecting: the first retry soon (a restart), then backing off to a steady pace.
_RETRY_FIRST_SECONDS = 0.5
_RETRY_MAX_SECONDS = 5.0
_CONNECT_TIMEOUT_SECONDS = 2.0


class RedisBus:
    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        self._url = url
        self._channel = channel
        self._node = uuid.uuid4().hex[:12]
        self._on_position: list[PositionListener] = []
        self._on_ephemeral: list[EphemeralListener] = []
        self._task: asyncio.Task[None] | None = None
        self._connected = False
        self._pending_position = 0
        self._ephemeral: deque[str] = deque(maxlen=_EPHEMERAL_BACKLOG)
        self._wake = asyncio.Event()
        self.outage = Outage("bus (Redis)", log)

    def subscribe(self, on_position: PositionListener, on_ephemeral: EphemeralListener | None = None) -> None:
        self._on_position.append(on_position)
        if on_ephemeral is not None:
            self._on_ephemeral.append(on_ephemeral)

    def announce(self, position: int) -> None:
        if position > self._pending_position:
            self._pending_position = position
            self._wake.set()

    def broadcast(self, event: dict[str, Any]) -> None:
        if self._connected:  # typing from before an outage is stale once it ends: drop it
            self._ephemeral.append(json.dumps(event, separators=(",", ":")))
            self._wake.set()

    @property
    def up(self) -> bool:
        return self._connected

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        """Connect, serve until the connection fails, wait, connect again: for the life of the bus.
        Each outage is logged once when it begins and once when it ends (``Outage``)."""
        backoff = _RETRY_FIRST_SECONDS
        while True:
            client = aioredis.from_url(self._url, socket_connect_timeout=_CONNECT_TIMEOUT_SECONDS)
            pubsub: PubSub | None = None
            try:
                await client.ping()
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                await pubsub.subscribe(self._channel)
                self._connected = True
                self.outage.succeeded()
                backoff = _RETRY_FIRST_SECONDS
                self._wake.set()  # positions announced while away go out now
                await self._serve(client, pubsub)
            except (RedisError, OSError) as exc:
                self.outage.failed(
                    f"{type(exc).__name__}: {exc}", "other nodes' events arrive by polling the log"
                )
            finally:
                self._connected = False
                self._ephemeral.clear()
                with contextlib.suppress(RedisError, OSError):
                    if pubsub is not None:
                        await pubsub.aclose()
                    await client.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _RETRY_MAX_SECONDS)

    async def _serve(self, client: aioredis.Redis, pubsub: PubSub) -> None:
        """Until the listener or the sender fails: its exception."""
        tasks = [asyncio.create_task(self._listen(pubsub)), asyncio.create_task(self._send(client))]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, RedisError, OSError):
                    await task
        for task in done:
            exc = task.exception()
            if exc is not None:
                raise exc

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
            for message in messages:
                await client.publish(self._channel, message)

    async def _listen(self, pubsub: PubSub) -> None:
        # get_message with a timeout rather than listen(): cancelling listen() can hang redis-py.
        while True:
            message = await pubsub.get_message(timeout=1.0)
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
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                async with asyncio.timeout(2):
                    await self._task
            self._task = None
        self._on_position.clear()
        self._on_ephemeral.clear()
