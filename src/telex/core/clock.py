"""Time as an injected dependency.

Everything that needs "now" takes a ``Clock``. Production uses ``SystemClock``; tests use
``FakeClock`` and move time by hand, so nothing waits in real time to observe an expiry.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["Clock", "FakeClock", "SystemClock", "iso_time"]


class Clock(Protocol):
    def now(self) -> float:
        """Wall-clock seconds since the epoch (for timestamps that leave the process)."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin that never goes back (for timeouts and caches)."""

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class FakeClock:
    """A clock that moves only when ``advance`` is called."""

    def __init__(self, start: float | None = None) -> None:
        self._now = start if start is not None else datetime(2026, 1, 1, tzinfo=UTC).timestamp()
        self._mono = 1000.0

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now += seconds
        self._mono += seconds

    async def sleep(self, seconds: float) -> None:
        self.advance(seconds)
        await asyncio.sleep(0)


def iso_time(ts: float) -> str:
    """``2026-01-01T00:00:00.123Z``: how ACS writes times on the wire."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
