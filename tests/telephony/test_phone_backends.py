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
