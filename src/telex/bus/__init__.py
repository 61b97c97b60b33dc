"""Pub/sub between nodes. The bus only announces new log positions ("doorbell"); nodes read the
events themselves from the log, so a lost announcement costs latency, never data."""

from telex.bus.base import Bus
from telex.bus.local import LocalBus

__all__ = ["Bus", "LocalBus", "open_bus"]


def open_bus(url: str) -> Bus:
    """The bus named by ``url``: empty for in-process, ``redis://…`` for Redis."""
    if not url:
        return LocalBus()
    if url.startswith(("redis://", "rediss://", "unix://")):
        from telex.bus.redis import RedisBus

        return RedisBus(url)
    raise ValueError(f"unsupported bus URL {url!r}: use redis://…")
