"""Two asyncio RTP endpoints on loopback: audio and RFC 4733 digits both ways, symmetric RTP."""

from __future__ import annotations

import array
import asyncio
import math

from telex.core.clock import FakeClock
from telex.rtp import DtmfEnded, DtmfStarted, FrameKind, RtpEndpoint, StreamConfig

LOOP = "127.0.0.1"


def tone(n: int) -> bytes:
    return array.array("h", (int(6000 * math.sin(2 * math.pi * 440 * i / 8000)) for i in range(n))).tobytes()


async def _until(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


async def test_audio_and_digits_flow_both_ways() -> None:
    clock = FakeClock()
    a = await RtpEndpoint.open(LOOP, clock=clock)
    b = await RtpEndpoint.open(LOOP, clock=clock)
    try:
        assert a.local_port % 2 == 0 and b.local_port % 2 == 0
        a.start(StreamConfig("PCMA", 8, (LOOP, b.local_port), (LOOP, b.local_port + 1), telephone_event=101))
        b.start(StreamConfig("PCMA", 8, (LOOP, a.local_port), (LOOP, a.local_port + 1), telephone_event=101))
        a.send_audio(tone(160 * 10))
        b.send_audio(tone(160 * 10))
        a.send_dtmf("12#")
        b.send_dtmf("9")
        got_a: list[object] = []
        got_b: list[object] = []

        def drain(ep: RtpEndpoint, into: list[object]) -> bool:
            while not ep.dtmf.empty():
                into.append(ep.dtmf.get_nowait())
            return sum(isinstance(e, DtmfEnded) for e in into) >= (3 if ep is b else 1)

        await _until(lambda: drain(b, got_b) and drain(a, got_a))
        assert [e.digit for e in got_b if isinstance(e, DtmfStarted)] == ["1", "2", "#"]
        assert [e.digit for e in got_a if isinstance(e, DtmfEnded)] == ["9"]
        assert b.session is not None and b.session.latched == (LOOP, a.local_port)
        assert b.session.stats.received_packets > 10
        kinds = set()
        while not b.frames.empty():
            kinds.add(b.frames.get_nowait().kind)
        assert FrameKind.AUDIO in kinds
    finally:
        await a.close()
        await b.close()
