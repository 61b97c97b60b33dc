"""Sliding-window rate limits (ACS documents "N per T seconds" limits; acs-wire.md §4).

In memory, per node: on several nodes each enforces the limit on its own share of traffic.
"""

from __future__ import annotations

from collections import deque

from telex.core.clock import Clock
from telex.core.errors import ErrorCode, TelexError

__all__ = ["RateLimiter"]


class RateLimiter:
    def __init__(self, clock: Clock, max_keys: int = 100_000) -> None:
        self._clock = clock
        self._hits: dict[tuple[str, str], deque[float]] = {}
        self._max_keys = max_keys

    def hit(self, key: str, limits: list[tuple[int, float]]) -> None:
        """Count one request under ``key``; raise ``TooManyRequests`` (429, Retry-After) if any
        ``(count, seconds)`` limit would be exceeded. A count of 0 disables that limit."""
        now = self._clock.monotonic()
        wait = 0.0
        windows = []
        for count, seconds in limits:
            if count <= 0:
                continue
            hits = self._hits.get((key, str(seconds)))
            if hits is None:
                if len(self._hits) >= self._max_keys:
                    self._prune(now)
                hits = self._hits[(key, str(seconds))] = deque()
            while hits and hits[0] <= now - seconds:
                hits.popleft()
            if len(hits) >= count:
                wait = max(wait, hits[0] + seconds - now)
            windows.append(hits)
        if wait > 0:
            raise TelexError(ErrorCode.TOO_MANY_REQUESTS, "Too many requests; retry later.", retry_after=wait)
        for hits in windows:
            hits.append(now)

    def _prune(self, now: float) -> None:
        for k in [k for k, hits in self._hits.items() if not hits or hits[-1] <= now - float(k[1])]:
            del self._hits[k]
