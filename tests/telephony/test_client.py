"""The asyncio shell's own duties: bounded framing, reconnecting, stopping (a scripted peer)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from telex.telephony.smpp.client import SmppClient
from telex.telephony.smpp.events import Bound, Closed, Event, SubmitFailed
from telex.telephony.smpp.message import OutboundMessage
from telex.telephony.smpp.pdu import (
    Bind,
    BindResp,
    Framer,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
    decode,
    encode,
)
from telex.telephony.smpp.queue import InMemorySmsQueue
from telex.telephony.smpp.session import SessionConfig
from tests.support.procs import free_port

pytestmark = pytest.mark.timeout(30)


class ScriptedSmsc:
    """Answers bind and submit_sm; ``garbage`` instead sends an absurd command_length."""

    def __init__(self, garbage: bool = False, status: int = 0, hang_up_first: bool = False) -> None:
        self.garbage = garbage
        self.status = status  # the command_status of every submit_sm_resp
        self.hang_up_first = hang_up_first  # close the first connection at its first submit_sm
        self.submits: list[bytes] = []
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def start(self, port: int) -> None:
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", port)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        framer = Framer()
        try:
            while data := await reader.read(4096):
                for frame in framer.feed(data):
                    pdu = decode(frame)
                    if isinstance(pdu, Bind) and self.garbage:
                        writer.write(b"\x7f\xff\xff\xff")  # 2 GiB: refused before any buffering
                    elif isinstance(pdu, Bind):
                        writer.write(encode(BindResp(sequence=pdu.sequence, system_id="FAKE")))
                    elif isinstance(pdu, SubmitSm):
                        self.submits.append(pdu.short_message)
                        if self.hang_up_first and self.connections == 1:
                            return  # the finally closes: the client reads EOF
                        writer.write(
                            encode(SubmitSmResp(sequence=pdu.sequence, status=self.status, message_id="F1"))
                        )
                    elif isinstance(pdu, Unbind):
                        writer.write(encode(UnbindResp(sequence=pdu.sequence)))
                await writer.drain()
        finally:
            writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def noop(_: object) -> None:
    pass


def make_client(
    port: int,
    queue: InMemorySmsQueue,
    events: list[Event],
    config: SessionConfig | None = None,
    **options: Any,
) -> SmppClient:
    settings: dict[str, Any] = {
        "reconnect_delay": 0.02,
        "reconnect_max": 0.1,
        "poll_interval": 0.05,
        **options,
    }
    return SmppClient(
        "127.0.0.1",
        port,
        config or SessionConfig(system_id="acs", password="secret"),
        queue,
        noop,
        on_event=events.append,
        **settings,
    )


async def test_absurd_length_closes_the_connection_and_reconnects() -> None:
    smsc, port, events = ScriptedSmsc(garbage=True), free_port(), list[Event]()
    await smsc.start(port)
    client = make_client(port, InMemorySmsQueue(), events)
    task = asyncio.create_task(client.run())
    try:
        async with asyncio.timeout(10):
            while smsc.connections < 3:
                await asyncio.sleep(0.01)
    finally:
        await client.stop()
        await asyncio.wait_for(task, 5)
        await smsc.stop()
    closed = [e for e in events if isinstance(e, Closed)]
    assert closed and all("command_length" in e.reason for e in closed[:2])
    assert client.session.state.value == "disconnected"


async def test_an_smsc_that_comes_up_later_gets_the_queue() -> None:
    port, events, queue = free_port(), list[Event](), InMemorySmsQueue()
    queue.put(OutboundMessage("m1", "+14255550100", "+14255550123", "hello"))
    client = make_client(port, queue, events)
    task = asyncio.create_task(client.run())
    smsc = ScriptedSmsc()
    try:
        await asyncio.sleep(0.1)  # a few refused connections first
        await smsc.start(port)
        await asyncio.wait_for(queue.wait_until(lambda q: "m1" in q.submitted), 10)
    finally:
        await client.stop()
        await asyncio.wait_for(task, 5)
        await smsc.stop()
    assert queue.submitted == {"m1": ("F1",)}
    assert any(isinstance(e, Bound) for e in events)
    assert events[-1] == Closed("unbound")  # stop() unbinds politely


async def test_stop_while_unreachable_returns_at_once() -> None:
    client = make_client(free_port(), InMemorySmsQueue(), [])
    task = asyncio.create_task(client.run())
    await asyncio.sleep(0)
    await client.stop()
    await asyncio.wait_for(task, 2)


def sms(ref: str, text: str = "hello", source: str = "+14255550100") -> OutboundMessage:
    return OutboundMessage(ref, source, "+14255550123", text)


async def drain(smsc: ScriptedSmsc, queue: InMemorySmsQueue, count: int, **options: Any) -> list[Event]:
    port, events = free_port(), list[Event]()
    await smsc.start(port)
    client = make_client(port, queue, events, **options)
    task = asyncio.create_task(client.run())
    try:
        await asyncio.wait_for(queue.wait_until(lambda q: len(q.submitted) + len(q.failed) >= count), 10)
    finally:
        await client.stop()
        await asyncio.wait_for(task, 5)
        await smsc.stop()
    return events


async def test_a_closed_connection_resends_the_unanswered() -> None:
    smsc, queue = ScriptedSmsc(hang_up_first=True), InMemorySmsQueue()
    queue.put(sms("m1"))
    await drain(smsc, queue, 1)
    assert queue.submitted == {"m1": ("F1",)}
    assert smsc.connections == 2 and smsc.submits == [b"hello", b"hello"]


async def test_refused_for_good_is_marked_failed() -> None:
    smsc, queue = ScriptedSmsc(status=0x0B), InMemorySmsQueue()
    queue.put(sms("m1"))
    await drain(smsc, queue, 1)
    assert queue.failed == {"m1": "ESME_RINVDSTADR (0x0B)"}


async def test_retryable_failures_are_tried_again_then_marked_failed() -> None:
    smsc, queue = ScriptedSmsc(status=0x08), InMemorySmsQueue()
    queue.put(sms("m1"))
    # each attempt is the session's 1 + max_retries sends; three attempts in all
    config = SessionConfig(system_id="acs", password="secret", max_retries=1, retry_delay=0.01)
    events = await drain(smsc, queue, 1, config=config, max_attempts=3)
    assert queue.failed == {"m1": "ESME_RSYSERR (0x08)"}
    assert len(smsc.submits) == 6
    assert [e.retryable for e in events if isinstance(e, SubmitFailed)] == [True, True, True]


async def test_a_message_smpp_cannot_carry_is_marked_failed() -> None:
    smsc, queue = ScriptedSmsc(), InMemorySmsQueue()
    queue.put(sms("bad", source="A" * 30))
    queue.put(sms("good"))
    await drain(smsc, queue, 2)
    assert "source_addr" in queue.failed["bad"] and queue.submitted == {"good": ("F1",)}


async def test_notify_sends_a_new_message_at_once() -> None:
    port, events, queue = free_port(), list[Event](), InMemorySmsQueue()
    smsc = ScriptedSmsc()
    await smsc.start(port)
    client = make_client(port, queue, events, poll_interval=3600.0)  # only notify() makes it look
    task = asyncio.create_task(client.run())
    try:
        async with asyncio.timeout(10):
            while not any(isinstance(e, Bound) for e in events):
                await asyncio.sleep(0.01)
        queue.put(sms("late"))
        client.notify()
        await asyncio.wait_for(queue.wait_until(lambda q: "late" in q.submitted), 5)
    finally:
        await client.stop()
        await asyncio.wait_for(task, 5)
        await smsc.stop()
