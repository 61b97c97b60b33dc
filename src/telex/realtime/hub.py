"""Fan-out on one node: hand each event to the local connections of the users who may see it.

    backbone: committed(events) ──► caught up, audiences cached? ──yes──► dispatch now (no log read)
                                                     └──no──► pending ─┐
    bus: advanced(pos) / poll timer ─────────────────────────────────┴─► pump: fill the gap from
                                                                          the log, load audiences,
                                                                          dispatch in log order
    backbone: ephemeral(event) ─► the topic's current members' connections (never queued behind
                                  the log: typing has no position)

The hub knows no capability: an event's audience is the membership of its topic (the rule in
``telex.events.audience``), read from the log's ``topic_members`` and cached per topic. A cached
audience stays right until the next event whose unit changed that topic's membership
(``audience_changed``): intervals are bounded by positions, so a snapshot read after that event
committed is right for it and for every earlier one. Such an event is dispatched only after its
topics are re-read.

``offer`` never blocks: a connection that cannot take an event is told to close (slow consumer)
and dropped, so one stalled client never slows delivery to anyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Protocol

from telex.bus.base import Bus
from telex.core.errors import TelexError
from telex.events.audience import Audience
from telex.events.log import EventLog
from telex.events.model import DomainEvent

__all__ = ["Hub", "Sink"]

log = logging.getLogger(__name__)

_CACHE_TOPICS = 10_000


class Sink(Protocol):
    user_id: str

    def offer(self, event: DomainEvent) -> bool:
        """Queue ``event``; False when the sink cannot take it (it then closes itself)."""


class Hub:
    """The realtime gateway's ``EventSink`` on this node (see ``telex.events.backbone``)."""

    def __init__(self, log_: EventLog, poll_seconds: float, batch: int = 500) -> None:
        self._log = log_
        self._poll = poll_seconds
        self._batch = batch
        self._audiences: dict[str, Audience] = {}
        self._pending: list[DomainEvent] = []
        self._behind = False  # another node announced positions we have not read yet
        self._pumping = False
        self._wake = asyncio.Event()
        self._sinks: dict[str, set[Sink]] = {}
        self.cursor = 0
        self.known = 0  # the newest log position this node has heard of (its own, or announced)
        self.offered = 0  # events handed to sockets (metrics)
        self.slow_closed = 0  # sockets that could not take an event: closed as slow consumers (4008)
        self.started = asyncio.Event()

    # the backbone's side --------------------------------------------------------------------------
    def committed(self, events: list[DomainEvent]) -> None:
        self.known = max(self.known, events[-1].position)
        if not self.started.is_set():
            self._wake.set()  # the first pump reads them from the log
            return
        if self._pending or self._pumping or self._behind or events[0].position != self.cursor + 1:
            self._pending.extend(events)
            self._wake.set()
            return
        if not self._sinks:
            self.cursor = events[-1].position
            return
        for i, event in enumerate(events):
            audience = self._audiences.get(event.topic)
            if audience is None or event.audience_changed:
                self._pending.extend(events[i:])
                self._wake.set()
                return
            self._dispatch(event, audience)
            self.cursor = event.position

    def advanced(self, position: int) -> None:
        self.known = max(self.known, position)
        if position > self.cursor:
            self._behind = True
            self._wake.set()

    def ephemeral(self, event: DomainEvent) -> None:
        audience = self._audiences.get(event.topic)
        if audience is not None:
            self._dispatch_current(event, audience)
        elif self._sinks:
            asyncio.get_running_loop().create_task(self._ephemeral_later(event))

    async def _ephemeral_later(self, event: DomainEvent) -> None:
        with contextlib.suppress(Exception):  # typing may be lost; the store may be briefly away
            audience = (await self._load([event.topic]))[event.topic]
            self._dispatch_current(event, audience)

    # connections ----------------------------------------------------------------------------------
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
    def lag(self) -> int:
        """Events this node knows were committed and has not yet handed to its connections."""
        return max(0, self.known - self.cursor)

    @property
    def connections(self) -> int:
        return sum(len(s) for s in self._sinks.values())

    def has_connections(self, user: str) -> bool:
        """Whether ``user`` has a live connection on this node (presence: telex.presence)."""
        return user in self._sinks

    def connected_users(self) -> list[str]:
        """The users with a live connection on this node."""
        return list(self._sinks)

    # the loop -------------------------------------------------------------------------------------
    async def run(self, bus: Bus) -> None:
        """Start ``bus``, then deliver until cancelled (``Node.start_background`` runs this)."""
        await bus.start()  # returns at once; while the bus is away the hub polls the log
        while not self.started.is_set():
            try:
                self.cursor = await self._log.head()
            except TelexError:  # the store is away (it logs the outage once); retry
                await asyncio.sleep(self._poll)
                continue
            except Exception:
                log.exception("realtime hub cannot start; retrying")
                await asyncio.sleep(self._poll)
                continue
            self.started.set()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll):
                    await self._wake.wait()
            self._wake.clear()
            self._pumping = True
            try:
                await self.pump()
            except TelexError:  # the store is away (it logs the outage once); the next round retries
                pass
            except Exception:
                log.exception("realtime hub could not read the event log")
            finally:
                self._pumping = False

    async def pump(self) -> None:
        """Deliver every committed event after ``cursor`` to local sinks, in log order."""
        while True:
            self._pending = [e for e in self._pending if e.position > self.cursor]
            if self._pending and self._pending[0].position == self.cursor + 1 and not self._behind:
                events, self._pending = self._pending, []
            else:
                # A gap (another node's events, a position a rolled-back unit used), an
                # announcement, or the poll: read the log from the cursor.
                self._behind = False
                if not self._sinks:
                    # Nobody to deliver to: skip ahead without reading the events (and so
                    # without seeing membership changes: forget the cached audiences).
                    self.cursor = max(self.cursor, await self._log.head())
                    self._audiences.clear()
                    self._pending.clear()
                    return
                events = await self._log.read_after(self.cursor, self._batch)
                if not events:
                    return
            await self._deliver(events)
            if not self._pending and not self._behind and len(events) < self._batch:
                return

    async def _deliver(self, events: list[DomainEvent]) -> None:
        stale = {t for e in events for t in e.audience_changed}
        for topic in stale:
            self._audiences.pop(topic, None)
        await self._load({e.topic for e in events if e.topic not in self._audiences})
        for event in events:
            if event.position <= self.cursor:
                continue
            self._dispatch(event, self._audiences.get(event.topic, []))
            self.cursor = event.position

    async def _load(self, topics: Iterable[str]) -> dict[str, Audience]:
        wanted = set(topics)
        if not wanted:
            return {}
        loaded = await self._log.audiences(wanted)
        if len(self._audiences) + len(loaded) > _CACHE_TOPICS:
            self._audiences.clear()
        self._audiences.update(loaded)
        return loaded

    def _dispatch(self, event: DomainEvent, audience: Audience) -> None:
        position, all_sinks = event.position, self._sinks
        for member in audience:
            sinks = all_sinks.get(member.user)
            if sinks and member.contains(position) and event.reaches(member.user):
                self._offer(sinks, event)

    def _offer(self, sinks: set[Sink], event: DomainEvent) -> None:
        self.offered += len(sinks)
        if len(sinks) == 1:  # the usual case: one socket per user on this node
            for sink in sinks:
                if not sink.offer(event):
                    self.slow_closed += 1
                    self.remove(sink)
                return
        for sink in list(sinks):  # a copy: a refused sink leaves the set
            if not sink.offer(event):
                self.slow_closed += 1
                self.remove(sink)

    def _dispatch_current(self, event: DomainEvent, audience: Audience) -> None:
        for member in audience:
            sinks = self._sinks.get(member.user)
            if sinks and member.current and event.reaches(member.user):
                self._offer(sinks, event)
