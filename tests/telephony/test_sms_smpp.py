"""SMS end to end through the service and its SMPP carrier to an independent SMSC on loopback
(tests/telephony/smsc.pl on Debian's Net::SMPP): concatenated GSM-7 with escapes and UCS-2 with
an emoji, receipts becoming SMSDeliveryReportReceived events, MO becoming SMSReceived (a long
one joined), throttling honoured, and an SMSC restart in the middle of a batch losing nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from telex.core.clock import SystemClock
from telex.sms.events import DELIVERY_REPORT, RECEIVED
from telex.telephony.segments import decode_gsm7, parse_udh
from tests.telephony.conftest import PerlSmsc
from tests.telephony.phone import Phone, phone_node
from tests.telephony.test_smsc_perl import LONG_GSM, LONG_UCS2

pytestmark = pytest.mark.timeout(90)

OURS = "+14255550100"  # the number smsc.pl's MO messages go to


async def wait_for(predicate: Callable[[], Any], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def smpp_phone(tmp_path: Path, smsc: PerlSmsc, **carrier: Any) -> AsyncIterator[Phone]:
    """A node whose numbers +1 425 555 0100..0109 belong to the SMSC's carrier; OURS is owned
    before the carrier connects, so the SMSC's first MO finds it."""
    config = {
        "name": "perl", "numbers": ["+14255550100-+14255550109"], "host": "127.0.0.1", "port": smsc.port,
        "system_id": "acs", "password": "secret", "response_timeout": 5.0, "reconnect_delay": 0.1,
        "reconnect_max": 0.5, "poll_seconds": 0.2, **carrier,
    }  # fmt: skip
    async with phone_node(tmp_path, SystemClock(), carriers={"smpp": [config]}) as phone:
        assert await phone.own(1) == [OURS]
        phone.node.start_background()
        yield phone


async def send(phone: Phone, *to: str, message: str, report: bool = True) -> list[str]:
    body = {
        "from": OURS, "message": message, "smsRecipients": [{"to": t} for t in to],
        "smsSendOptions": {"enableDeliveryReport": report, "tag": "smpp"},
    }  # fmt: skip
    r = await phone.api.post("/sms", json=body)
    assert r.status_code == 202, r.text
    assert all(x["successful"] for x in r.json()["value"])
    return [x["messageId"] for x in r.json()["value"]]


async def statuses(phone: Phone) -> dict[str, str]:
    log = await phone.tel.sms.log(OURS, None, 1000)
    return {m.id: m.status for m in log if m.direction == "out"}


async def test_long_messages_receipts_and_mo(tmp_path: Path, perl_smsc: PerlSmsc) -> None:
    perl_smsc.start("--mo")
    async with smpp_phone(tmp_path, perl_smsc) as phone:
        gsm, ucs2, failing = (
            *await send(phone, "+14255550123", message=LONG_GSM),
            *await send(phone, "+14255550124", message=LONG_UCS2),
            *await send(phone, "+14255550000", message="to nobody"),
        )

        async def reported() -> bool:
            return len(await phone.events(DELIVERY_REPORT)) == 3 and len(await phone.events(RECEIVED)) == 3

        await wait_for(reported)
        reports = {e.data["messageId"]: e.data for e in await phone.events(DELIVERY_REPORT)}
        assert reports[gsm]["deliveryStatus"] == "Delivered" and reports[gsm]["tag"] == "smpp"
        assert reports[gsm]["deliveryAttempts"][0]["segmentsSucceeded"] == 3
        assert reports[ucs2]["deliveryStatus"] == "Delivered"
        assert reports[failing]["deliveryStatus"] == "Failed"
        assert reports[failing]["deliveryStatusDetails"] == "Undeliverable (err 001)."
        received = [
            (e.data["from"], e.data["message"], e.data["segmentCount"]) for e in await phone.events(RECEIVED)
        ]
        assert received == [
            ("+14255550123", "STOP", 1), ("+14255550124", "Hola 👋", 1),
            ("+14255550125", "First half, second half.", 2),
        ]  # fmt: skip
        # STOP opted +14255550123 out, and its confirmation went out through the SMSC
        check = await phone.tel.sms.optouts("check", OURS, ["+14255550123"])
        assert check[0].opted_out

        async def confirmed() -> bool:
            return any(bytes.fromhex(r[10]).startswith(b"You have been") for r in perl_smsc.submits())

        await wait_for(confirmed)
        assert set((await statuses(phone)).values()) <= {"delivered", "failed", "submitted"}
    rows = perl_smsc.submits()
    gsm_parts = {}
    ucs2_parts = {}
    for row in rows:
        if row[6] == "14255550123" and int(row[7]) == 0x40:
            concat, body = parse_udh(bytes.fromhex(row[10]))
            assert concat is not None and not body.endswith(b"\x1b")
            gsm_parts[concat.seq] = body
        elif row[6] == "14255550124":
            assert int(row[8]) == 8
            concat, body = parse_udh(bytes.fromhex(row[10]))
            assert concat is not None
            ucs2_parts[concat.seq] = body
    assert decode_gsm7(b"".join(gsm_parts[i] for i in sorted(gsm_parts))) == LONG_GSM
    assert b"".join(ucs2_parts[i] for i in sorted(ucs2_parts)).decode("utf-16-be") == LONG_UCS2
    assert len(gsm_parts) == 3 and len(ucs2_parts) == 2


async def test_throttling_is_honoured(tmp_path: Path, perl_smsc: PerlSmsc) -> None:
    perl_smsc.start("--throttle", "5")
    async with smpp_phone(tmp_path, perl_smsc, throttle_backoff=0.3, throttle_backoff_max=1.0) as phone:
        targets = [f"+1425555013{i}" for i in range(10)] + ["+14255550141", "+14255550142"]
        ids = await send(phone, *targets, message="burst", report=True)

        async def done() -> bool:
            found = await statuses(phone)
            return all(found.get(i) == "delivered" for i in ids)

        await wait_for(done)
    log = perl_smsc.log()
    assert any(row[0] == "THROTTLED" for row in log)
    assert sorted(row[6] for row in log if row[0] == "SUBMIT") == sorted(t[1:] for t in targets)


async def test_smsc_restart_mid_batch_loses_nothing(tmp_path: Path, perl_smsc: PerlSmsc) -> None:
    first = perl_smsc.start("--die-after", "7", "--id-prefix", "A", log="first.log")
    async with smpp_phone(tmp_path, perl_smsc, window=5) as phone:
        targets = [f"+142555501{i:02d}" for i in range(20, 40)]
        ids = await send(phone, *targets, message="batch", report=True)
        await asyncio.wait_for(asyncio.to_thread(first.wait), 20)  # it died on the 8th submit_sm
        perl_smsc.start("--id-prefix", "B", log="second.log")

        async def done() -> bool:
            found = await statuses(phone)
            return all(found.get(i) == "delivered" for i in ids)

        await wait_for(done)
        reports = await phone.events(DELIVERY_REPORT)
        assert {e.data["messageId"] for e in reports} == set(ids)
    reached = {r[6] for r in perl_smsc.submits("first.log")} | {r[6] for r in perl_smsc.submits("second.log")}
    assert reached == {t[1:] for t in targets}
