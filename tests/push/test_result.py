"""The shared pieces: backoff for retries without a Retry-After, and the token cache."""

from __future__ import annotations

import asyncio

import pytest

from telex.core.clock import FakeClock
from telex.push import backoff
from telex.push.tokens import TokenCache


def test_backoff_doubles_to_the_cap() -> None:
    assert [backoff(n) for n in range(1, 11)] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]
    assert backoff(10**6) == 300
    assert backoff(3, jitter_sample=0.0) == 2 and backoff(3, jitter_sample=0.999) == pytest.approx(5.996)
    with pytest.raises(ValueError, match="from 1"):
        backoff(0)


async def test_token_cache_fetches_once_and_early(clock: FakeClock) -> None:
    fetched: list[int] = []

    async def fetch() -> tuple[str, float]:
        fetched.append(1)
        await asyncio.sleep(0)
        return f"t{len(fetched)}", 3600.0

    cache = TokenCache(fetch, clock, margin=300)
    assert set(await asyncio.gather(*(cache.get() for _ in range(10)))) == {"t1"}
    clock.advance(3299)
    assert await cache.get() == "t1"
    clock.advance(1)
    assert await cache.get() == "t2"
    cache.invalidate("t1")  # not the current one: ignored
    assert await cache.get() == "t2"
    cache.invalidate("t2")
    assert await cache.get() == "t3" and cache.fetches == 3


async def test_short_lived_tokens_are_still_used(clock: FakeClock) -> None:
    async def fetch() -> tuple[str, float]:
        return "short", 60.0

    cache = TokenCache(fetch, clock, margin=300)
    await cache.get()
    clock.advance(29)
    await cache.get()
    assert cache.fetches == 1
