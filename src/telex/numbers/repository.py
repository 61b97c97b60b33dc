"""SQL for phone numbers: one transaction object (``NumbersTx``) per service step, Core only.

Nothing here decides anything: the service checks, then changes, inside one ``write()`` unit.
Write units are serialised, so "is this number free?" and "hold it" cannot be split by another
unit's change (numbers/schema.py).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Row, and_, bindparam, delete, insert, or_, select, update

from telex.numbers.model import AssignmentType, Capabilities, Capability, Cost, NumberType, OwnedNumber
from telex.numbers.operations import Operation, OperationKind, OperationStatus
from telex.numbers.schema import number_holds as H
from telex.numbers.schema import number_operations as O
from telex.numbers.schema import number_reservations as R
from telex.numbers.schema import number_searches as S
from telex.numbers.schema import phone_numbers as N
from telex.store.database import Conn, Database
from telex.telephony.numbers import E164

__all__ = ["NumbersStore", "NumbersTx", "Record", "owned_from_row"]

Record = Row[Any]
OWNED = "owned"
RELEASED = "released"
_CHUNK = 500  # bound parameters per IN list
# Every SMS send and inbound message asks this: built once (building costs more than running it).
_NUMBER = select(N).where(N.c.e164 == bindparam("e164"))


def owned_from_row(row: Any) -> OwnedNumber:
    return OwnedNumber(
        e164=E164(row.e164),
        country=row.country,
        number_type=NumberType(row.number_type),
        assignment=AssignmentType(row.assignment),
        capabilities=Capabilities(Capability(row.calling), Capability(row.sms)),
        cost=Cost(row.cost, row.currency),
        purchased_at=row.purchased_at,
    )


def operation_from_row(row: Any) -> Operation:
    return Operation(
        id=row.id, kind=OperationKind(row.kind), status=OperationStatus(row.status), subject=row.subject,
        created_at=row.created_at, last_action_at=row.last_action_at, lease_until=row.lease_until,
        resource_location=row.resource_location, error_code=row.error_code,
        error_message=row.error_message, request=row.request,
    )  # fmt: skip


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


class NumbersTx:
    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    # owned numbers ---------------------------------------------------------------------------
    async def number(self, e164: str) -> Record | None:
        """The number's row, owned or released (None if it was never bought here)."""
        return (await self.conn.execute(_NUMBER, {"e164": e164})).first()

    async def owned(self, e164: str) -> OwnedNumber | None:
        row = await self.number(e164)
        return owned_from_row(row) if row is not None and row.status == OWNED else None

    async def list_owned(self, skip: int, top: int) -> list[OwnedNumber]:
        q = select(N).where(N.c.status == OWNED).order_by(N.c.e164).offset(skip).limit(top)
        return [owned_from_row(r) for r in await self.conn.execute(q)]

    async def put_owned(self, numbers: Sequence[OwnedNumber]) -> None:
        """Make ``numbers`` owned (a released number is bought again in place)."""
        for n in numbers:
            values = {
                "country": n.country, "number_type": n.number_type.value, "assignment": n.assignment.value,
                "calling": n.capabilities.calling.value, "sms": n.capabilities.sms.value,
                "cost": n.cost.amount, "currency": n.cost.currency, "status": OWNED,
                "purchased_at": n.purchased_at, "released_at": None,
            }  # fmt: skip
            if await self.number(n.e164) is None:
                await self.conn.execute(insert(N).values(e164=n.e164, **values))
            else:
                await self.conn.execute(update(N).where(N.c.e164 == n.e164).values(**values))

    async def release(self, e164: str, now: float) -> None:
        q = update(N).where(N.c.e164 == e164, N.c.status == OWNED).values(status=RELEASED, released_at=now)
        await self.conn.execute(q)

    async def set_capabilities(self, e164: str, capabilities: Capabilities) -> None:
        q = (
            update(N)
            .where(N.c.e164 == e164)
            .values(calling=capabilities.calling.value, sms=capabilities.sms.value)
        )
        await self.conn.execute(q)

    # availability ----------------------------------------------------------------------------
    async def unavailable(self, numbers: Sequence[str], now: float, *, except_holder: str = "") -> set[str]:
        """Which of ``numbers`` are owned or held (by a holder other than ``except_holder``)."""
        out: set[str] = set()
        for chunk in _chunks(numbers):
            owned = select(N.c.e164).where(N.c.status == OWNED, N.c.e164.in_(chunk))
            held = select(H.c.e164).where(
                H.c.expires_at > now, H.c.holder != except_holder, H.c.e164.in_(chunk)
            )
            out.update(r[0] for r in await self.conn.execute(owned))
            out.update(r[0] for r in await self.conn.execute(held))
        return out

    async def hold(
        self, numbers: Sequence[str], holder: str, expires_at: float, attrs: dict[str, Any], now: float
    ) -> None:
        """Hold free ``numbers`` for ``holder`` (expired holds of them are dropped first)."""
        for chunk in _chunks(numbers):
            await self.conn.execute(delete(H).where(H.c.e164.in_(chunk), H.c.expires_at <= now))
        text = json.dumps(attrs, separators=(",", ":"))
        await self.conn.execute(
            insert(H),
            [{"e164": n, "holder": holder, "expires_at": expires_at, "attrs": text} for n in numbers],
        )

    async def holds(self, holder: str) -> list[Record]:
        return list(await self.conn.execute(select(H).where(H.c.holder == holder).order_by(H.c.e164)))

    async def extend_holds(self, holder: str, expires_at: float) -> None:
        await self.conn.execute(update(H).where(H.c.holder == holder).values(expires_at=expires_at))

    async def drop_holds(self, holder: str, numbers: Sequence[str] | None = None) -> None:
        q = delete(H).where(H.c.holder == holder)
        if numbers is not None:
            q = q.where(H.c.e164.in_(list(numbers)))
        await self.conn.execute(q)

    # searches --------------------------------------------------------------------------------
    async def insert_search(self, **values: Any) -> None:
        await self.conn.execute(insert(S).values(**values))

    async def search(self, search_id: str) -> Record | None:
        return (await self.conn.execute(select(S).where(S.c.id == search_id))).first()

    async def update_search(self, search_id: str, **values: Any) -> None:
        await self.conn.execute(update(S).where(S.c.id == search_id).values(**values))

    # reservations ----------------------------------------------------------------------------
    async def reservation(self, reservation_id: str) -> Record | None:
        return (await self.conn.execute(select(R).where(R.c.id == reservation_id))).first()

    async def reservations(self, after: str | None, limit: int) -> list[Record]:
        q = select(R).order_by(R.c.id).limit(limit)
        if after is not None:
            q = q.where(R.c.id > after)
        return list(await self.conn.execute(q))

    async def put_reservation(self, reservation_id: str, **values: Any) -> None:
        if await self.reservation(reservation_id) is None:
            await self.conn.execute(insert(R).values(id=reservation_id, **values))
        else:
            await self.conn.execute(update(R).where(R.c.id == reservation_id).values(**values))

    async def delete_reservation(self, reservation_id: str) -> None:
        await self.conn.execute(delete(R).where(R.c.id == reservation_id))

    # operations ------------------------------------------------------------------------------
    async def insert_operation(self, op: Operation) -> None:
        await self.conn.execute(
            insert(O).values(
                id=op.id,
                kind=op.kind.value,
                status=op.status.value,
                subject=op.subject,
                request=op.request,
                created_at=op.created_at,
                last_action_at=op.last_action_at,
                lease_until=op.lease_until,
                resource_location=op.resource_location,
                error_code=op.error_code,
                error_message=op.error_message,
            )
        )

    async def operation(self, operation_id: str) -> Operation | None:
        row = (await self.conn.execute(select(O).where(O.c.id == operation_id))).first()
        return operation_from_row(row) if row is not None else None

    async def update_operation(self, operation_id: str, **values: Any) -> None:
        await self.conn.execute(update(O).where(O.c.id == operation_id).values(**values))

    async def delete_operation(self, operation_id: str) -> None:
        await self.conn.execute(delete(O).where(O.c.id == operation_id))

    async def claimable_operations(self, now: float, limit: int) -> list[str]:
        q = (
            select(O.c.id)
            .where(
                or_(
                    O.c.status == OperationStatus.NOT_STARTED.value,
                    and_(O.c.status == OperationStatus.RUNNING.value, O.c.lease_until <= now),
                )
            )
            .order_by(O.c.created_at)
            .limit(limit)
        )
        return [r.id for r in await self.conn.execute(q)]

    async def purge(self, before: float) -> None:
        """Forget operations, searches and reservations that ended before ``before``."""
        terminal = [OperationStatus.SUCCEEDED.value, OperationStatus.FAILED.value]
        await self.conn.execute(delete(O).where(O.c.status.in_(terminal), O.c.last_action_at < before))
        old = or_(S.c.expires_at < before, and_(S.c.expires_at.is_(None), S.c.created_at < before))
        await self.conn.execute(delete(S).where(old))
        await self.conn.execute(delete(R).where(R.c.expires_at < before))
        await self.conn.execute(delete(H).where(H.c.expires_at < before))


class NumbersStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    @asynccontextmanager
    async def write(self) -> AsyncIterator[NumbersTx]:
        async with self._db.write() as conn:
            yield NumbersTx(conn)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[NumbersTx]:
        async with self._db.read() as conn:
            yield NumbersTx(conn)
