"""Storage of calls: one narrow repository for the call aggregate (a call and its participants).

    service: async with store.write() as tx:  call = await tx.load(id) ─► command ─► tx.save(call)
        save: effects ─► log entries ─► EventLog.append (same transaction) ─► rows written

A participant receives every event appended by the transaction that added it and by the one
that removed it: ``joined_pos`` is the first position written by the adding transaction and
``left_pos`` the last one written by the removing transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import exists, func, insert, literal, or_, select, union, update

from telex.calling.machine import Call, CallKind, CallState, EndReason, Leg, LegState, Role
from telex.calling.payloads import CALL_STREAM_PREFIX, CallEvent, LogEntry, entries_for, parse_stream
from telex.calling.schema import call_participants as P
from telex.calling.schema import calls as C
from telex.events.log import Event, EventLog, event_from_row
from telex.events.schema import events
from telex.store.database import Conn, Database

__all__ = ["Audience", "CallStore", "CallTx"]

Audience = dict[str, list[tuple[str, int, int | None]]]
_JOINED = [s.value for s in (LegState.CONNECTING, LegState.CONNECTED, LegState.ON_HOLD)]


def _leg(row: Any) -> Leg:
    return Leg(
        id=row.id, user_id=row.user_id, role=Role(row.role), state=LegState(row.state),
        created_at=row.created_at, display_name=row.display_name,
        end_reason=EndReason(row.end_reason) if row.end_reason else None,
        ring_deadline=row.ring_deadline, connected_at=row.connected_at, left_at=row.left_at,
        alive_until=row.alive_until, muted=row.muted, video=row.video, screen_sharing=row.screen_sharing,
        joined_pos=row.joined_pos, left_pos=row.left_pos,
    )  # fmt: skip


def _leg_values(leg: Leg) -> dict[str, Any]:
    return {
        "user_id": leg.user_id, "display_name": leg.display_name, "role": leg.role.value,
        "state": leg.state.value, "end_reason": leg.end_reason.value if leg.end_reason else None,
        "created_at": leg.created_at, "ring_deadline": leg.ring_deadline,
        "connected_at": leg.connected_at, "left_at": leg.left_at, "alive_until": leg.alive_until,
        "muted": leg.muted,
        "video": leg.video, "screen_sharing": leg.screen_sharing, "joined_pos": leg.joined_pos,
        "left_pos": leg.left_pos,
    }  # fmt: skip


def _call_values(call: Call) -> dict[str, Any]:
    return {
        "kind": call.kind.value, "group_id": call.group_id, "state": call.state.value,
        "caller_id": call.caller_id, "video_offered": call.video_offered,
        "created_at": call.created_at, "connected_at": call.connected_at, "ended_at": call.ended_at,
        "end_reason": call.end_reason.value if call.end_reason else None,
    }  # fmt: skip


class CallTx:
    """Queries and changes inside one transaction."""

    def __init__(self, conn: Conn, log: EventLog) -> None:
        self.conn = conn
        self._log = log

    async def load(self, call_id: str) -> Call | None:
        row = (await self.conn.execute(select(C).where(C.c.id == call_id))).first()
        if row is None:
            return None
        call = Call(
            id=row.id, kind=CallKind(row.kind), state=CallState(row.state), caller_id=row.caller_id,
            created_at=row.created_at, group_id=row.group_id, video_offered=row.video_offered,
            connected_at=row.connected_at, ended_at=row.ended_at,
            end_reason=EndReason(row.end_reason) if row.end_reason else None,
        )  # fmt: skip
        legs = await self.conn.execute(select(P).where(P.c.call_id == call_id).order_by(P.c.created_at))
        call.legs = [_leg(r) for r in legs]
        return call

    async def live_group_call(self, group_id: str) -> str | None:
        """The id of the group's call that has not ended, if there is one."""
        q = select(C.c.id).where(C.c.group_id == group_id, C.c.state != CallState.ENDED.value)
        return (await self.conn.execute(q)).scalar()

    async def due_calls(self, now: float, limit: int = 100) -> list[str]:
        """Calls with an invitation past its ringing deadline or a participant past its
        keep-alive deadline."""
        ringing = select(P.c.call_id).where(P.c.state == LegState.RINGING.value, P.c.ring_deadline <= now)
        silent = select(P.c.call_id).where(P.c.state.in_(_JOINED), P.c.alive_until <= now)
        q = union(ringing, silent).limit(limit)
        return [r.call_id for r in await self.conn.execute(q)]

    async def next_deadline(self) -> float | None:
        ringing = select(func.min(P.c.ring_deadline)).where(P.c.state == LegState.RINGING.value)
        silent = select(func.min(P.c.alive_until)).where(P.c.state.in_(_JOINED))
        values = [(await self.conn.execute(q)).scalar() for q in (ringing, silent)]
        present = [float(v) for v in values if v is not None]
        return min(present) if present else None

    async def visible_events(self, user: str, after: int, limit: int) -> list[Event]:
        """Call events ``user`` may receive, position > ``after``, oldest first: the same rule as
        the hub's (``audiences``), for replay when a realtime client resumes from a cursor."""
        e = events
        call_of_leg = literal(CALL_STREAM_PREFIX) + P.c.call_id
        mine = (
            select(P.c.id)
            .where(P.c.user_id == user, e.c.position >= P.c.joined_pos)
            .where(or_(P.c.left_pos.is_(None), e.c.position <= P.c.left_pos))
            .where(or_(e.c.stream == call_of_leg, e.c.stream == call_of_leg + "/" + P.c.id))
        )
        q = (
            select(e)
            .where(e.c.position > after, e.c.stream.startswith(CALL_STREAM_PREFIX), exists(mine))
            .order_by(e.c.position)
            .limit(limit)
        )
        return [event_from_row(r) for r in await self.conn.execute(q)]

    async def save(
        self, call: Call, actor: str | None, now: float, extra: Iterable[LogEntry] = ()
    ) -> int | None:
        """Append the call's pending effects (then ``extra``) to the log and write the changed
        rows. Returns the last position appended, None if nothing was."""
        entries = [e for effect in call.effects for e in entries_for(call, effect)]
        entries.extend(extra)
        first = last = None
        for stream, type_, payload in entries:
            last = await self._log.append(self.conn, stream, type_, actor, now, payload)
            first = first if first is not None else last
        for leg in call.legs:
            if leg.new and first is not None:
                leg.joined_pos = first
            if leg.dirty and leg.state is LegState.DISCONNECTED and leg.left_pos is None:
                leg.left_pos = last
        if call.new:
            await self.conn.execute(insert(C).values(id=call.id, **_call_values(call)))
        elif call.dirty:
            await self.conn.execute(update(C).where(C.c.id == call.id).values(**_call_values(call)))
        for leg in call.legs:
            if leg.new:
                await self.conn.execute(insert(P).values(id=leg.id, call_id=call.id, **_leg_values(leg)))
            elif leg.dirty:
                await self.conn.execute(update(P).where(P.c.id == leg.id).values(**_leg_values(leg)))
            leg.new = leg.dirty = False
        call.effects.clear()
        call.new = call.dirty = False
        return last

    async def audiences(self, streams: Iterable[str]) -> Audience:
        """Participant intervals ``(user, joined_pos, left_pos)`` for each call stream: every
        participant for ``call:<id>``, only the addressee for ``call:<id>/<participantId>``."""
        parsed = {s: p for s in set(streams) if (p := parse_stream(s)) is not None}
        out: Audience = {s: [] for s in parsed}
        call_ids = {p[0] for p in parsed.values()}
        if not call_ids:
            return out
        q = select(P.c.call_id, P.c.id, P.c.user_id, P.c.joined_pos, P.c.left_pos).where(
            P.c.call_id.in_(call_ids)
        )
        rows = list(await self.conn.execute(q))
        for stream, (call_id, leg_id) in parsed.items():
            out[stream] = [
                (r.user_id, r.joined_pos, r.left_pos)
                for r in rows
                if r.call_id == call_id and (leg_id is None or r.id == leg_id)
            ]
        return out


class CallStore:
    # A participant added or removed changes who receives the call's streams (the hub re-reads).
    membership_events = frozenset({CallEvent.PARTICIPANT_ADDED, CallEvent.PARTICIPANT_REMOVED})

    def __init__(self, db: Database, log: EventLog) -> None:
        self._db = db
        self._log = log

    @asynccontextmanager
    async def write(self) -> AsyncIterator[CallTx]:
        """A write transaction that may append events (serialised with other appends)."""
        async with self._db.write() as conn:
            await self._log.lock_appends(conn)
            yield CallTx(conn, self._log)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[CallTx]:
        async with self._db.read() as conn:
            yield CallTx(conn, self._log)

    async def visible_events(self, user: str, after: int, limit: int) -> list[Event]:
        """Replay source of the realtime gateway (see ``CallTx.visible_events``)."""
        async with self.read() as tx:
            return await tx.visible_events(user, after, limit)

    async def audiences(self, streams: Iterable[str]) -> Audience:
        """The hub's audience source for ``call:`` streams (see ``telex.realtime.hub``)."""
        async with self.read() as tx:
            return await tx.audiences(streams)
