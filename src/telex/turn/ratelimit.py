"""Per-source token buckets for error responses (security.md §1.2 "Reflection / amplification").

An unauthenticated request with a spoofed source makes the server send a 401 to a victim; capping
error responses per source IP bounds what one victim can receive. Pure: time is an argument.
"""

from __future__ import annotations

__all__ = ["SourceLimiter"]


class SourceLimiter:
    """Allows ``rate`` events per second per key, with bursts up to ``burst``."""

    def __init__(self, rate: float, burst: float, max_keys: int = 65536) -> None:
        self._rate = rate
        self._burst = burst
        self._max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last update)

    def allow(self, key: str, now: float) -> bool:
        tokens, last = self._buckets.get(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return False
        if key not in self._buckets and len(self._buckets) >= self._max_keys:
            self.purge(now)
            if len(self._buckets) >= self._max_keys:
                # Under a flood from many sources, refuse rather than grow without bound.
                return False
        self._buckets[key] = (tokens - 1.0, now)
        return True

    def purge(self, now: float) -> None:
        """Forget sources whose buckets have refilled (they behave exactly like new ones)."""
        full_after = self._burst / self._rate if self._rate > 0 else float("inf")
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < full_after}

    def __len__(self) -> int:
        return len(self._buckets)
