"""Storage of call connections and their pending operations (one narrow repository), and the
hook that runs ``translate.react`` in every unit that changes a call with connections.

    CallStore.save ─► CallbackHook(tx, call, now) ─► connections of the call (indexed read)
                                                  ─► react ─► callbacks + rows, same unit

The read happens only in units that change a call (effects), never for signaling or keep-alives.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update

from telex.automation.events import INCOMING_CALL, INCOMING_TOPIC, callback_event, connection_topic
from telex.automation.schema import automation_operations as O
from telex.automation.schema import call_connections as CC
from telex.automation.schema import callback_cursors as CUR
from telex.automation.schema import recordings as REC
from telex.automation.translate import Connection, ConnectionState, Operation, react
from telex.calling import Call, CallTx, EffectKind, LegState
from telex.core.clock import iso_time
from telex.events.model import DomainEvent
from telex.store.database import FAST, Conn

__all__ = ["CallbackHook", "ConnectionRepo", "IncomingCallIssuer"]

_BY_CALL = (
    select(CC)
    .where(CC.c.call_id == bindparam("call"), CC.c.state != bindparam("gone"))
    .execution_options(**FAST)
)
_BY_ID = select(CC).where(CC.c.id == bindparam("id")).execution_options(**FAST)
_OPS = select(O).where(O.c.connection_id.in_(bindparam("ids", expanding=True)))


def _connection(row: Any) -> Connection:
    return Connection(
        id=row.id,
        call_id=row.call_id,
        leg_id=row.leg_id,
        user_id=row.user_id,
        kind=row.kind,
        state=row.state,
        callback_uri=row.callback_uri,
        operation_context=row.operation_context,
        details=json.loads(row.details or "{}"),
        participants_seq=row.participants_seq,
        created_at=row.created_at,
        ended_at=row.ended_at,
    )


def _operation(row: Any) -> Operation:
    return Operation(
        id=row.id,
        connection_id=row.connection_id,
        kind=row.kind,
        leg_id=row.leg_id,
        target=row.target,
        transferee=row.transferee,
        operation_context=row.operation_context,
        callback_uri=row.callback_uri,
        cancel_context=row.cancel_context,
        cancel_callback_uri=row.cancel_callback_uri,
        cancelled=row.cancel_context is not None or row.cancel_callback_uri is not None,
    )


class ConnectionRepo:
    """Queries and changes of connections inside a caller's transaction (``conn``)."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    async def get(self, connection_id: str) -> Connection | None:
        if len(connection_id) > 64:
            return None
        row = (await self.conn.execute(_BY_ID, {"id": connection_id})).first()
        return None if row is None else _connection(row)

    async def live_of_call(self, call_id: str) -> list[Connection]:
        return [
            _connection(r)
            for r in await self.conn.execute(
                _BY_CALL, {"call": call_id, "gone": ConnectionState.DISCONNECTED}
            )
        ]

    async def operations(self, connection_ids: list[str]) -> list[Operation]:
        if not connection_ids:
            return []
        return [_operation(r) for r in await self.conn.execute(_OPS, {"ids": connection_ids})]

    async def insert(self, c: Connection, position_floor: int = 0) -> None:
        await self.conn.execute(
            insert(CC).values(
                id=c.id,
                call_id=c.call_id,
                leg_id=c.leg_id,
                user_id=c.user_id,
                kind=c.kind,
                state=c.state,
                callback_uri=c.callback_uri,
                operation_context=c.operation_context,
                details=json.dumps(c.details, separators=(",", ":")),
                participants_seq=c.participants_seq,
                created_at=c.created_at,
                ended_at=c.ended_at,
            )
        )
        # Callbacks are delivered from this position on (the log's head when it was created).
        await self.conn.execute(
            insert(CUR).values(connection_id=c.id, position=position_floor, done=0, attempts=0)
        )

    async def save(self, c: Connection) -> None:
        await self.conn.execute(
            update(CC)
            .where(CC.c.id == c.id)
            .values(
                state=c.state,
                participants_seq=c.participants_seq,
                ended_at=c.ended_at,
                details=json.dumps(c.details, separators=(",", ":")),
            )
        )
        c.dirty = False

    async def add_operation(self, op: Operation, now: float) -> None:
        await self.conn.execute(
            insert(O).values(
                id=op.id,
                connection_id=op.connection_id,
                kind=op.kind,
                leg_id=op.leg_id,
                target=op.target,
                transferee=op.transferee,
                operation_context=op.operation_context,
                callback_uri=op.callback_uri,
                created_at=now,
            )
        )

    async def mark_cancelled(self, op_id: str, context: str | None, uri: str | None) -> None:
        await self.conn.execute(
            update(O).where(O.c.id == op_id).values(cancel_context=context or "", cancel_callback_uri=uri)
        )

    async def finish_operations(self, ids: list[str]) -> None:
        if ids:
            await self.conn.execute(delete(O).where(O.c.id.in_(ids)))


class CallbackHook:
    """``CallStore`` save hook: callbacks for the call's connections (``translate.react``)."""

    async def __call__(self, tx: CallTx, call: Call, now: float) -> list[DomainEvent]:
        repo = ConnectionRepo(tx.conn)
        connections = await repo.live_of_call(call.id)
        if not connections:
            return []
        operations = await repo.operations([c.id for c in connections])
        events = react(connections, operations, call, now)
        for c in connections:
            if c.dirty:
                await repo.save(c)
            if c.state == ConnectionState.DISCONNECTED:
                events = await _recordings_end(tx.conn, c, events, now)
        await repo.finish_operations([op.id for op in operations if op.done])
        return events


async def _recordings_end(
    conn: Conn, c: Connection, events: list[DomainEvent], now: float
) -> list[DomainEvent]:
    """A recording still active when its connection leaves the call becomes inactive now, and
    the application hears it before ``CallDisconnected`` (nothing follows that); the media
    session finishes the file afterwards."""
    rows = (await conn.execute(select(REC).where(REC.c.connection_id == c.id, REC.c.state == "active"))).all()
    if not rows:
        return events
    await conn.execute(update(REC).where(REC.c.id.in_([r.id for r in rows])).values(state="inactive"))
    changed = [
        callback_event(
            "RecordingStateChanged", connection_id=c.id, call_id=c.call_id,
            uri=r.callback_uri or c.callback_uri, now=now, data={
                "recordingId": r.id, "state": "inactive", "startDateTime": iso_time(r.started_at),
                "recordingKind": "AzureCommunicationServices",
            },
        )
        for r in rows
    ]  # fmt: skip
    last = next(
        (
            i
            for i, e in enumerate(events)
            if e.type.endswith(".CallDisconnected") and e.topic == connection_topic(c.id)
        ),
        len(events),
    )
    return events[:last] + changed + events[last:]


class IncomingCallIssuer:
    """``CallStore`` save hook: an ``IncomingCall`` (Event Grid's data, with a signed
    ``incomingCallContext``) for every participant that starts ringing."""

    def __init__(self, issue: Any, resource: str) -> None:
        self._issue = issue  # ContextSigner.issue
        self._resource = resource

    async def __call__(self, tx: CallTx, call: Call, now: float) -> list[DomainEvent]:
        out = []
        caller = next((x for x in call.legs if x.user_id == call.caller_id), None)
        # A phone number rings as an IncomingCall only when the trunk brought the call to it (a
        # call the PSTN gateway starts); a phone number Telex dials rings at the carrier instead.
        from_trunk = call.caller_id.startswith("4:") and any(
            e.kind is EffectKind.CALL_STARTED for e in call.effects
        )
        for effect in call.effects:
            leg = effect.leg
            if effect.kind is not EffectKind.LEG_ADDED or leg is None or leg.state is not LegState.RINGING:
                continue
            if leg.user_id.startswith("4:") and not from_trunk:
                continue
            expires = leg.ring_deadline if leg.ring_deadline is not None else now + 60
            data = {
                "to": _kind(leg.user_id),
                "from": _kind(call.caller_id),
                "serverCallId": call.id,
                "callerDisplayName": (caller.display_name if caller else None) or "",
                "incomingCallContext": self._issue(call.id, leg.id, leg.user_id, expires),
                "correlationId": call.id,
                "customContext": {"sipHeaders": {}, "voipHeaders": {}},
            }
            if call.group_id is not None:
                data["groupCallId"] = call.group_id
            subject = f"/caller/{call.caller_id}/recipient/{leg.user_id}"
            out.append(DomainEvent(INCOMING_CALL, INCOMING_TOPIC, data, now, subject=subject))
        return out


def _kind(raw: str) -> dict[str, Any]:
    from telex.automation.identifiers import identifier

    return identifier(raw)
