"""What a way out needs to follow the log durably: a cursor with a lease, and a doorbell.

    consumer ─► CursorStore.acquire(name, node) ─► held? ─► read_after(position) ─► work
                         │                                   └─► save(position, …) (only while held,
                         │                                        only for the generation it read)
                         └─ not held: another node works this cursor; ask again later
    backbone ─► Doorbell (an EventSink): committed here, or announced by another node ─► wake()

A cursor is one row of ``event_cursors``: the position a consumer has finished, plus ``partial``
(how many renderings of the next event are done, when one event became several deliveries) and
its retry state. **Only one node works a cursor at a time**: a node takes the row's lease with a
single conditional update (free, expired, or already its own), renews it while it works, and
every write of the cursor is conditioned on still holding it. A node that stalls past its lease
loses it, another takes over from the last saved position, and the stalled node's next save
matches no row, so it stops: at worst events are delivered twice, never skipped. Lease times are
wall-clock (nodes' clocks must agree to well within the lease, as NTP gives).

``generation`` changes whenever someone other than the worker moves the cursor or changes what
it delivers (a replay, a new URL): the worker's saves name the generation it read, so a save
made on stale assumptions matches nothing and the worker reloads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Column, Float, Integer, String, Table, delete, insert, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.sql.base import Executable

from telex.events.audience import Audience, visible
from telex.events.log import EventLog
from telex.events.model import DomainEvent
from telex.store.database import Database
from telex.store.schema import metadata

__all__ = ["AudienceCache", "CursorState", "CursorStore", "Doorbell", "event_cursors"]

_POS = BigInteger().with_variant(Integer, "sqlite")

event_cursors = Table(
    "event_cursors",
    metadata,
    Column("name", String(160), primary_key=True),
    Column("position", _POS, nullable=False),
    Column("partial", Integer, nullable=False, server_default="0"),
    Column("generation", Integer, nullable=False, server_default="0"),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", Float, nullable=True),
    # The batch at the cursor that is being retried: attempts so far, when its first attempt was
    # made (the event time to live counts from the event), and when to try again.
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("retry_at", Float, nullable=True),
    Column("updated_at", Float, nullable=False),
)
C = event_cursors


@dataclass(frozen=True, slots=True)
class CursorState:
    name: str
    position: int
    partial: int
    generation: int
    attempts: int
    retry_at: float | None


def _state(r: Any) -> CursorState:
    return CursorState(
        r.name, int(r.position), int(r.partial), int(r.generation), int(r.attempts), r.retry_at
    )


def _count(result: object) -> int:
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


class CursorStore:
    """The ``event_cursors`` rows; every method is one short transaction."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def ensure(self, name: str, position: int, now: float) -> None:
        """Create the cursor at ``position`` unless it exists."""
        async with self._db.write() as conn:
            found = (await conn.execute(select(C.c.name).where(C.c.name == name))).first()
            if found is None:
                await conn.execute(insert(C).values(name=name, position=position, updated_at=now))

    async def get(self, name: str) -> CursorState | None:
        async with self._db.read() as conn:
            row = (await conn.execute(select(C).where(C.c.name == name))).first()
        return None if row is None else _state(row)

    async def positions(self, prefix: str) -> dict[str, int]:
        async with self._db.read() as conn:
            rows = await conn.execute(select(C.c.name, C.c.position).where(C.c.name.startswith(prefix)))
            return {r.name: int(r.position) for r in rows}

    async def acquire(self, name: str, node: str, now: float, ttl: float) -> CursorState | None:
        """Take or renew the lease; the cursor if this node now holds it, else None."""
        async with self._db.write() as conn:
            taken = await conn.execute(
                update(C)
                .where(C.c.name == name)
                .where(or_(C.c.lease_owner.is_(None), C.c.lease_owner == node, C.c.lease_until < now))
                .values(lease_owner=node, lease_until=now + ttl)
            )
            if _count(taken) != 1:
                return None
            row = (await conn.execute(select(C).where(C.c.name == name))).first()
        return None if row is None else _state(row)

    async def renew(self, name: str, node: str, now: float, ttl: float) -> bool:
        async with self._db.write() as conn:
            result = await conn.execute(
                update(C).where(C.c.name == name, C.c.lease_owner == node).values(lease_until=now + ttl)
            )
            return _count(result) == 1

    async def release(self, name: str, node: str) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                update(C)
                .where(C.c.name == name, C.c.lease_owner == node)
                .values(lease_owner=None, lease_until=None)
            )

    async def save(
        self,
        name: str,
        node: str,
        generation: int,
        *,
        position: int,
        partial: int = 0,
        attempts: int = 0,
        retry_at: float | None = None,
        now: float,
        also: Sequence[tuple[Executable, Any]] = (),
    ) -> bool:
        """Record progress if ``node`` still holds the lease on ``generation``; False otherwise.
        ``also`` (statements and their parameters) run in the same unit: nothing is written
        unless the cursor is."""

        async with self._db.write() as conn:
            result = await conn.execute(
                update(C)
                .where(C.c.name == name, C.c.lease_owner == node, C.c.generation == generation)
                .values(
                    position=position, partial=partial, attempts=attempts, retry_at=retry_at, updated_at=now
                )
            )
            if _count(result) != 1:
                return False  # nothing matched, nothing written: no need to roll anything back
            for statement, parameters in also:
                await conn.execute(statement, parameters)
        return True

    async def rewind(self, name: str, position: int, now: float) -> int:
        """Move the cursor to ``position`` (a replay) and clear its retry state; returns the new
        generation, or -1 if there is no such cursor."""
        async with self._db.write() as conn:
            result = await conn.execute(
                update(C)
                .where(C.c.name == name)
                .values(
                    position=position,
                    partial=0,
                    attempts=0,
                    retry_at=None,
                    updated_at=now,
                    generation=C.c.generation + 1,
                )
            )
            if _count(result) != 1:
                return -1
            row = (await conn.execute(select(C.c.generation).where(C.c.name == name))).first()
        return -1 if row is None else int(row.generation)

    async def bump(self, name: str, now: float) -> None:
        """A change the worker must see before it saves again (clears a pending retry too)."""
        async with self._db.write() as conn:
            await conn.execute(
                update(C)
                .where(C.c.name == name)
                .values(generation=C.c.generation + 1, attempts=0, retry_at=None, updated_at=now)
            )

    async def delete(self, name: str) -> None:
        async with self._db.write() as conn:
            await conn.execute(delete(C).where(C.c.name == name))


class Doorbell:
    """An ``EventSink`` that only rings: consumers read the events from the log themselves.

    Registered with the backbone, it calls every listener when this node commits events or
    another node announces some; listeners set their own wake-up flag and never block.
    """

    def __init__(self) -> None:
        self._listeners: list[Callable[[], None]] = []
        self.head = 0  # the newest position this node has heard of

    def listen(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Add ``listener``; returns the function that removes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _ring(self) -> None:
        for listener in list(self._listeners):
            listener()

    def committed(self, events: list[DomainEvent]) -> None:
        self.head = max(self.head, events[-1].position)
        self._ring()

    def ephemeral(self, event: DomainEvent) -> None:
        return None

    def advanced(self, position: int) -> None:
        self.head = max(self.head, position)
        self._ring()


class AudienceCache:
    """Who receives each event of a consumer that reads the log in order (the rule in
    ``telex.events.audience``), with topics' memberships cached.

    As in the realtime hub: a snapshot of a topic's memberships read after an event committed is
    right for that event and every later one until an event whose unit changed the topic's
    membership (``audience_changed``). Read in log order, that event comes first: ``observe``
    every event (those the consumer skips too) before asking for recipients.
    """

    def __init__(self, log: EventLog, limit: int = 10_000) -> None:
        self._log = log
        self._limit = limit
        self._audiences: dict[str, Audience] = {}

    def observe(self, event: DomainEvent) -> None:
        for topic in event.audience_changed:
            self._audiences.pop(topic, None)

    async def recipients(self, event: DomainEvent) -> set[str]:
        """The members of the event's topic at its position, without the user who caused it."""
        audience = self._audiences.get(event.topic)
        if audience is None:
            audience = (await self._log.audiences([event.topic]))[event.topic]
            if len(self._audiences) >= self._limit:
                self._audiences.clear()
            self._audiences[event.topic] = audience
        return visible(audience, event.position) - {event.actor or ""}
