"""Storage of calls: one narrow repository for the call aggregate (a call and its participants).

    service: async with store.write() as tx:  call = await tx.load(id) ─► command ─► tx.save(call)
        save: hooks (Call Automation) ─► effects ─► domain events ─► the unit (appended with the
              rows, one commit)
              participants added / removed ─► memberships of the call's topics

A participant's user receives every event of the unit that added the participant and of the one
that removed it: membership of ``call:<id>/<participant>`` follows the participant, membership
of ``call:<id>`` the user's first participant in and last participant out.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import bindparam, func, insert, select, union, update

from telex.calling.events import call_topic, events_for, leg_topic
from telex.calling.machine import Call, CallKind, CallState, EffectKind, EndReason, Leg, LegState, Role
from telex.calling.schema import call_participants as P
from telex.calling.schema import calls as C
from telex.events.backbone import Backbone, EventUnit
from telex.events.model import DomainEvent
from telex.store.database import FAST, Conn, Database

__all__ = ["CallStore", "CallTx", "SaveHook"]

# A call and its participants: read by every command and signal (built once; run raw on SQLite).
_CALL = select(C).where(C.c.id == bindparam("id")).execution_options(**FAST)
_LEGS = select(P).where(P.c.call_id == bindparam("id")).order_by(P.c.created_at).execution_options(**FAST)
_JOINED = [s.value for s in (LegState.CONNECTING, LegState.CONNECTED, LegState.ON_HOLD)]


def _leg(row: Any) -> Leg:
    return Leg(
        id=row.id, user_id=row.user_id, role=Role(row.role), state=LegState(row.state),
        created_at=row.created_at, display_name=row.display_name,
        end_reason=EndReason(row.end_reason) if row.end_reason else None,
        ring_deadline=row.ring_deadline, connected_at=row.connected_at, left_at=row.left_at,
        alive_until=row.alive_until, muted=bool(row.muted), video=bool(row.video),
        screen_sharing=bool(row.screen_sharing),
    )  # fmt: skip


def _leg_values(leg: Leg) -> dict[str, Any]:
    return {
        "user_id": leg.user_id, "display_name": leg.display_name, "role": leg.role.value,
        "state": leg.state.value, "end_reason": leg.end_reason.value if leg.end_reason else None,
        "created_at": leg.created_at, "ring_deadline": leg.ring_deadline,
        "connected_at": leg.connected_at, "left_at": leg.left_at, "alive_until": leg.alive_until,
        "muted": leg.muted,
        "video": leg.video, "screen_sharing": leg.screen_sharing,
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

    def __init__(self, conn: Conn, unit: EventUnit | None, hooks: tuple[SaveHook, ...] = ()) -> None:
        self.conn = conn
        self._unit = unit
        self._hooks = hooks

    async def load(self, call_id: str) -> Call | None:
        row = (await self.conn.execute(_CALL, {"id": call_id})).first()
        if row is None:
            return None
        call = Call(
            id=row.id, kind=CallKind(row.kind), state=CallState(row.state), caller_id=row.caller_id,
            created_at=row.created_at, group_id=row.group_id, video_offered=bool(row.video_offered),
            connected_at=row.connected_at, ended_at=row.ended_at,
            end_reason=EndReason(row.end_reason) if row.end_reason else None,
        )  # fmt: skip
        legs = await self.conn.execute(_LEGS, {"id": call_id})
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

    async def defer_silence(self, until: float) -> None:
        """Give every joined participant until at least ``until`` to send a keep-alive."""
        q = update(P).where(P.c.state.in_(_JOINED), P.c.alive_until < until).values(alive_until=until)
        await self.conn.execute(q)

    async def next_deadline(self) -> float | None:
        ringing = select(func.min(P.c.ring_deadline)).where(P.c.state == LegState.RINGING.value)
        silent = select(func.min(P.c.alive_until)).where(P.c.state.in_(_JOINED))
        values = [(await self.conn.execute(q)).scalar() for q in (ringing, silent)]
        present = [float(v) for v in values if v is not None]
        return min(present) if present else None

    async def save(
        self, call: Call, actor: str | None, now: float, extra: Iterable[DomainEvent] = ()
    ) -> None:
        """Record the call's pending effects (then ``extra``) as events of this unit, the
        memberships they change, and the changed rows."""
        unit = self._unit
        if unit is None:
            raise RuntimeError("calls are saved in write transactions only")
        later: list[DomainEvent] = []
        if call.effects:
            for hook in self._hooks:  # they may apply commands of their own (more effects)
                later += await hook(self, call, now)
        for effect in call.effects:
            for event in events_for(call, effect, actor, now):
                unit.emit(event)
            if effect.kind is EffectKind.LEG_ADDED and effect.leg is not None:
                self._joined(unit, call, effect.leg)
            elif effect.kind is EffectKind.LEG_REMOVED and effect.leg is not None:
                self._left(unit, call, effect.leg)
        for event in extra:
            unit.emit(event)
        for event in later:
            unit.emit(event)
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

    @staticmethod
    def _others_present(call: Call, leg: Leg) -> bool:
        return any(
            x is not leg and x.user_id == leg.user_id and x.state is not LegState.DISCONNECTED
            for x in call.legs
        )

    def _joined(self, unit: EventUnit, call: Call, leg: Leg) -> None:
        unit.join(leg_topic(call.id, leg.id), leg.user_id)
        if not self._others_present(call, leg):
            unit.join(call_topic(call.id), leg.user_id)

    def _left(self, unit: EventUnit, call: Call, leg: Leg) -> None:
        unit.leave(leg_topic(call.id, leg.id), leg.user_id)
        if not self._others_present(call, leg):
            unit.leave(call_topic(call.id), leg.user_id)


# Runs in every unit that saves a call with effects, before the effects become events: may read
# and write in the unit (``tx.conn``), apply commands to the call, and return events to append
# after the call's own (Call Automation reports call changes to applications this way).
SaveHook = Callable[[CallTx, Call, float], Awaitable[list[DomainEvent]]]


class CallStore:
    def __init__(self, db: Database, backbone: Backbone) -> None:
        self._db = db
        self._backbone = backbone
        self._hooks: tuple[SaveHook, ...] = ()

    def add_hook(self, hook: SaveHook) -> None:
        self._hooks = (*self._hooks, hook)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[CallTx]:
        """A write unit: the call's rows and events commit together (group-committed)."""
        async with self._backbone.write() as unit:
            yield CallTx(unit.conn, unit, self._hooks)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[CallTx]:
        async with self._db.read() as conn:
            yield CallTx(conn, None)
