"""SMS through the API of an in-process node on a fake clock, on the simulated carrier: sending,
delivery reports and inbound messages as events, capabilities, repeatability (security.md G18,
row by row), 100 concurrent identical sends, rate limits, opt-outs, the log, and bad input."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from telex.numbers.model import Capability
from telex.sms.events import DELIVERY_REPORT, RECEIVED
from tests.telephony.phone import Phone, phone_node

pytestmark = pytest.mark.timeout(60)

OUTSIDE = "+14255550123"  # not in the inventory: a handset out there


@pytest.fixture
async def phone(tmp_path: Path) -> Any:
    async with phone_node(tmp_path) as p:
        yield p


def sms(
    sender: str,
    *to: str | dict[str, Any],
    message: str = "hello",
    report: bool = False,
    tag: str | None = None,
) -> dict[str, Any]:
    recipients = [r if isinstance(r, dict) else {"to": r} for r in to]
    options: dict[str, Any] = {"enableDeliveryReport": report}
    if tag is not None:
        options["tag"] = tag
    return {"from": sender, "message": message, "smsRecipients": recipients, "smsSendOptions": options}


def first_sent(phone: Phone, ago: float = 0.0) -> str:
    return format_datetime(datetime.fromtimestamp(phone.clock.now() - ago, UTC), usegmt=True)


async def test_send_report_and_loopback(phone: Phone) -> None:
    a, b = await phone.own(2)
    r = await phone.api.post(
        "/sms?api-version=2021-03-07", json=sms(a, b, OUTSIDE, message="hi there", report=True, tag="t-1")
    )
    assert r.status_code == 202, r.text
    results = r.json()["value"]
    assert [x["httpStatusCode"] for x in results] == [202, 202] and all(x["successful"] for x in results)
    assert (
        all(x["messageId"].startswith("Outgoing_") for x in results)
        and "repeatabilityResult" not in results[0]
    )
    await phone.deliver()
    reports = {e.data["to"]: e for e in await phone.events(DELIVERY_REPORT)}
    report = reports[b]
    assert report.topic == f"sms:{a}" and report.subject == "/phonenumber/" + a[1:]
    assert report.data["deliveryStatus"] == "Delivered" and report.data["tag"] == "t-1"
    assert report.data["messageId"] == results[0]["messageId"] and report.data["from"] == a
    assert report.data["deliveryAttempts"][0]["segmentsSucceeded"] == 1
    assert reports[OUTSIDE].data["deliveryStatus"] == "Delivered"
    [received] = await phone.events(RECEIVED)
    assert received.topic == f"sms:{b}" and received.subject == "/phonenumber/" + b[1:]
    assert received.data | {"messageId": "", "receivedTimestamp": ""} == {
        "messageId": "",
        "from": a,
        "to": b,
        "message": "hi there",
        "receivedTimestamp": "",
        "segmentCount": 1,
    }
    log = (await phone.api.get(f"/sms/numbers/{b}/messages")).json()["value"]
    assert [(m["direction"], m["from"], m["status"]) for m in log] == [("inbound", a, "received")]
    handset = (await phone.api.get(f"/simulator/handsets/{OUTSIDE}/messages")).json()["value"]
    assert [(m["from"], m["message"], m["status"]) for m in handset] == [(a, "hi there", "delivered")]


async def test_no_report_unless_asked_and_failures_from_receipt_rules(phone: Phone) -> None:
    [a] = await phone.own(1)
    r = await phone.api.post("/sms", json=sms(a, "+14255550000", report=True))
    r2 = await phone.api.post("/sms", json=sms(a, OUTSIDE))
    await phone.deliver()
    [report] = await phone.events(DELIVERY_REPORT)
    assert report.data["messageId"] == r.json()["value"][0]["messageId"]
    assert (
        report.data["deliveryStatus"] == "Failed"
        and report.data["deliveryStatusDetails"] == "Unknown subscriber."
    )
    assert report.data["deliveryAttempts"][0] == {
        "timestamp": report.data["deliveryAttempts"][0]["timestamp"],
        "segmentsSucceeded": 0,
        "segmentsFailed": 1,
    }
    log = {m["id"]: m["status"] for m in (await phone.api.get(f"/sms/numbers/{a}/messages")).json()["value"]}
    assert log[r2.json()["value"][0]["messageId"]] == "delivered"


async def test_segments_and_encodings_are_counted(phone: Phone) -> None:
    [a] = await phone.own(1)
    long_gsm = "€" * 81  # 162 septets: two parts
    ucs2 = "Привет 👋" * 10  # 90 UTF-16 units: two parts
    await phone.api.post("/sms", json=sms(a, OUTSIDE, message=long_gsm, report=True))
    await phone.api.post("/sms", json=sms(a, OUTSIDE, message=ucs2, report=True))
    await phone.deliver()
    counts = sorted(
        e.data["deliveryAttempts"][0]["segmentsSucceeded"] for e in await phone.events(DELIVERY_REPORT)
    )
    assert counts == [2, 2]
    log = (await phone.api.get(f"/sms/numbers/{a}/messages")).json()["value"]
    assert {m["segmentCount"] for m in log} == {2}


@pytest.mark.parametrize(("sms_cap", "status"), [("none", 401), ("inbound", 401), ("outbound", 202)])
async def test_the_sender_needs_outbound_sms(phone: Phone, sms_cap: str, status: int) -> None:
    [a] = await phone.own(1, sms=Capability(sms_cap))
    r = await phone.api.post("/sms", json=sms(a, OUTSIDE))
    assert r.status_code == status, r.text
    if status == 401:
        assert r.json()["error"]["code"] == "Unauthorized"


async def test_a_recipient_here_needs_inbound_sms(phone: Phone) -> None:
    [a] = await phone.own(1)
    [b] = await phone.own(1, area_code="206", sms=Capability.OUTBOUND)
    await phone.api.post("/sms", json=sms(a, b, report=True))
    await phone.deliver()
    [report] = await phone.events(DELIVERY_REPORT)
    assert report.data["deliveryStatus"] == "Failed" and not await phone.events(RECEIVED)


async def test_numbers_not_owned_or_released_cannot_send(phone: Phone) -> None:
    [a] = await phone.own(1)
    await phone.tel.numbers.begin_release(a)
    await phone.settle()
    for sender in (a, "+14255550150", "+442071838750"):
        r = await phone.api.post("/sms", json=sms(sender, OUTSIDE))
        assert r.status_code == 401 and r.json()["error"]["code"] == "Unauthorized"


@pytest.mark.parametrize(
    ("mutate", "status"),
    [
        (lambda b: b.update({"from": "+1425555010"}), 400),
        (lambda b: b.update({"from": "Contoso"}), 400),
        (lambda b: b.update({"from": ""}), 400),
        (lambda b: b.update({"message": ""}), 400),
        (lambda b: b.update({"message": "x" * 2049}), 400),
        (lambda b: b.update({"message": 5}), 400),
        (lambda b: b.update({"smsRecipients": []}), 400),
        (lambda b: b.update({"smsRecipients": [{"to": OUTSIDE}] * 101}), 400),
        (lambda b: b.pop("smsRecipients"), 400),
        (lambda b: b.pop("from"), 400),
        (lambda b: b.update({"smsSendOptions": {"enableDeliveryReport": "yes"}}), 400),
    ],
)
async def test_bad_requests_are_400(phone: Phone, mutate: Any, status: int) -> None:
    [a] = await phone.own(1)
    body = sms(a, OUTSIDE)
    mutate(body)
    r = await phone.api.post("/sms", json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] in ("ValidationFailed", "BadRequest")


async def test_malformed_recipients_fail_alone(phone: Phone) -> None:
    [a] = await phone.own(1)
    r = await phone.api.post("/sms", json=sms(a, OUTSIDE, "+1425555012345", "not a number", "+999"))
    results = r.json()["value"]
    assert [x["httpStatusCode"] for x in results] == [202, 400, 400, 400]
    assert {x["errorMessage"] for x in results[1:]} == {"Invalid To phone number format."}
    assert not any(x["successful"] for x in results[1:]) and all("messageId" not in x for x in results[1:])


# repeatability, row by row (security.md G18) ----------------------------------------------------------
async def test_repeatability_rows(phone: Phone) -> None:
    [a] = await phone.own(1)
    rid = str(uuid.uuid4())

    async def send(recipient: dict[str, Any], message: str = "same") -> dict[str, Any]:
        r = await phone.api.post("/sms", json=sms(a, recipient, message=message))
        assert r.status_code == 202, r.text
        return dict(r.json()["value"][0])

    first = await send(
        {"to": OUTSIDE, "repeatabilityRequestId": rid, "repeatabilityFirstSent": first_sent(phone)}
    )
    assert first["repeatabilityResult"] == "accepted" and first["httpStatusCode"] == 202
    phone.clock.advance(60)
    # same id, same body, within the window: the same result
    again = await send(
        {"to": OUTSIDE, "repeatabilityRequestId": rid, "repeatabilityFirstSent": first_sent(phone, 60)}
    )
    assert again == first
    # same id, another body: refused
    other = await send(
        {"to": OUTSIDE, "repeatabilityRequestId": rid, "repeatabilityFirstSent": first_sent(phone, 60)},
        "different",
    )
    assert (
        other["httpStatusCode"] == 400
        and other["repeatabilityResult"] == "rejected"
        and not other["successful"]
    )
    # first sent longer ago than the window: 412
    old = await send(
        {
            "to": OUTSIDE,
            "repeatabilityRequestId": str(uuid.uuid4()),
            "repeatabilityFirstSent": first_sent(phone, 301),
        }
    )
    assert old["httpStatusCode"] == 412 and old["repeatabilityResult"] == "rejected"
    # malformed id, malformed date, one without the other: 400
    for bad in (
        {"repeatabilityRequestId": "abc", "repeatabilityFirstSent": first_sent(phone)},
        {"repeatabilityRequestId": str(uuid.uuid4()), "repeatabilityFirstSent": "not a date"},
        {"repeatabilityRequestId": str(uuid.uuid4())},
        {"repeatabilityFirstSent": first_sent(phone)},
    ):
        result = await send({"to": OUTSIDE, **bad})
        assert result["httpStatusCode"] == 400 and result["repeatabilityResult"] == "rejected", bad
    await phone.deliver()
    log = (await phone.api.get(f"/sms/numbers/{a}/messages")).json()["value"]
    assert [m["id"] for m in log] == [first["messageId"]]  # one message in all


async def test_one_id_twice_in_one_request(phone: Phone) -> None:
    [a] = await phone.own(1)
    rid, sent = str(uuid.uuid4()), first_sent(phone)
    twice = {"to": OUTSIDE, "repeatabilityRequestId": rid, "repeatabilityFirstSent": sent}
    other = {"to": "+14255550124", "repeatabilityRequestId": rid, "repeatabilityFirstSent": sent}
    results = (await phone.api.post("/sms", json=sms(a, twice, twice, other))).json()["value"]
    assert (
        results[0]["messageId"] == results[1]["messageId"] and results[1]["repeatabilityResult"] == "accepted"
    )
    assert results[2]["httpStatusCode"] == 400 and results[2]["repeatabilityResult"] == "rejected"


async def test_100_concurrent_identical_sends_make_one_message(phone: Phone) -> None:
    [a] = await phone.own(1)
    body = sms(
        a,
        {
            "to": OUTSIDE,
            "repeatabilityRequestId": str(uuid.uuid4()),
            "repeatabilityFirstSent": first_sent(phone),
        },
    )
    responses = await asyncio.gather(*(phone.api.post("/sms", json=body) for _ in range(100)))
    results = [r.json()["value"][0] for r in responses]
    assert {r.status_code for r in responses} == {202}
    assert {x["repeatabilityResult"] for x in results} == {"accepted"}
    assert len({x["messageId"] for x in results}) == 1
    submitted: list[str] = []
    original = phone.tel.sms.submitted_many

    async def count(carrier: str, accepted: Any) -> None:
        submitted.extend(message_id for message_id, _ in accepted)
        await original(carrier, accepted)

    phone.tel.sms.submitted_many = count  # type: ignore[method-assign]
    await phone.deliver()
    assert submitted == [results[0]["messageId"]]  # exactly one message reached the carrier


async def test_per_number_rate_limit(tmp_path: Path) -> None:
    async with phone_node(tmp_path, sms={"per_minute_geographic": 5}) as phone:
        [a] = await phone.own(1)
        ok = await phone.api.post("/sms", json=sms(a, *(f"+1425555012{i}" for i in range(4))))
        assert ok.status_code == 202
        over = await phone.api.post("/sms", json=sms(a, "+14255550130", "+14255550131"))
        assert over.status_code == 429 and over.json()["error"]["code"] == "TooManyRequests"
        assert int(over.headers["Retry-After"]) >= 59
        assert (await phone.api.post("/sms", json=sms(a, "+14255550130"))).status_code == 202
        phone.clock.advance(60)
        assert (await phone.api.post("/sms", json=sms(a, "+14255550130", "+14255550131"))).status_code == 202


# opt-out ----------------------------------------------------------------------------------------------------
async def test_stop_start_help_keywords(phone: Phone) -> None:
    [a] = await phone.own(1)
    handset = f"/simulator/handsets/{OUTSIDE}/messages"
    assert (await phone.api.post(handset, json={"to": a, "message": " Stop "})).status_code == 201
    stop = [e for e in await phone.events(RECEIVED)]
    assert stop[-1].data["message"] == " Stop "  # STOP is still relayed to the customer
    r = await phone.api.post("/sms", json=sms(a, OUTSIDE, report=True))
    assert r.json()["value"][0]["httpStatusCode"] == 202  # accepted, then blocked
    await phone.deliver()
    [report] = await phone.events(DELIVERY_REPORT)
    assert report.data["deliveryStatus"] == "Failed"
    assert report.data["deliveryStatusDetails"] == "Sender blocked for given recipient."
    got = [m["message"] for m in (await phone.api.get(handset)).json()["value"] if m["to"] == OUTSIDE]
    assert got == [phone.tel.sms.settings.opt_out["en"].stop_reply]  # only the confirmation
    check = await phone.api.post("/sms/optouts:check", json={"from": a, "recipients": [{"to": OUTSIDE}]})
    assert check.json()["value"] == [{"to": OUTSIDE, "httpStatusCode": 200, "isOptedOut": True}]
    await phone.api.post(handset, json={"to": a, "message": "START"})
    await phone.api.post(handset, json={"to": a, "message": "help"})
    await phone.api.post("/sms", json=sms(a, OUTSIDE, message="welcome back"))
    await phone.deliver()
    got = [m["message"] for m in (await phone.api.get(handset)).json()["value"] if m["to"] == OUTSIDE]
    en = phone.tel.sms.settings.opt_out["en"]
    assert got[:3] == ["welcome back", en.help_reply, en.start_reply]


async def test_the_opt_out_api(phone: Phone) -> None:
    [a] = await phone.own(1)
    body = {"from": a, "recipients": [{"to": OUTSIDE}, {"to": "+1425"}]}
    added = (await phone.api.post("/sms/optouts:add?api-version=2024-12-10-preview", json=body)).json()[
        "value"
    ]
    assert added == [
        {"to": OUTSIDE, "httpStatusCode": 200},
        {"to": "+1425", "httpStatusCode": 400, "errorMessage": "Invalid To phone number format."},
    ]
    assert (await phone.api.post("/sms/optouts:check", json=body)).json()["value"][0]["isOptedOut"] is True
    assert (await phone.api.post("/sms/optouts:remove", json=body)).json()["value"][0][
        "httpStatusCode"
    ] == 200
    assert (await phone.api.post("/sms/optouts:check", json=body)).json()["value"][0]["isOptedOut"] is False
    foreign = await phone.api.post(
        "/sms/optouts:add", json={"from": "+14255550150", "recipients": [{"to": OUTSIDE}]}
    )
    assert foreign.status_code == 401
    empty = await phone.api.post("/sms/optouts:add", json={"from": a, "recipients": []})
    assert empty.status_code == 400


# inbound ------------------------------------------------------------------------------------
async def test_long_inbound_messages_are_joined(phone: Phone) -> None:
    [a] = await phone.own(1)
    service = phone.tel.sms
    assert await service.inbound("simulated", OUTSIDE, a, "second ", (7, 3, 2)) is None
    assert await service.inbound("simulated", OUTSIDE, a, "second ", (7, 3, 2)) is None  # twice
    assert await service.inbound("simulated", OUTSIDE, a, "first ", (7, 3, 1)) is None
    assert await service.inbound("simulated", OUTSIDE, a, "third", (7, 3, 3)) is not None
    [whole] = await phone.events(RECEIVED)
    assert whole.data["message"] == "first second third" and whole.data["segmentCount"] == 3
    # a message whose last part never comes is delivered with what arrived
    await service.inbound("simulated", OUTSIDE, a, "lonely ", (8, 2, 1))
    await service.sweep()
    assert len(await phone.events(RECEIVED)) == 1
    phone.clock.advance(service.settings.inbound_part_timeout_seconds + 1)
    await service.sweep()
    assert (await phone.events(RECEIVED))[-1].data | {"messageId": "", "receivedTimestamp": ""} == {
        "messageId": "",
        "from": OUTSIDE,
        "to": a,
        "message": "lonely ",
        "receivedTimestamp": "",
        "segmentCount": 1,
    }
    # not ours, or ours without inbound SMS: dropped
    assert await service.inbound("simulated", OUTSIDE, "+14255550150", "hi") is None


async def test_receipts_may_come_early_and_twice(phone: Phone) -> None:
    [a] = await phone.own(1)
    service = phone.tel.sms
    r = await phone.api.post("/sms", json=sms(a, OUTSIDE, "+14255550124", report=True))
    first, second = (x["messageId"] for x in r.json()["value"])
    await service.receipt("acme", "P1", True, "No error.")  # before its submission was recorded
    await service.submitted("acme", first, ["P1", "P2"])
    assert not await phone.events(DELIVERY_REPORT)
    await service.receipt("acme", "P2", True, "No error.")
    await service.receipt("acme", "P2", False, "late duplicate")
    [report] = await phone.events(DELIVERY_REPORT)
    assert report.data["deliveryStatus"] == "Delivered" and report.data["messageId"] == first
    await service.submitted("acme", second, ["Q1", "Q2"])
    await service.receipt("acme", "Q1", True, "No error.")
    await service.receipt("acme", "Q2", False, "Undeliverable (err 001).")
    reports = await phone.events(DELIVERY_REPORT)
    assert reports[-1].data["deliveryStatus"] == "Failed"
    assert reports[-1].data["deliveryStatusDetails"] == "Undeliverable (err 001)."
    await service.refused("acme", second, "again")  # a finished message stays finished
    assert len(await phone.events(DELIVERY_REPORT)) == 2


async def test_failure_rate(tmp_path: Path) -> None:
    async with phone_node(
        tmp_path, carriers={"simulated": {"failure_rate": 1.0, "delivery_delay_seconds": 0}}
    ) as phone:
        [a] = await phone.own(1)
        await phone.api.post("/sms", json=sms(a, OUTSIDE, report=True))
        await phone.deliver()
        [report] = await phone.events(DELIVERY_REPORT)
        assert report.data["deliveryStatusDetails"] == "Message delivery failed (simulated)."


async def test_message_log_pages(phone: Phone) -> None:
    [a] = await phone.own(1)
    for i in range(5):
        await phone.api.post("/sms", json=sms(a, OUTSIDE, message=f"m{i}"))
    page = (await phone.api.get(f"/sms/numbers/{a}/messages?maxPageSize=2")).json()
    seen = [m["message"] for m in page["value"]]
    while page.get("nextLink"):
        page = (await phone.api.get(page["nextLink"])).json()
        seen += [m["message"] for m in page["value"]]
    assert seen == ["m4", "m3", "m2", "m1", "m0"]
    assert (await phone.api.get("/sms/numbers/12/messages")).status_code == 400


async def test_handsets(phone: Phone) -> None:
    [a] = await phone.own(1)
    missing = await phone.api.post(
        f"/simulator/handsets/{OUTSIDE}/messages", json={"to": "+14255550150", "message": "x"}
    )
    assert missing.status_code == 404
    owned = await phone.api.post(f"/simulator/handsets/{a}/messages", json={"to": a, "message": "x"})
    assert owned.status_code == 409
    bad = await phone.api.post("/simulator/handsets/+1425/messages", json={"to": a, "message": "x"})
    assert bad.status_code == 400
    empty = await phone.api.post(f"/simulator/handsets/{OUTSIDE}/messages", json={"to": a, "message": ""})
    assert empty.status_code == 400
