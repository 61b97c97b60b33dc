"""Sliding-window rate limits ("N per T seconds", the way ACS documents its limits).

In memory, per node: on several nodes each enforces the limit on its own share of traffic. Used
by chat (messages, threads, typing), calling (invitations), identity (the management API, and
failed HMAC signatures per source) and the demo (sign-ins, rooms).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from telex.core.clock import Clock
from telex.core.errors import ErrorCode, TelexError

__all__ = ["Limits", "RateLimiter"]

# (count, seconds) pairs: at most ``count`` hits in any ``seconds``; a count of 0 disables one.
Limits = list[tuple[int, float]]


class RateLimiter:
    def __init__(self, clock: Clock, max_keys: int = 100_000) -> None:
        self._clock = clock
        self._hits: dict[tuple[str, str], deque[float]] = {}
        self._max_keys = max_keys

    def hit(self, key: str, limits: Limits) -> None:
        """Count one request under ``key``; raise ``TooManyRequests`` (429, Retry-After) if any
        ``(count, seconds)`` limit would be exceeded (then nothing is counted)."""
        self.hit_all([(key, limits)])

    def hit_all(self, keyed: Iterable[tuple[str, Limits]]) -> None:
        """``hit`` for several keys at once: all are counted, or none (429) if any is over."""
        now = self._clock.monotonic()
        wait = 0.0
        windows: list[deque[float]] = []
        pending: dict[int, int] = {}  # hits this call adds to a window (a key may come twice)
        for key, limits in keyed:
            for count, seconds in limits:
                if count <= 0:
                    continue
                hits = self._window(key, seconds, now)
                if len(hits) + pending.get(id(hits), 0) >= count:
                    wait = max(wait, (hits[0] if hits else now) + seconds - now)
                pending[id(hits)] = pending.get(id(hits), 0) + 1
                windows.append(hits)
        if wait > 0:
            raise TelexError(ErrorCode.TOO_MANY_REQUESTS, "Too many requests; retry later.", retry_after=wait)
        for hits in windows:
            hits.append(now)

    def blocked(self, key: str, limits: Limits) -> float:
        """Seconds until ``key`` may be hit again (0: now), without counting anything."""
        now = self._clock.monotonic()
        wait = 0.0
        for count, seconds in limits:
            hits = self._hits.get((key, str(seconds)))
            if count > 0 and hits is not None:
                while hits and hits[0] <= now - seconds:
                    hits.popleft()
                if len(hits) >= count:
                    wait = max(wait, hits[0] + seconds - now)
        return wait

    def _window(self, key: str, seconds: float, now: float) -> deque[float]:
        hits = self._hits.get((key, str(seconds)))
        if hits is None:
            if len(self._hits) >= self._max_keys:
                self._prune(now)
            hits = self._hits[(key, str(seconds))] = deque()
        while hits and hits[0] <= now - seconds:
            hits.popleft()
        return hits

    def _prune(self, now: float) -> None:
        for k in [k for k, hits in self._hits.items() if not hits or hits[-1] <= now - float(k[1])]:
            del self._hits[k]
