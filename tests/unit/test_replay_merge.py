"""Replay merges pages of several sources (chat, calls) by position: over all rounds, every
event exactly once, in order, whatever the page size and however the events are spread."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from telex.events.log import Event
from telex.realtime.gateway import merged_replay


class _Source:
    def __init__(self, positions: list[int]) -> None:
        self.events = [Event(p, "s", "t", None, 0.0, {}) for p in sorted(positions)]

    async def visible_events(self, user: str, after: int, limit: int) -> list[Event]:
        return [e for e in self.events if e.position > after][:limit]


async def _replay_all(sources: list[_Source], batch: int) -> list[int]:
    after, out = 0, []
    for _ in range(1000):
        events, after, done = await merged_replay(sources, "u", after, batch)
        out += [e.position for e in events]
        if done:
            return out
    raise AssertionError("replay did not finish")


@given(
    positions=st.sets(st.integers(1, 400), max_size=120),
    split=st.randoms(use_true_random=False),
    batch=st.integers(1, 20),
)
def test_every_event_once_in_order(positions: set[int], split: object, batch: int) -> None:
    chat, calls = [], []
    for p in sorted(positions):
        (chat if split.random() < 0.5 else calls).append(p)  # type: ignore[attr-defined]
    replayed = asyncio.run(_replay_all([_Source(chat), _Source(calls)], batch))
    assert replayed == sorted(positions)
