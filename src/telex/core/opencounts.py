"""Open things (sockets) counted per key (a client address, a user), under a cap per key.

    acquire(key) ─► held < cap? count it, True : False      release(key) ─► count down, forget at 0

Keys with nothing open are forgotten, so the table is as large as what is open now.
"""

from __future__ import annotations

__all__ = ["OpenCounts"]


class OpenCounts:
    def __init__(self, cap: int) -> None:
        """``cap``: at most this many open per key; 0 means no cap (still counted)."""
        self._cap = cap
        self._held: dict[str, int] = {}

    def acquire(self, key: str) -> bool:
        held = self._held.get(key, 0)
        if self._cap and held >= self._cap:
            return False
        self._held[key] = held + 1
        return True

    def release(self, key: str) -> None:
        left = self._held.get(key, 1) - 1
        if left > 0:
            self._held[key] = left
        else:
            self._held.pop(key, None)

    def __len__(self) -> int:
        return len(self._held)
