"""An access token cached until shortly before it expires, fetched once however many ask.

FCM (OAuth 2.0 JWT-bearer grant) and WNS (client credentials) both hand out bearer tokens with
an ``expires_in``; asking for a new one per message would be slow and rate-limited. The cache
refreshes ``margin`` seconds early so a token never expires in flight, and a lock makes
concurrent senders share one fetch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from telex.core.clock import Clock

__all__ = ["TokenCache"]

Fetch = Callable[[], Awaitable[tuple[str, float]]]


class TokenCache:
    def __init__(self, fetch: Fetch, clock: Clock, *, margin: float = 300.0) -> None:
        """``fetch`` returns ``(token, expires_in seconds)``."""
        self._fetch = fetch
        self._clock = clock
        self._margin = margin
        self._token: str | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def get(self) -> str:
        if self._token is not None and self._clock.monotonic() < self._refresh_at:
            return self._token
        async with self._lock:
            if self._token is None or self._clock.monotonic() >= self._refresh_at:
                token, expires_in = await self._fetch()
                self.fetches += 1
                self._token = token
                # A token valid for less than the margin is still used once rather than never.
                self._refresh_at = self._clock.monotonic() + max(expires_in - self._margin, expires_in / 2)
            return self._token

    def invalidate(self, token: str) -> None:
        """The provider refused ``token`` (401): the next ``get`` fetches a new one."""
        if self._token == token:
            self._token = None
