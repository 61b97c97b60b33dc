"""SQL for SMS: one transaction object (``SmsTx``) per service step, Core only.

Writes run in the event backbone's units (``SmsStore.write``), so a message's row and the event
it causes (a delivery report, a received message) commit together. The outbox is the table of
messages itself: ``queued`` rows of a carrier, oldest first, claimed by one node's carrier
connection at a time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Row, and_, bindparam, delete, func, insert, or_, select, update

from telex.events.backbone import Backbone, EventUnit
from telex.events.model import DomainEvent
from telex.sms.schema import sms_carrier_ids as C
from telex.sms.schema import sms_inbound_parts as P
from telex.sms.schema import sms_messages as M
from telex.sms.schema import sms_optouts as O
from telex.sms.schema import sms_unmatched_receipts as U
from telex.store.database import Conn, Database

__all__ = ["Record", "SmsStore", "SmsTx"]

Record = Row[Any]
QUEUED, SUBMITTED, DELIVERED, FAILED, RECEIVED = "queued", "submitted", "delivered", "failed", "received"

# The statements of the outbox's hot path (claim, submitted), built once: building a statement
# per call costs more than running it (events/log.py measured the same).
_MESSAGE = select(M).where(M.c.id == bindparam("id"))
_BY_REQUEST = select(M).where(M.c.request_id == bindparam("rid"))
_OPTED_OUT = select(O.c.recipient).where(
    O.c.sender == bindparam("sender"), O.c.recipient.in_(bindparam("recipients", expanding=True))
)
_CLAIMABLE = (
    select(M)
    .where(M.c.carrier == bindparam("carrier"), M.c.status == QUEUED)
    .where(
        or_(
            M.c.claimed_by.is_(None), M.c.claimed_by == bindparam("node"), M.c.claim_until <= bindparam("now")
        )
    )
    .order_by(M.c.seq)
    .limit(bindparam("n"))
)
_CLAIM = (
    update(M)
    .where(M.c.id.in_(bindparam("ids", expanding=True)), M.c.status == QUEUED)
    .values(claimed_by=bindparam("node"), claim_until=bindparam("until"))
)
_SUBMITTED = (
    update(M)
    .where(M.c.id == bindparam("mid"), M.c.status == QUEUED)
    .values(
        status=SUBMITTED,
        submitted_at=bindparam("at"),
        parts_pending=bindparam("parts"),
        claimed_by=None,
        claim_until=None,
    )
)


class SmsTx:
    def __init__(self, conn: Conn, unit: EventUnit | None) -> None:
        self.conn = conn
        self._unit = unit

    def emit(self, event: DomainEvent) -> None:
        if self._unit is None:
            raise RuntimeError("events are recorded in write transactions only")
        self._unit.emit(event)

    # messages ------------------------------------------------------------------------------------
    async def message(self, message_id: str) -> Record | None:
        return (await self.conn.execute(_MESSAGE, {"id": message_id})).first()

    async def by_request(self, request_id: str) -> Record | None:
        return (await self.conn.execute(_BY_REQUEST, {"rid": request_id})).first()

    async def insert_messages(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self.conn.execute(insert(M), list(rows))

    async def update_message(self, message_id: str, **values: Any) -> None:
        await self.conn.execute(update(M).where(M.c.id == message_id).values(**values))

    async def log(self, number: str, before: int | None, limit: int, *, peer: bool = False) -> list[Record]:
        """Messages of one of our numbers (or, ``peer``, with one outside number), newest first."""
        column = M.c.peer if peer else M.c.number
        q = select(M).where(column == number).order_by(M.c.seq.desc()).limit(limit)
        if before is not None:
            q = q.where(M.c.seq < before)
        return list(await self.conn.execute(q))

    # the outbox ------------------------------------------------------------------------------------
    async def claimable(self, carrier: str, node: str, now: float, limit: int) -> list[Record]:
        """Queued messages of ``carrier`` that no other node holds, oldest first."""
        params = {"carrier": carrier, "node": node, "now": now, "n": limit}
        return list(await self.conn.execute(_CLAIMABLE, params))

    async def claim(self, ids: Sequence[str], node: str, until: float) -> None:
        if ids:
            await self.conn.execute(_CLAIM, {"ids": list(ids), "node": node, "until": until})

    async def mark_submitted(self, message_id: str, now: float, parts: int) -> None:
        await self.conn.execute(_SUBMITTED, {"mid": message_id, "at": now, "parts": parts})

    async def submitted_before(self, carrier: str, before: float, limit: int) -> list[Record]:
        q = (
            select(M)
            .where(
                M.c.carrier == carrier,
                M.c.status == SUBMITTED,
                M.c.direction == "out",
                M.c.submitted_at <= before,
            )
            .order_by(M.c.seq)
            .limit(limit)
        )
        return list(await self.conn.execute(q))

    async def oldest_submitted(self, carrier: str) -> float | None:
        q = select(func.min(M.c.submitted_at)).where(M.c.carrier == carrier, M.c.status == SUBMITTED)
        value = (await self.conn.execute(q)).scalar()
        return float(value) if value is not None else None

    # carrier ids and receipts --------------------------------------------------------------------------
    async def insert_carrier_ids(self, carrier: str, message_id: str, carrier_ids: Iterable[str]) -> None:
        rows = [
            {"carrier": carrier, "carrier_id": cid, "message_id": message_id}
            for cid in dict.fromkeys(carrier_ids)
        ]
        existing = {
            r.carrier_id
            for r in await self.conn.execute(
                select(C.c.carrier_id).where(
                    C.c.carrier == carrier, C.c.carrier_id.in_([r["carrier_id"] for r in rows])
                )
            )
        }
        rows = [r for r in rows if r["carrier_id"] not in existing]
        if rows:
            await self.conn.execute(insert(C), rows)

    async def carrier_id(self, carrier: str, carrier_id: str) -> Record | None:
        q = select(C).where(C.c.carrier == carrier, C.c.carrier_id == carrier_id)
        return (await self.conn.execute(q)).first()

    async def set_outcome(self, carrier: str, carrier_id: str, outcome: str) -> None:
        q = update(C).where(C.c.carrier == carrier, C.c.carrier_id == carrier_id).values(outcome=outcome)
        await self.conn.execute(q)

    async def put_unmatched(
        self, carrier: str, carrier_id: str, delivered: bool, details: str, now: float
    ) -> None:
        await self.conn.execute(delete(U).where(U.c.carrier == carrier, U.c.carrier_id == carrier_id))
        await self.conn.execute(
            insert(U).values(
                carrier=carrier, carrier_id=carrier_id, delivered=delivered, details=details, received_at=now
            )
        )

    async def take_unmatched(self, carrier: str, carrier_ids: Sequence[str]) -> list[Record]:
        where = and_(U.c.carrier == carrier, U.c.carrier_id.in_(list(carrier_ids)))
        rows = list(await self.conn.execute(select(U).where(where)))
        if rows:
            await self.conn.execute(delete(U).where(where))
        return rows

    async def purge_unmatched(self, before: float) -> None:
        await self.conn.execute(delete(U).where(U.c.received_at < before))

    # opt-outs --------------------------------------------------------------------------------------------
    async def opted_out(self, sender: str, recipients: Sequence[str]) -> set[str]:
        if not recipients:
            return set()
        rows = await self.conn.execute(_OPTED_OUT, {"sender": sender, "recipients": list(recipients)})
        return {r.recipient for r in rows}

    async def opt_out(self, sender: str, recipient: str, source: str, now: float) -> None:
        if not await self.opted_out(sender, [recipient]):
            await self.conn.execute(
                insert(O).values(sender=sender, recipient=recipient, source=source, created_at=now)
            )

    async def opt_in(self, sender: str, recipient: str) -> None:
        await self.conn.execute(delete(O).where(O.c.sender == sender, O.c.recipient == recipient))

    # parts of long inbound messages ----------------------------------------------------------------------
    async def put_part(self, key: dict[str, Any], seq: int, text: str, now: float) -> None:
        where = and_(*(P.c[k] == v for k, v in key.items()), P.c.seq == seq)
        if (await self.conn.execute(select(P.c.seq).where(where))).first() is None:  # a part delivered twice
            await self.conn.execute(insert(P).values(**key, seq=seq, text=text, received_at=now))

    async def parts(self, key: dict[str, Any]) -> list[Record]:
        q = select(P).where(*(P.c[k] == v for k, v in key.items())).order_by(P.c.seq)
        return list(await self.conn.execute(q))

    async def drop_parts(self, key: dict[str, Any]) -> None:
        await self.conn.execute(delete(P).where(*(P.c[k] == v for k, v in key.items())))

    async def stale_part_groups(self, before: float, limit: int) -> list[dict[str, Any]]:
        cols = (P.c.carrier, P.c.source, P.c.destination, P.c.ref, P.c.total)
        q = select(*cols).group_by(*cols).having(func.min(P.c.received_at) < before).limit(limit)
        return [dict(r._mapping) for r in await self.conn.execute(q)]


class SmsStore:
    def __init__(self, db: Database, backbone: Backbone) -> None:
        self._db = db
        self._backbone = backbone

    @asynccontextmanager
    async def write(self) -> AsyncIterator[SmsTx]:
        async with self._backbone.write() as unit:
            yield SmsTx(unit.conn, unit)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[SmsTx]:
        async with self._db.read() as conn:
            yield SmsTx(conn, None)
