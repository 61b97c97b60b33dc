"""Chat's rate limits (acs-wire.md §4) use the shared sliding-window limiter."""

from __future__ import annotations

from telex.core.ratelimit import RateLimiter

__all__ = ["RateLimiter"]
