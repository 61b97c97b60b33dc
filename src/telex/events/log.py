"""Append to and read from the event log.

    service write transaction:  lock_appends ─► state change rows ─► append() ─► commit ─► bus.publish(pos)
    hub (one per node):         bus doorbell / poll ─► read_after(cursor) ─► fan out to local sockets

Positions must become visible in order, or a reader that has seen position 11 would skip 10
when 10 commits later. SQLite has one writer at a time, so this holds by construction. On
PostgreSQL a sequence hands out numbers in call order but transactions commit in any order, so
every appending transaction first takes a transaction-scoped advisory lock (``lock_appends``):
appends are serialised, and positions commit in order. The lock is held only for the short
write transaction, never across I/O to clients.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, text

from telex.events.schema import events
from telex.store.database import Conn, Database

__all__ = ["APPEND_LOCK_KEY", "Event", "EventLog"]

# An arbitrary, fixed key for pg_advisory_xact_lock ("telex" in ASCII).
APPEND_LOCK_KEY = 0x74656C6578


@dataclass(frozen=True, slots=True)
class Event:
    position: int
    stream: str
    type: str
    actor: str | None
    created_at: float
    payload: dict[str, Any]


def event_from_row(row: Any) -> Event:
    return Event(row.position, row.stream, row.type, row.actor, row.created_at, json.loads(row.payload))


class EventLog:
    """The log. ``append`` runs inside the caller's write transaction; reads open their own."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def lock_appends(self, conn: Conn) -> None:
        """Serialise appending transactions on PostgreSQL. Call first in the transaction."""
        if not self._db.is_sqlite:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": APPEND_LOCK_KEY})

    @staticmethod
    async def append(
        conn: Conn,
        stream: str,
        type_: str,
        actor: str | None,
        created_at: float,
        payload: dict[str, Any],
    ) -> int:
        """Append one event in the caller's transaction; returns its position."""
        result = await conn.execute(
            insert(events)
            .values(
                stream=stream, type=type_, actor=actor, created_at=created_at, payload=json.dumps(payload)
            )
            .returning(events.c.position)
        )
        return int(result.scalar_one())

    async def head(self) -> int:
        """The newest committed position (0 for an empty log)."""
        async with self._db.read() as conn:
            value = (await conn.execute(select(func.max(events.c.position)))).scalar()
        return int(value or 0)

    async def read_after(self, after: int, limit: int) -> list[Event]:
        """Committed events with position > ``after``, oldest first."""
        async with self._db.read() as conn:
            rows = await conn.execute(
                select(events).where(events.c.position > after).order_by(events.c.position).limit(limit)
            )
            return [event_from_row(r) for r in rows]
