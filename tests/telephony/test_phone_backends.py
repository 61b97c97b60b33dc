"""The races that matter, on SQLite and PostgreSQL alike: concurrent purchases of one search,
concurrent searches never holding one number twice, and 100 concurrent identical SMS sends making
one message. Both stores serialise write units (one SQLite writer; PostgreSQL's append lock)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest

from telex.numbers.model import AssignmentType, Capabilities, Capability, NumberType
from telex.numbers.operations import OperationStatus
from telex.numbers.service import SearchRequest
from tests.telephony.phone import phone_node

pytestmark = pytest.mark.timeout(120)

BOTH = Capabilities(Capability.INBOUND_OUTBOUND, Capability.INBOUND_OUTBOUND)


async def test_races(tmp_path: Path, database_url: str) -> None:
    async with phone_node(tmp_path, database=database_url) as phone:
        numbers = phone.tel.numbers
        req = SearchRequest("US", NumberType.GEOGRAPHIC, AssignmentType.APPLICATION, BOTH, "312", 7)
        searches = await asyncio.gather(*(numbers.begin_search(req) for _ in range(10)))
        await phone.settle()
        held: list[str] = []
        for _, search_id in searches:
            held += (await numbers.search_result(search_id)).numbers
        assert len(held) == len(set(held)) == 70  # ten searches, no number twice
        _, search_id = searches[0]
        ops = await asyncio.gather(*(numbers.begin_purchase(search_id, False) for _ in range(5)))
        await phone.settle()
        statuses = sorted([(await numbers.operation(op.id)).status for op in ops])
        assert statuses == [OperationStatus.FAILED] * 4 + [OperationStatus.SUCCEEDED]

        sender = (await numbers.search_result(search_id)).numbers[0]
        sent = format_datetime(datetime.fromtimestamp(phone.clock.now(), UTC), usegmt=True)
        recipient = {
            "to": "+13125550199",
            "repeatabilityRequestId": str(uuid.uuid4()),
            "repeatabilityFirstSent": sent,
        }
        body = {"from": sender, "message": "once", "smsRecipients": [recipient]}
        responses = await asyncio.gather(*(phone.api.post("/sms", json=body) for _ in range(100)))
        assert {r.status_code for r in responses} == {202}
        assert len({r.json()["value"][0]["messageId"] for r in responses}) == 1
        assert len(await phone.tel.sms.log(sender, None, 1000)) == 1


async def test_two_nodes_share_one_outbox(tmp_path: Path, database_url: str) -> None:
    """Each node's carrier connection claims its own messages; a dead node's are taken over once
    its claim lapsed; a message leaves the outbox once, whichever node sent it."""
    from telex.app import Node
    from telex.core.clock import FakeClock
    from telex.sms.service import Recipient
    from tests.conftest import make_settings

    clock = FakeClock()
    settings = make_settings(tmp_path, database=database_url, sms={"per_minute_geographic": 0})
    a, b = await Node.open(settings, clock), await Node.open(settings, clock)
    try:
        assert a.telephony is not None and b.telephony is not None
        req = SearchRequest("US", NumberType.GEOGRAPHIC, AssignmentType.APPLICATION, BOTH, "617", 1)
        op, search_id = await a.telephony.numbers.begin_search(req)
        await a.telephony.numbers.run_operation(op.id)
        [sender] = (await a.telephony.numbers.search_result(search_id)).numbers
        op = await a.telephony.numbers.begin_purchase(search_id, False)
        await a.telephony.numbers.run_operation(op.id)
        for node in (a, b, a):
            await node.telephony.sms.send(sender, "hi", [Recipient("+16175550199")] * 100)
        # a node claims 200 at a time (CLAIM_AHEAD) whatever it asks for
        first = await a.telephony.sms.claim("simulated", "node-a", 50, 60)
        second = await b.telephony.sms.claim("simulated", "node-b", 150, 60)
        assert len(first) == 50 and len(second) == 100
        assert not {m.id for m in first} & {m.id for m in second}
        await b.telephony.sms.submitted_many("simulated", [(m.id, ["x" + m.id]) for m in second])
        assert await b.telephony.sms.claim("simulated", "node-b", 150, 60) == []
        clock.advance(61)  # node a died holding 200
        taken = await b.telephony.sms.claim("simulated", "node-b", 300, 60)
        assert len(taken) == 200 and {m.id for m in first} <= {m.id for m in taken}
        await b.telephony.sms.submitted_many("simulated", [(m.id, ["y" + m.id]) for m in taken])
        await a.telephony.sms.submitted_many("simulated", [(m.id, ["z" + m.id]) for m in first])  # too late
        log = await a.telephony.sms.log(sender, None, 200)
        log += await a.telephony.sms.log(sender, log[-1].seq, 200)
        assert len(log) == 300 and {m.status for m in log} == {"submitted"}
    finally:
        await a.close()
        await b.close()
