"""Messages per minute per sending number (ACS service limits, acs-wire.md §4), in memory, per node.

A sliding window of the last 60 seconds: a request for ``n`` messages passes if the number sent
fewer than ``limit - n + 1`` in the window, and is refused whole otherwise (429 with the wait
until enough of the window has passed), so a batch never goes out half.
"""

from __future__ import annotations

from collections import deque

from telex.core.clock import Clock
from telex.core.errors import ErrorCode, TelexError

__all__ = ["SendRate"]

WINDOW = 60.0


class SendRate:
    def __init__(self, clock: Clock, max_keys: int = 100_000) -> None:
        self._clock = clock
        self._sent: dict[str, deque[tuple[float, int]]] = {}
        self._totals: dict[str, int] = {}
        self._max_keys = max_keys

    def take(self, key: str, n: int, limit: int) -> None:
        """Count ``n`` messages of ``key``; ``TooManyRequests`` (nothing counted) if over ``limit``
        per minute. A limit of 0 is no limit."""
        if limit <= 0 or n <= 0:
            return
        now = self._clock.monotonic()
        window = self._sent.get(key)
        if window is None:
            if len(self._sent) >= self._max_keys:
                self._prune(now)
            window = self._sent[key] = deque()
            self._totals[key] = 0
        while window and window[0][0] <= now - WINDOW:
            self._totals[key] -= window.popleft()[1]
        if n > limit:
            raise TelexError(
                ErrorCode.TOO_MANY_REQUESTS,
                f"At most {limit} messages a minute may be sent from this number.",
            )
        if self._totals[key] + n > limit:
            # Wait until enough of the window has expired for n more.
            excess, wait = self._totals[key] + n - limit, WINDOW
            for at, count in window:
                excess -= count
                if excess <= 0:
                    wait = at + WINDOW - now
                    break
            raise TelexError(
                ErrorCode.TOO_MANY_REQUESTS,
                "Too many messages from this number; retry later.",
                retry_after=wait,
            )
        window.append((now, n))
        self._totals[key] += n

    def _prune(self, now: float) -> None:
        for key in [k for k, w in self._sent.items() if not w or w[-1][0] <= now - WINDOW]:
            del self._sent[key]
            del self._totals[key]
