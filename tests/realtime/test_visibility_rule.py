"""The visibility rule exists once, in two languages: ``EventLog.visible`` (SQL, for resumes) and
``Interval.contains`` over ``EventLog.audiences`` (Python, for the hub). Random histories of
joins, leaves and events, written through the backbone's units, must give both the same answer
for every user, on SQLite and on PostgreSQL."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from telex.bus import LocalBus
from telex.events.audience import visible
from telex.events.backbone import Backbone
from telex.events.log import EventLog
from telex.events.model import DomainEvent
from telex.store.database import Database

USERS = [f"8:acs:u{i}" for i in range(5)]
TOPICS = ["19:a@thread.v2", "call:c", "call:c/l1"]


@pytest.mark.parametrize("seed", range(4))
async def test_sql_and_python_agree_on_who_sees_what(tmp_path: Path, database_url: str, seed: int) -> None:
    db = Database(database_url or f"sqlite:///{tmp_path}/v.db")
    await db.migrate()
    log = EventLog(db)
    backbone = Backbone(db, log, LocalBus())
    rng = random.Random(seed)
    members: set[tuple[str, str]] = set()
    try:
        for _ in range(60):
            async with backbone.write() as unit:
                for _ in range(rng.randint(1, 3)):
                    unit.emit(DomainEvent("e", rng.choice(TOPICS), {}, 0.0))
                for _ in range(rng.randint(0, 2)):
                    topic, user = rng.choice(TOPICS), rng.choice(USERS)
                    if (topic, user) in members:
                        unit.leave(topic, user)
                        members.discard((topic, user))
                    else:
                        unit.join(topic, user)
                        members.add((topic, user))
        events = await log.read_after(0, 10_000)
        audiences = await log.audiences(TOPICS)
        for user in USERS:
            by_sql = [e.position for e in await log.visible(user, 0, 10_000)]
            by_rule = [e.position for e in events if user in visible(audiences[e.topic], e.position)]
            assert by_sql == by_rule, user
            # and from a cursor in the middle, as a resume reads it
            middle = events[len(events) // 2].position
            assert [e.position for e in await log.visible(user, middle, 10_000)] == [
                p for p in by_rule if p > middle
            ]
    finally:
        await db.close()
