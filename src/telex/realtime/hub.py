"""Fan-out on one node: read new events from the log once, hand each to the local connections
of the users who may see it.

    bus doorbell ─► notify(pos) ─┐
    poll timer ──────────────────┴─► pump: read_after(cursor) ─► audiences (membership intervals)
                                         ─► sink.offer(event) for every local connection of each member

Chat threads are the default audience; other capabilities register an ``AudienceSource`` for
their stream prefix (calls: ``call:``), so the hub knows no capability but chat's default.
Audiences are cached per stream and re-read when a batch holds an event that changes them (a
source names those event types); a change to a stream also drops its sub-streams
(``call:<id>`` → ``call:<id>/<participant>``).

``offer`` never blocks: a connection with a full queue is told to close (slow consumer) and
dropped, so one stalled client never slows delivery to anyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping
from typing import Protocol

from telex.bus.base import Bus
from telex.chat.payloads import EventType
from telex.chat.repository import ChatStore
from telex.events.log import Event, EventLog
from telex.realtime.protocol import deliverable

__all__ = ["AudienceSource", "Hub", "Sink"]

log = logging.getLogger(__name__)

# Chat events that add or end memberships (and so change who receives a thread's events).
MEMBERSHIP_EVENTS = frozenset(
    {EventType.THREAD_CREATED, EventType.PARTICIPANTS_ADDED, EventType.PARTICIPANTS_REMOVED}
)
_CACHE_STREAMS = 10_000


class Sink(Protocol):
    user_id: str

    def offer(self, event: Event) -> bool:
        """Queue ``event``; False when the sink is full (it then closes itself)."""


class AudienceSource(Protocol):
    # Event types (on the source's streams) after which a stream's audience must be re-read.
    membership_events: frozenset[str]

    async def audiences(self, streams: Iterable[str]) -> dict[str, list[tuple[str, int, int | None]]]:
        """``(user, joined_pos, left_pos)`` intervals of who may receive each stream."""


class Hub:
    def __init__(
        self,
        log_: EventLog,
        store: ChatStore,
        poll_seconds: float,
        batch: int = 500,
        sources: Mapping[str, AudienceSource] | None = None,
    ) -> None:
        self._log = log_
        self._store = store
        self._sources = dict(sources or {})
        self._poll = poll_seconds
        self._batch = batch
        # Audiences by stream. An entry is reloaded whenever a batch holds an event that changes
        # the stream's memberships: membership intervals are bounded by log positions, so a
        # snapshot read after that event committed is right for it and every earlier event.
        self._cache: dict[str, list[tuple[str, int, int | None]]] = {}
        self._membership = MEMBERSHIP_EVENTS.union(*(s.membership_events for s in self._sources.values()))
        self._wake = asyncio.Event()
        self._sinks: dict[str, set[Sink]] = {}
        self.cursor = 0
        self.started = asyncio.Event()

    async def run(self, bus: Bus) -> None:
        """Start ``bus``, then deliver until cancelled (``Node.start_background`` runs this)."""
        while not self.started.is_set():
            try:
                await bus.start()
                self.cursor = await self._log.head()
            except Exception:
                log.exception("realtime hub cannot start; retrying")
                await asyncio.sleep(self._poll)
                continue
            self.started.set()
        await self._loop()

    def notify(self, position: int) -> None:
        """A bus announcement: the log has grown to ``position``."""
        if position > self.cursor:
            self._wake.set()

    def add(self, sink: Sink) -> int:
        """Register ``sink``; returns the position from which the hub will deliver to it (exclusive)."""
        self._sinks.setdefault(sink.user_id, set()).add(sink)
        return self.cursor

    def remove(self, sink: Sink) -> None:
        sinks = self._sinks.get(sink.user_id)
        if sinks is not None:
            sinks.discard(sink)
            if not sinks:
                del self._sinks[sink.user_id]

    @property
    def connections(self) -> int:
        return sum(len(s) for s in self._sinks.values())

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.pump()
            except Exception:  # the store may be briefly unavailable; the next round retries
                log.exception("realtime hub could not read the event log")

    async def pump(self) -> None:
        """Deliver every committed event after ``cursor`` to local sinks."""
        while True:
            if not self._sinks:
                # Nobody to deliver to: skip ahead without reading the events (and so without
                # seeing membership changes: forget the cached audiences).
                self.cursor = max(self.cursor, await self._log.head())
                self._cache.clear()
                return
            events = await self._log.read_after(self.cursor, self._batch)
            if not events:
                return
            changed = {e.stream for e in events if e.type in self._membership}
            self._forget_substreams(changed)
            stale = changed | {e.stream for e in events if e.stream not in self._cache}
            audiences = await self._audiences(stale)
            for event in events:
                audience = audiences.get(event.stream)
                if audience is None:
                    audience = self._cache.get(event.stream, [])
                self._dispatch(event, audience)
                self.cursor = event.position
            if len(events) < self._batch:
                return

    def _forget_substreams(self, changed: set[str]) -> None:
        """A call's membership change also changes its participants' own streams."""
        parents = tuple(s + "/" for s in changed if any(s.startswith(p) for p in self._sources))
        if parents:
            for stream in [k for k in self._cache if k.startswith(parents)]:
                del self._cache[stream]

    async def _audiences(self, streams: set[str]) -> dict[str, list[tuple[str, int, int | None]]]:
        by_source: dict[str, list[str]] = {}
        for stream in streams:
            prefix = next((p for p in self._sources if stream.startswith(p)), "")
            by_source.setdefault(prefix, []).append(stream)
        chat = by_source.pop("", [])
        out: dict[str, list[tuple[str, int, int | None]]] = {}
        if chat:
            async with self._store.read() as tx:
                out = await tx.audiences(chat)
        for prefix, wanted in by_source.items():
            out.update(await self._sources[prefix].audiences(wanted))
        if len(self._cache) + len(out) > _CACHE_STREAMS:
            self._cache.clear()
        self._cache.update(out)
        return out

    def _dispatch(self, event: Event, audience: list[tuple[str, int, int | None]]) -> None:
        pos = event.position
        for user, joined, left in audience:
            if joined <= pos and (left is None or pos <= left) and deliverable(event, user):
                for sink in list(self._sinks.get(user, ())):
                    if not sink.offer(event):
                        self.remove(sink)
