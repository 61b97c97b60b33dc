"""SQL for chat: one transaction object (``ChatTx``) per service call, SQLAlchemy Core only.

The service opens ``ChatStore.write()`` / ``read()`` and calls ``ChatTx`` methods inside; the
membership check, the change and its events all happen in that one write unit, so a participant
removed by a committed unit can never post afterwards (security.md §2.3). Events go to the
backbone's unit (``emit``), and so does membership of the thread's topic (``join``/``leave``):
chat's own ``chat_memberships`` rows say what a member may *read* (``visible_*_seq``), the
backbone's say which *events* it receives.

The statements of the hot path (a send: membership, insert, counters) are built once, at import.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Row, and_, bindparam, delete, func, insert, or_, select, update

from telex.chat.models import Message, MessageType, Participant, ReadReceipt
from telex.chat.schema import chat_memberships, chat_messages, chat_receipts, chat_threads
from telex.core.ids import UserId
from telex.events.backbone import Backbone, EventUnit
from telex.events.model import DomainEvent
from telex.store.database import FAST, Conn, Database
from telex.store.schema import users

__all__ = ["ChatStore", "ChatTx", "Record", "message_from_row"]

# A row as the repository returns it (attribute access by column name). Services use this
# alias so that only the repository imports SQLAlchemy.
Record = Row[Any]

M = chat_memberships
T = chat_threads
MSG = chat_messages

# A current membership has no end yet (``visible_until_seq`` is set when it ends).
_CURRENT = M.c.visible_until_seq.is_(None)
_MEMBERSHIP = (
    select(M, T.c.last_seq, T.c.last_message_ms, T.c.member_count)
    .join(T, T.c.id == M.c.thread_id)
    .where(M.c.thread_id == bindparam("t"), M.c.user_id == bindparam("u"), _CURRENT)
    .where(T.c.deleted_at.is_(None))
    .execution_options(**FAST)
)
_INSERT_MESSAGE = insert(MSG).execution_options(**FAST)
_BUMP_THREAD = (
    update(T)
    .where(T.c.id == bindparam("t"))
    .values(last_seq=bindparam("seq"), last_message_ms=bindparam("ms"), last_message_at=bindparam("at"))
    .execution_options(**FAST)
)
_THREAD = select(T).where(T.c.id == bindparam("t"), T.c.deleted_at.is_(None)).execution_options(**FAST)


def _participants_json(parts: Iterable[Participant]) -> str:
    return json.dumps([[p.user_id, p.display_name, p.share_history_time] for p in parts])


def message_from_row(row: Row[Any]) -> Message:
    parts = tuple(Participant(UserId(u), n, s) for u, n, s in json.loads(row.participants or "[]"))
    return Message(
        id=row.id,
        type=MessageType(row.type),
        sequence_id=row.seq,
        version=row.version,
        created_at=row.created_at,
        sender_id=UserId(row.sender_id) if row.sender_id else None,
        sender_display_name=row.sender_display_name,
        content=row.content,
        participants=parts,
        initiator_id=UserId(row.initiator_id) if row.initiator_id else None,
        metadata=json.loads(row.metadata) if row.metadata else None,
        edited_at=row.edited_at,
        deleted_at=row.deleted_at,
    )


class ChatTx:
    """Queries and changes inside one transaction."""

    def __init__(self, conn: Conn, unit: EventUnit | None) -> None:
        self.conn = conn
        self._unit = unit

    # threads ---------------------------------------------------------------------------------
    async def thread(self, thread_id: str) -> Row[Any] | None:
        return (await self.conn.execute(_THREAD, {"t": thread_id})).first()

    async def thread_by_request_key(self, key: str) -> Row[Any] | None:
        return (await self.conn.execute(select(T).where(T.c.request_key == key))).first()

    async def insert_thread(self, **values: Any) -> None:
        await self.conn.execute(insert(T).values(**values))

    async def update_thread(self, thread_id: str, **values: Any) -> None:
        await self.conn.execute(update(T).where(T.c.id == thread_id).values(**values))

    async def bump_thread(self, thread_id: str, seq: int, ms: int, at: float) -> None:
        """The thread's counters after a new message (the one update of a send)."""
        await self.conn.execute(_BUMP_THREAD, {"t": thread_id, "seq": seq, "ms": ms, "at": at})

    # memberships -----------------------------------------------------------------------------
    async def membership(self, thread_id: str, user: str) -> Row[Any] | None:
        """The user's current (not ended) membership of a live thread, with the thread's counters
        (``last_seq``, ``last_message_ms``, ``member_count``) so a send needs no second query."""
        if "\x00" in user:
            return None
        return (await self.conn.execute(_MEMBERSHIP, {"t": thread_id, "u": user})).first()

    async def members(self, thread_id: str, user_ids: Iterable[str] | None = None) -> list[Row[Any]]:
        q = select(M).where(M.c.thread_id == thread_id, _CURRENT).order_by(M.c.id)
        if user_ids is not None:
            q = q.where(M.c.user_id.in_(list(user_ids)))
        return list(await self.conn.execute(q))

    async def list_members(self, thread_id: str, skip: int, limit: int) -> list[Row[Any]]:
        q = select(M).where(M.c.thread_id == thread_id, _CURRENT).order_by(M.c.id).offset(skip).limit(limit)
        return list(await self.conn.execute(q))

    async def insert_memberships(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            await self.conn.execute(insert(M), rows)

    async def end_membership(self, membership_id: int, until_seq: int) -> None:
        await self.conn.execute(update(M).where(M.c.id == membership_id).values(visible_until_seq=until_seq))

    async def existing_users(self, ids: Iterable[str]) -> set[str]:
        wanted = list(set(ids))
        if not wanted:
            return set()
        q = select(users.c.id).where(users.c.id.in_(wanted), users.c.deleted.is_(False))
        return {r.id for r in await self.conn.execute(q)}

    # messages --------------------------------------------------------------------------------
    async def insert_message(self, **values: Any) -> None:
        if "participants" in values and not isinstance(values["participants"], str):
            values["participants"] = _participants_json(values["participants"])
        if values.get("metadata") is not None:
            values["metadata"] = json.dumps(values["metadata"])
        await self.conn.execute(_INSERT_MESSAGE, values)

    async def message(self, thread_id: str, message_id: str, from_seq: int) -> Row[Any] | None:
        if "\x00" in message_id:
            return None
        q = select(MSG).where(MSG.c.thread_id == thread_id, MSG.c.id == message_id, MSG.c.seq >= from_seq)
        return (await self.conn.execute(q)).first()

    async def update_message(self, thread_id: str, seq: int, **values: Any) -> None:
        if values.get("metadata") is not None:
            values["metadata"] = json.dumps(values["metadata"])
        await self.conn.execute(
            update(MSG).where(MSG.c.thread_id == thread_id, MSG.c.seq == seq).values(**values)
        )

    async def list_messages(
        self, thread_id: str, from_seq: int, before_seq: int | None, since: float | None, limit: int
    ) -> list[Row[Any]]:
        q = select(MSG).where(MSG.c.thread_id == thread_id, MSG.c.seq >= from_seq)
        if before_seq is not None:
            q = q.where(MSG.c.seq < before_seq)
        if since is not None:
            q = q.where(MSG.c.created_at >= since)
        return list(await self.conn.execute(q.order_by(MSG.c.seq.desc()).limit(limit)))

    async def first_seq_since(self, thread_id: str, since: float) -> int | None:
        q = select(func.min(MSG.c.seq)).where(MSG.c.thread_id == thread_id, MSG.c.created_at >= since)
        value = (await self.conn.execute(q)).scalar()
        return int(value) if value is not None else None

    # threads of a user -----------------------------------------------------------------------
    async def list_threads(
        self, user: str, since: float | None, after: tuple[float, str] | None, limit: int
    ) -> list[Row[Any]]:
        q = (
            select(T)
            .join(M, and_(M.c.thread_id == T.c.id, M.c.user_id == user, _CURRENT))
            .where(T.c.deleted_at.is_(None))
        )
        if since is not None:
            q = q.where(T.c.last_message_at >= since)
        if after is not None:
            at, tid = after
            q = q.where(or_(T.c.last_message_at < at, and_(T.c.last_message_at == at, T.c.id > tid)))
        q = q.order_by(T.c.last_message_at.desc(), T.c.id).limit(limit)
        return list(await self.conn.execute(q))

    # receipts --------------------------------------------------------------------------------
    async def receipt(self, thread_id: str, user: str) -> Row[Any] | None:
        q = select(chat_receipts).where(
            chat_receipts.c.thread_id == thread_id, chat_receipts.c.user_id == user
        )
        return (await self.conn.execute(q)).first()

    async def put_receipt(self, thread_id: str, user: str, message_id: str, seq: int, now: float) -> None:
        await self.conn.execute(
            delete(chat_receipts).where(
                chat_receipts.c.thread_id == thread_id, chat_receipts.c.user_id == user
            )
        )
        await self.conn.execute(
            insert(chat_receipts).values(
                thread_id=thread_id, user_id=user, message_id=message_id, seq=seq, read_at=now
            )
        )

    async def list_receipts(self, thread_id: str, from_seq: int, skip: int, limit: int) -> list[ReadReceipt]:
        # Only receipts of current members, for messages the caller may see.
        q = (
            select(chat_receipts)
            .join(M, and_(M.c.thread_id == chat_receipts.c.thread_id, M.c.user_id == chat_receipts.c.user_id))
            .where(chat_receipts.c.thread_id == thread_id, _CURRENT)
            .where(chat_receipts.c.seq >= from_seq)
            .order_by(M.c.id)
            .offset(skip)
            .limit(limit)
        )
        return [ReadReceipt(UserId(r.user_id), r.message_id, r.read_at) for r in await self.conn.execute(q)]

    # events (through the unit's backbone) -----------------------------------------------------
    def _events(self) -> EventUnit:
        if self._unit is None:
            raise RuntimeError("events are recorded in write transactions only")
        return self._unit

    def emit(self, event: DomainEvent) -> None:
        self._events().emit(event)

    def join(self, thread_id: str, user: str) -> None:
        """``user`` receives the thread's events from this unit's first one on."""
        self._events().join(thread_id, user)

    def leave(self, thread_id: str, user: str) -> None:
        """``user`` receives the thread's events up to this unit's last one."""
        self._events().leave(thread_id, user)


class ChatStore:
    def __init__(self, db: Database, backbone: Backbone) -> None:
        self._db = db
        self._backbone = backbone

    @asynccontextmanager
    async def write(self) -> AsyncIterator[ChatTx]:
        """A write unit: its changes and events commit together (group-committed)."""
        async with self._backbone.write() as unit:
            yield ChatTx(unit.conn, unit)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[ChatTx]:
        async with self._db.read() as conn:
            yield ChatTx(conn, None)
