"""Presence across nodes in Redis: TTL keys each node refreshes for the users connected to it.

    every refresh_seconds: this node's connected users (from its hub)
        ZADD telex:presence:<user> <now + ttl> <node>    one member per node holding a connection
        EXPIRE telex:presence:<user> <ttl>               a user nobody refreshes disappears
        ZREM  telex:presence:<user> <node>               users that left this node since last time
    online(users): this node's hub for itself, and for the others
        ZRANGEBYSCORE telex:presence:<user> <now> +inf   members not yet expired, this node's excluded

A node that dies stops refreshing: its members expire after ``ttl`` (three refreshes). A user who
disconnects from another node still counts as online until that node's next refresh, so a push
may be withheld for up to ``refresh_seconds``; one who connects there may get one push too many.
Redis errors make other nodes' users look offline (an extra push), never hide a push.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections.abc import Collection

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from telex.core.outage import Outage
from telex.presence.base import ConnectionDirectory

__all__ = ["KEY_PREFIX", "RedisPresence"]

log = logging.getLogger(__name__)

KEY_PREFIX = "telex:presence:"


class RedisPresence:
    def __init__(
        self, url: str, hub: ConnectionDirectory, refresh_seconds: float, *, node: str | None = None
    ) -> None:
        self._url = url
        self._hub = hub
        self._refresh = refresh_seconds
        self._ttl = 3 * refresh_seconds
        self.node = node or uuid.uuid4().hex[:12]
        self._client: aioredis.Redis | None = None
        self._published: set[str] = set()
        self.outage = Outage("presence (Redis)", log)  # one line per outage, not one per refresh

    def _redis(self) -> aioredis.Redis:
        if self._client is None:
            self._client = aioredis.from_url(self._url)
        return self._client

    async def publish(self) -> None:
        """Refresh this node's members (and drop those of users no longer connected here)."""
        users = set(self._hub.connected_users())
        expires = time.time() + self._ttl
        pipe = self._redis().pipeline(transaction=False)
        for user in users:
            pipe.zadd(KEY_PREFIX + user, {self.node: expires})
            pipe.expire(KEY_PREFIX + user, math.ceil(self._ttl) + 1)
        for user in self._published - users:
            pipe.zrem(KEY_PREFIX + user, self.node)
        await pipe.execute()
        self._published = users

    async def run(self) -> None:
        while True:
            try:
                await self.publish()
                self.outage.succeeded()
            except (RedisError, OSError) as exc:
                self.outage.failed(f"{type(exc).__name__}: {exc}", "other nodes' users count as offline")
            await asyncio.sleep(self._refresh)

    async def online(self, users: Collection[str]) -> set[str]:
        out = {u for u in users if self._hub.has_connections(u)}
        others = [u for u in users if u not in out]
        if not others:
            return out
        pipe = self._redis().pipeline(transaction=False)
        now = time.time()
        for user in others:
            pipe.zrangebyscore(KEY_PREFIX + user, now, "+inf")
        try:
            answers = await pipe.execute()
        except (RedisError, OSError) as exc:
            self.outage.failed(f"{type(exc).__name__}: {exc}", "other nodes' users count as offline")
            return out
        mine = self.node.encode()
        for user, members in zip(others, answers, strict=True):
            if any(m != mine for m in members):
                out.add(user)
        return out

    async def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(RedisError, OSError):
                if self._published:
                    pipe = self._client.pipeline(transaction=False)
                    for user in self._published:
                        pipe.zrem(KEY_PREFIX + user, self.node)
                    await pipe.execute()
            await self._client.aclose()
            self._client = None
