"""The hot statements SQLite runs on its raw connection (``store.sqlite.FAST``) answer exactly
what SQLAlchemy's own execution answers: the same rows, the same names, the same values."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import Executable

from telex.calling import repository as call_sql
from telex.chat import repository as chat_sql
from telex.events import log as log_sql
from telex.identity import repository as identity_sql
from telex.store.database import Database


def _slow(statement: Executable) -> Executable:
    return statement.execution_options(telex_fast=False)


def _rows(result: Any) -> list[tuple[tuple[str, Any], ...]]:
    return [tuple(zip(row._fields, tuple(row), strict=True)) for row in result]


async def test_fast_statements_answer_as_sqlalchemy_does(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/fast.db")
    await db.migrate()
    user, thread = f"8:acs:{uuid.uuid4()}", f"19:{uuid.uuid4().hex}@thread.v2"
    try:
        async with db.write() as conn:
            await conn.execute(
                identity_sql.users.insert(),
                {"id": user, "created_at": 1.5, "token_generation": 3, "deleted": False},
            )
            await conn.execute(
                chat_sql.T.insert(),
                {"id": thread, "topic": "t", "created_by": user, "created_at": 1.0, "last_message_at": 1.0,
                 "last_seq": 1, "last_message_ms": 1000, "member_count": 1},
            )  # fmt: skip
            await conn.execute(
                chat_sql.M.insert(),
                {
                    "thread_id": thread,
                    "user_id": user,
                    "display_name": "Ann",
                    "added_at": 1.0,
                    "visible_from_seq": 1,
                },
            )
            message = {
                "thread_id": thread, "seq": 2, "id": "2000", "type": "text", "sender_id": user,
                "content": "é ünïcode", "metadata": '{"k":"v"}', "created_at": 2.25, "version": "2000",
            }  # fmt: skip
            await conn.execute(chat_sql._INSERT_MESSAGE, message)
            await conn.execute(chat_sql._BUMP_THREAD, {"t": thread, "seq": 2, "ms": 2000, "at": 2.25})
            await conn.execute(
                call_sql.C.insert(),
                {"id": "c1", "kind": "group", "group_id": "g", "state": "connected", "caller_id": user,
                 "video_offered": True, "created_at": 1.0},
            )  # fmt: skip
            for leg, muted in (("l1", True), ("l2", False)):
                await conn.execute(
                    call_sql.P.insert(),
                    {"id": leg, "call_id": "c1", "user_id": user, "role": "member", "state": "connected",
                     "created_at": 1.0 + muted, "muted": muted, "video": not muted, "screen_sharing": False},
                )  # fmt: skip
            row = log_sql._row(
                log_sql.DomainEvent("chatMessageReceived", thread, {"a": [1, "é"]}, 2.25, user)
            )
            fast = (await conn.execute(log_sql._INSERT_ONE, row)).scalar_one()
            slow = (await conn.execute(_slow(log_sql._INSERT_ONE), row)).scalar_one()
            assert (type(fast), type(slow), slow) == (int, int, fast + 1)
        async with db.read() as conn:
            for statement, params in [
                (chat_sql._MEMBERSHIP, {"t": thread, "u": user}),
                (chat_sql._MEMBERSHIP, {"t": thread, "u": "8:acs:nobody"}),
                (chat_sql._THREAD, {"t": thread}),
                (identity_sql._GET_USER, {"id": user}),
                (call_sql._CALL, {"id": "c1"}),
                (call_sql._LEGS, {"id": "c1"}),
            ]:
                fast_rows = _rows(await conn.execute(statement, params))
                slow_rows = _rows(await conn.execute(_slow(statement), params))
                # Booleans come back from the raw connection as 0/1: the callers convert them.
                assert fast_rows == slow_rows, statement
            thread_row = (await conn.execute(chat_sql._THREAD, {"t": thread})).first()
            assert (thread_row.last_seq, thread_row.last_message_ms, thread_row.last_message_at) == (
                2,
                2000,
                2.25,
            )
            got = (await conn.execute(identity_sql._GET_USER, {"id": user})).first()
            assert identity_sql._record(got).deleted is False
            call = await call_sql.CallTx(conn, None).load("c1")
            assert call is not None and call.video_offered is True
            assert [(leg.muted, leg.video) for leg in call.legs] == [(False, True), (True, False)]
    finally:
        await db.close()
