"""The SMPP client against an independent SMSC on loopback: smsc.pl on Debian's Net::SMPP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

from telex.telephony.reassembly import Reassembler
from telex.telephony.segments import decode_gsm7, parse_udh
from telex.telephony.smpp.client import SmppClient
from telex.telephony.smpp.constants import CommandStatus, MessageState
from telex.telephony.smpp.events import Closed, DeliveryReceipt, Event, MobileOriginated, SubmitFailed
from telex.telephony.smpp.message import ConcatMode, OutboundMessage
from telex.telephony.smpp.queue import InMemorySmsQueue
from telex.telephony.smpp.session import SessionConfig
from tests.telephony.conftest import PerlSmsc

pytestmark = pytest.mark.timeout(60)

SENDER = "+14255550100"
# 300 characters, every extension character (two septets each) among them, some at part borders
LONG_GSM = ("Offer: 10€ off [today] {code: A~B} | see \\terms^ here. " * 6)[:300]
# 100 characters in UCS-2, an emoji (a surrogate pair) across the 67-unit border of part one
LONG_UCS2 = ("Привет " * 10)[:66] + "👋" + ("мир " * 10)[:33]


@dataclass
class Run:
    client: SmppClient
    queue: InMemorySmsQueue
    deliveries: list[DeliveryReceipt | MobileOriginated] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


async def wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    """Poll a real process's effects until true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@asynccontextmanager
async def client_for(
    smsc: PerlSmsc,
    messages: list[OutboundMessage] = (),  # type: ignore[assignment]
    *,
    fail_deliveries: bool = False,
    **config: object,
) -> AsyncIterator[Run]:
    settings: dict[str, object] = {
        "system_id": "acs",
        "password": "secret",
        "response_timeout": 5.0,
        **config,
    }
    queue = InMemorySmsQueue()
    for message in messages:
        queue.put(message)
    run: Run

    async def on_delivery(event: DeliveryReceipt | MobileOriginated) -> None:
        run.deliveries.append(event)
        if fail_deliveries:
            raise RuntimeError("store unavailable")

    client = SmppClient(
        "127.0.0.1",
        smsc.port,
        SessionConfig(**settings),  # type: ignore[arg-type]
        queue,
        on_delivery,
        reconnect_delay=0.1,
        reconnect_max=0.5,
        poll_interval=0.2,
        on_event=lambda e: run.events.append(e),
    )
    run = Run(client, queue)
    task = asyncio.create_task(client.run())
    try:
        yield run
    finally:
        await client.stop()
        await asyncio.wait_for(task, 10)


async def all_settled(run: Run, count: int) -> None:
    await asyncio.wait_for(run.queue.wait_until(lambda q: len(q.submitted) + len(q.failed) >= count), 30)


def to(destination: str, text: str, ref: str, **kwargs: object) -> OutboundMessage:
    return OutboundMessage(ref, SENDER, destination, text, **kwargs)  # type: ignore[arg-type]


async def test_bind_submit_unbind(perl_smsc: PerlSmsc) -> None:
    perl_smsc.start()
    messages = [to("+14255550123", f"Your code is {i:06d}", f"m{i}") for i in range(3)]
    async with client_for(perl_smsc, messages) as run:
        await all_settled(run, 3)
    assert run.queue.failed == {}
    rows = perl_smsc.submits()
    assert {row[1] for row in rows} == {ids[0] for ids in run.queue.submitted.values()}
    # source TON 1 + number without "+", data_coding 0, a receipt requested, GSM-7 septets
    assert next(row[3:11] for row in rows) == [
        "1",
        "14255550100",
        "1",
        "14255550123",
        "0",
        "0",
        "1",
        rows[0][10],
    ]
    assert sorted(bytes.fromhex(row[10]).decode() for row in rows) == [
        f"Your code is {i:06d}" for i in range(3)
    ]
    # stop() unbinds; the SMSC logs it just after answering, so wait for the line
    await wait_for(lambda: "UNBIND" in [row[0] for row in perl_smsc.log()])


async def test_wrong_password_is_not_retried_quickly(perl_smsc: PerlSmsc) -> None:
    perl_smsc.start()
    async with client_for(perl_smsc, password="nope") as run:
        await wait_for(lambda: any(isinstance(e, Closed) for e in run.events))
    (closed, *_) = [e for e in run.events if isinstance(e, Closed)]
    assert closed.status == CommandStatus.ESME_RINVPASWD and not closed.retry
    assert perl_smsc.log()[0] == ["BIND", "acs", "0"]


@pytest.mark.parametrize("mode", [ConcatMode.UDH, ConcatMode.SAR, ConcatMode.PAYLOAD])
async def test_long_gsm_message_with_escapes(perl_smsc: PerlSmsc, mode: ConcatMode) -> None:
    perl_smsc.start()
    async with client_for(perl_smsc, [to("+14255550123", LONG_GSM, "long")], concat=mode) as run:
        await all_settled(run, 1)
    rows = perl_smsc.submits()
    if mode is ConcatMode.PAYLOAD:
        (row,) = rows
        assert row[10] == "" and decode_gsm7(bytes.fromhex(row[12])) == LONG_GSM
        return
    assert len(rows) == len(run.queue.submitted["long"]) == 3
    parts: dict[int, bytes] = {}
    for row in rows:
        esm_class, data_coding, user_data, sar = int(row[7]), int(row[8]), bytes.fromhex(row[10]), row[11]
        assert data_coding == 0
        if mode is ConcatMode.UDH:
            assert esm_class == 0x40 and sar == "-"
            concat, body = parse_udh(user_data)
            assert concat is not None and concat.total == 3
            seq = concat.seq
        else:
            assert esm_class == 0
            _ref, total, seq_text = sar.split("/")
            assert total == "3"
            seq, body = int(seq_text), user_data
        assert len(body) <= 153 and not body.endswith(b"\x1b")  # never an escape split from its code
        parts[seq] = body
    assert decode_gsm7(b"".join(parts[i] for i in sorted(parts))) == LONG_GSM


async def test_ucs2_message_with_emoji(perl_smsc: PerlSmsc) -> None:
    assert len(LONG_UCS2) == 100
    perl_smsc.start()
    async with client_for(perl_smsc, [to("+14255550123", LONG_UCS2, "ucs2")]) as run:
        await all_settled(run, 1)
    rows = perl_smsc.submits()
    assert len(rows) == 2
    bodies = {}
    for row in rows:
        assert int(row[8]) == 8 and int(row[7]) == 0x40
        concat, body = parse_udh(bytes.fromhex(row[10]))
        assert concat is not None and len(body) <= 134
        assert not 0xD8 <= body[-2] <= 0xDB  # never half a surrogate pair at the end of a part
        bodies[concat.seq] = body
    assert len(bodies[1]) == 66 * 2  # the emoji did not fit in unit 67, so it opens part two
    assert (bodies[1] + bodies[2]).decode("utf-16-be") == LONG_UCS2


async def test_receipts_and_mobile_originated(perl_smsc: PerlSmsc) -> None:
    perl_smsc.start("--mo")
    messages = [to("+14255550123", "delivered", "ok"), to("+14255550000", "not delivered", "fails")]
    async with client_for(perl_smsc, messages) as run:
        await all_settled(run, 2)
        await wait_for(lambda: len(run.deliveries) == 6)
        await wait_for(lambda: len([r for r in perl_smsc.log() if r[0] == "DELIVER_SM_RESP"]) == 6)
    mo = [d for d in run.deliveries if isinstance(d, MobileOriginated)]
    assert [(m.source, m.destination, m.text) for m in mo[:2]] == [
        ("+14255550123", SENDER, "STOP"),
        ("+14255550124", SENDER, "Hola 👋"),
    ]
    assert [(m.text, m.concat and (m.concat.ref, m.concat.total, m.concat.seq)) for m in mo[2:]] == [
        ("First half, ", (0x2A, 2, 1)),
        ("second half.", (0x2A, 2, 2)),
    ]
    joiner = Reassembler()
    joined = [a for m in mo if m.concat for a in joiner.add(m.source, m.destination, m.concat, m.text, 0.0)]
    assert [(a.text, a.parts, a.complete) for a in joined] == [("First half, second half.", 2, True)]
    receipts = {r.message_id: r for r in run.deliveries if isinstance(r, DeliveryReceipt)}
    (ok_id,), (failed_id,) = run.queue.submitted["ok"], run.queue.submitted["fails"]
    assert receipts[ok_id].state is MessageState.DELIVERED and receipts[ok_id].receipt.error == "000"
    assert receipts[failed_id].state is MessageState.UNDELIVERABLE
    assert receipts[ok_id].source == "+14255550123" and receipts[ok_id].destination == SENDER
    assert receipts[ok_id].receipt.done_date is not None
    assert {r[2] for r in perl_smsc.log() if r[0] == "DELIVER_SM_RESP"} == {"0"}


async def test_a_failing_handler_leaves_the_delivery_with_the_smsc(perl_smsc: PerlSmsc) -> None:
    perl_smsc.start("--mo")
    async with client_for(perl_smsc, fail_deliveries=True) as run:
        await wait_for(lambda: len([r for r in perl_smsc.log() if r[0] == "DELIVER_SM_RESP"]) == 4)
    assert len(run.deliveries) == 4
    assert {r[2] for r in perl_smsc.log() if r[0] == "DELIVER_SM_RESP"} == {
        str(CommandStatus.ESME_RX_T_APPN.value)
    }


async def test_throttling_is_honoured(perl_smsc: PerlSmsc) -> None:
    perl_smsc.start("--throttle", "5")
    messages = [to("+14255550123", f"burst {i}", f"b{i}", delivery_report=False) for i in range(12)]
    async with client_for(perl_smsc, messages, throttle_backoff=0.3, throttle_backoff_max=1.0) as run:
        await all_settled(run, 12)
    assert run.queue.failed == {} and len(run.queue.submitted) == 12
    log = perl_smsc.log()
    assert any(row[0] == "THROTTLED" for row in log)
    accepted = sorted(bytes.fromhex(row[10]).decode() for row in log if row[0] == "SUBMIT")
    assert accepted == sorted(f"burst {i}" for i in range(12))  # each accepted once, none lost
    assert not any(isinstance(e, SubmitFailed) for e in run.events)


async def test_enquire_link_keeps_an_idle_link(perl_smsc: PerlSmsc) -> None:
    perl_smsc.start()
    async with client_for(perl_smsc, enquire_link_interval=0.2) as run:
        await wait_for(lambda: sum(r[0] == "ENQUIRE_LINK" for r in perl_smsc.log()) >= 2)
    assert not any(isinstance(e, Closed) and e.reason != "unbound" for e in run.events)


async def test_smsc_restart_mid_batch_loses_nothing(perl_smsc: PerlSmsc) -> None:
    first = perl_smsc.start("--die-after", "7", "--id-prefix", "A", log="first.log")
    texts = {f"r{i:02d}": f"batch message {i:02d}" for i in range(20)}
    messages = [to("+14255550123", text, ref, delivery_report=False) for ref, text in texts.items()]
    async with client_for(perl_smsc, messages, window=5) as run:
        await asyncio.wait_for(asyncio.to_thread(first.wait), 20)  # it died on the 8th submit_sm
        assert len(run.queue.submitted) <= 7
        perl_smsc.start("--id-prefix", "B", log="second.log")
        await all_settled(run, 20)
    assert run.queue.failed == {}
    assert set(run.queue.submitted) == set(texts)
    first_rows, second_rows = perl_smsc.submits("first.log"), perl_smsc.submits("second.log")
    assert len(first_rows) == 7 and perl_smsc.log("first.log")[-1] == ["DIE"]
    seen_first = {bytes.fromhex(r[10]).decode(): r[1] for r in first_rows}
    seen_second = [bytes.fromhex(r[10]).decode() for r in second_rows]
    assert len(seen_second) == len(set(seen_second))  # the second SMSC got each message once
    for ref, text in texts.items():
        (smsc_id,) = run.queue.submitted[ref]
        assert text in seen_first or text in seen_second  # nothing lost
        if smsc_id.startswith("A"):
            # acknowledged by the first SMSC: never sent to the second
            assert seen_first[text] == smsc_id and text not in seen_second
        else:
            assert smsc_id.startswith("B") and text in seen_second
    # only messages the first SMSC never answered (as seen by the client) were sent twice
    duplicates = set(seen_first) & set(seen_second)
    assert all(run.queue.submitted[ref][0].startswith("B") for ref, t in texts.items() if t in duplicates)
