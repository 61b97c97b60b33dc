"""The durable log: append domain events and memberships in a unit, read them back.

    EventUnit.flush ─► append(conn, events, joins, leaves)      (inside the unit's transaction)
    hub / consumers ─► read_after(cursor) · head()               (catching up, filling gaps)
    realtime resume ─► visible(user, after)                      (the visibility rule in SQL)
    hub             ─► audiences(topics)                         (the rule's intervals, for caching)

Positions must become visible in order, or a reader that has seen position 11 would skip 10
when 10 commits later. SQLite has one writer at a time, so this holds by construction. On
PostgreSQL a sequence hands out numbers in call order but transactions commit in any order, so
every write transaction first takes a transaction-scoped advisory lock (``store.database``):
appends are serialised, and positions commit in order. Group commit holds that lock for one
short batch, never across I/O to clients.

The statements are built once, at import: building a SQLAlchemy statement per call costs more
than running it against SQLite's page cache.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, or_, select, update

from telex.events.audience import Audience, Interval
from telex.events.model import DomainEvent
from telex.events.schema import events, topic_members
from telex.store.database import FAST, Conn, Database

__all__ = ["EventLog", "event_from_row"]

E = events
TM = topic_members

_INSERT_ONE = insert(E).returning(E.c.position).execution_options(**FAST)
_INSERT_MANY = insert(E).returning(E.c.position, sort_by_parameter_order=True)
_JOIN = insert(TM)
_LEAVE = (
    update(TM)
    .where(TM.c.topic == bindparam("t"), TM.c.user_id == bindparam("u"), TM.c.left_pos.is_(None))
    .values(left_pos=bindparam("p"))
)
_HEAD = select(func.max(E.c.position))
_BOUNDS = select(func.min(E.c.position), func.max(E.c.position))
_FIRST_FROM = (
    select(E.c.position, E.c.created_at).where(E.c.position >= bindparam("p")).order_by(E.c.position).limit(1)
)
_AFTER = select(E).where(E.c.position > bindparam("after")).order_by(E.c.position).limit(bindparam("n"))
_VISIBLE = (
    select(E)
    .join(TM, and_(TM.c.topic == E.c.topic, TM.c.user_id == bindparam("user")))
    .where(E.c.position > bindparam("after"), E.c.position >= TM.c.joined_pos)
    .where(or_(TM.c.left_pos.is_(None), E.c.position <= TM.c.left_pos))
    .order_by(E.c.position)
    .limit(bindparam("n"))
)
_AUDIENCES = (
    select(TM.c.topic, TM.c.user_id, TM.c.joined_pos, TM.c.left_pos)
    .where(TM.c.topic.in_(bindparam("topics", expanding=True)))
    .order_by(TM.c.id)
)


def event_from_row(row: Any) -> DomainEvent:
    return DomainEvent(
        type=row.type,
        topic=row.topic,
        data=json.loads(row.payload),
        time=row.created_at,
        actor=row.actor,
        subject=row.subject or "",
        version=row.version,
        id=row.id or f"{row.position}",
        position=row.position,
        audience_changed=tuple(row.audience.split()) if row.audience else (),
    )


def _row(event: DomainEvent) -> dict[str, Any]:
    return {
        "topic": event.topic,
        "type": event.type,
        "version": event.version,
        "id": event.id,
        "subject": event.subject or None,
        "actor": event.actor,
        "created_at": event.time,
        "payload": json.dumps(event.data, separators=(",", ":")),
        "audience": " ".join(event.audience_changed) or None,
    }


class EventLog:
    """The log. ``append`` runs inside the caller's write unit; reads open their own transaction."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @staticmethod
    async def append(
        conn: Conn,
        batch: Sequence[DomainEvent],
        joins: Sequence[tuple[str, str]] = (),
        leaves: Sequence[tuple[str, str]] = (),
        only: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Append ``batch`` (setting each event's position), then record the memberships the unit
        changed: ``joins`` receive the unit's first event on, ``leaves`` up to its last, ``only``
        just the unit's events. The first event names the topics whose audience changed."""
        if not batch:
            if joins or leaves or only:
                raise ValueError("a unit that changes memberships must append an event")
            return
        changed = tuple(dict.fromkeys(t for t, _ in (*joins, *leaves, *only)))
        if changed:
            batch[0].audience_changed = changed
        if len(batch) == 1:
            result = await conn.execute(_INSERT_ONE, _row(batch[0]))
            batch[0].position = int(result.scalar_one())
        else:
            result = await conn.execute(_INSERT_MANY, [_row(e) for e in batch])
            for event, position in zip(batch, result.scalars(), strict=True):
                event.position = int(position)
        first, last = batch[0].position, batch[-1].position
        if leaves:  # before the joins: a leave ends the membership that existed before this unit
            await conn.execute(_LEAVE, [{"t": t, "u": u, "p": last} for t, u in leaves])
        rows = [{"topic": t, "user_id": u, "joined_pos": first, "left_pos": None} for t, u in joins]
        rows += [{"topic": t, "user_id": u, "joined_pos": first, "left_pos": last} for t, u in only]
        if rows:
            await conn.execute(_JOIN, rows)

    async def head(self) -> int:
        """The newest committed position (0 for an empty log)."""
        async with self._db.read() as conn:
            value = (await conn.execute(_HEAD)).scalar()
        return int(value or 0)

    async def first_position_since(self, when: float) -> int | None:
        """The first position whose event happened at or after ``when`` (a consumer replaying
        "from a time"), None if there is none.

        A binary search over positions (the primary key) rather than a scan: event times grow
        with positions, up to the clock differences between nodes, which "from about then"
        tolerates."""
        async with self._db.read() as conn:
            bounds: Any = (await conn.execute(_BOUNDS)).first()
            if bounds is None or bounds[0] is None:
                return None
            lo, hi = int(bounds[0]), int(bounds[1]) + 1
            while lo < hi:
                mid = (lo + hi) // 2
                row = (await conn.execute(_FIRST_FROM, {"p": mid})).first()
                if row is None or row.created_at >= when:
                    hi = mid
                else:
                    lo = int(row.position) + 1
            row = (await conn.execute(_FIRST_FROM, {"p": lo})).first()
        return None if row is None else int(row.position)

    async def read_after(self, after: int, limit: int) -> list[DomainEvent]:
        """Committed events with position > ``after``, oldest first."""
        async with self._db.read() as conn:
            rows = await conn.execute(_AFTER, {"after": after, "n": limit})
            return [event_from_row(r) for r in rows]

    async def visible(self, user: str, after: int, limit: int) -> list[DomainEvent]:
        """Events ``user`` may receive (the rule in events/audience.py), position > ``after``,
        oldest first, at most ``limit``; ``DomainEvent.reaches`` is the caller's to apply."""
        async with self._db.read() as conn:
            rows = await conn.execute(_VISIBLE, {"user": user, "after": after, "n": limit})
            return [event_from_row(r) for r in rows]

    async def audiences(self, topics: Iterable[str]) -> dict[str, Audience]:
        """Every membership, past and present, of each topic."""
        wanted = list(set(topics))
        out: dict[str, Audience] = {t: [] for t in wanted}
        if not wanted:
            return out
        async with self._db.read() as conn:
            for r in await conn.execute(_AUDIENCES, {"topics": wanted}):
                out[r.topic].append(Interval(r.user_id, r.joined_pos, r.left_pos))
        return out
