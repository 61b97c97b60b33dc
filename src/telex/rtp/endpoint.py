"""The asyncio shell around ``RtpSession``: two UDP sockets (RTP, RTCP on port + 1) and a pacer.

    send_audio(pcm) ─► outbound PCM buffer ─┐
    send_dtmf(digits) ──────────────────────┤  every ptime (drift-corrected):
                                            ├─► session.send_frame(frame) ─► RTP socket
    RTP socket ─► session.receive_rtp ──────┤   session.pop_frame() ─► frames queue ─► read_frame()
                  └─► DTMF events ─► dtmf   └─► session.handle_timer() ─► RTCP socket

Symmetric RTP: the socket that receives is the one that sends, so a peer behind NAT that latches
onto our source port reaches us, and we reach it at the address the session latched. The pacer
sends silence when nothing is queued (``send_silence``), because trunks hang up streams that go
quiet. The pacer sleeps on the injected clock, so the whole shell runs under a fake clock too.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from typing import Any

from telex.core.clock import Clock, SystemClock
from telex.rtp.dtmf import DtmfEvent
from telex.rtp.jitter import Frame
from telex.rtp.session import Address, Datagram, RtpSession, StreamConfig

__all__ = ["RtpEndpoint"]


class _Socket(asyncio.DatagramProtocol):
    def __init__(self, owner: RtpEndpoint, rtcp: bool) -> None:
        self.owner = owner
        self.rtcp = rtcp

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.owner._received(data, (str(addr[0]), int(addr[1])), self.rtcp)


class RtpEndpoint:
    """One audio stream's sockets. Open with ``open``, then ``start`` with the negotiated media."""

    def __init__(self, clock: Clock, max_frames: int = 50) -> None:
        self.clock = clock
        self.frames: asyncio.Queue[Frame] = asyncio.Queue(maxsize=max_frames)
        self.dtmf: asyncio.Queue[DtmfEvent] = asyncio.Queue()
        self.session: RtpSession | None = None
        self.send_silence = True
        self.local_port = 0
        self._rtp: asyncio.DatagramTransport | None = None
        self._rtcp: asyncio.DatagramTransport | None = None
        self._outbound = bytearray()
        # When set, the pacer asks it for each frame (``size`` bytes, or None: nothing to say)
        # instead of taking ``send_audio``'s buffer: a mixer of several sources pulls at our rate.
        self.pull: Callable[[int], bytes | None] | None = None
        self._pacer: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls,
        host: str,
        port: int = 0,
        *,
        clock: Clock | None = None,
        port_range: tuple[int, int] = (20000, 40000),
        attempts: int = 50,
    ) -> RtpEndpoint:
        """Bind RTP on ``port`` (0: an even port in ``port_range``) and RTCP on the next one."""
        self = cls(clock or SystemClock())
        loop = asyncio.get_running_loop()
        rng = random.Random()
        for attempt in range(attempts if port == 0 else 1):
            rtp_port = port or rng.randrange(port_range[0], port_range[1], 2)
            try:
                rtp, _ = await loop.create_datagram_endpoint(
                    lambda: _Socket(self, False), local_addr=(host, rtp_port)
                )
            except OSError:
                if port or attempt == attempts - 1:
                    raise
                continue
            try:
                rtcp, _ = await loop.create_datagram_endpoint(
                    lambda: _Socket(self, True), local_addr=(host, rtp_port + 1)
                )
            except OSError:
                rtp.close()
                if port or attempt == attempts - 1:
                    raise
                continue
            self._rtp, self._rtcp, self.local_port = rtp, rtcp, rtp_port
            return self
        raise OSError("no free RTP port pair")  # pragma: no cover - the loop raises first

    def start(self, config: StreamConfig, **session_options: object) -> RtpSession:
        now = self.clock.monotonic()
        wall_offset = self.clock.now() - now
        self.session = RtpSession(config, now=now, wall_offset=wall_offset, **session_options)  # type: ignore[arg-type]
        if self._pacer is None:
            self._pacer = asyncio.ensure_future(self._pace())
        return self.session

    def update(self, config: StreamConfig) -> None:
        if self.session is None:
            self.start(config)
        else:
            self.session.update(config)

    def send_audio(self, pcm: bytes) -> None:
        """Queue 16-bit native-order PCM at 8 kHz; it goes out one ptime at a time."""
        self._outbound += pcm

    def send_dtmf(self, digits: str, duration_ms: int = 100, gap_ms: int = 0) -> None:
        assert self.session is not None, "start() first"
        self.session.send_dtmf(digits, duration_ms, gap_ms)

    async def read_frame(self) -> Frame:
        return await self.frames.get()

    async def close(self) -> None:
        if self._pacer is not None:
            self._pacer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pacer
        if self.session is not None and self._rtcp is not None:
            bye = self.session.rtcp_report(self.clock.monotonic(), bye=True)
            if bye is not None:
                self._rtcp.sendto(bye.data, bye.address)
        for transport in (self._rtp, self._rtcp):
            if transport is not None:
                transport.close()

    # ---- internals ----------------------------------------------------------------------------

    def _received(self, data: bytes, source: Address, rtcp: bool) -> None:
        session = self.session
        if session is None:
            return
        now = self.clock.monotonic()
        if rtcp:
            session.receive_rtcp(data, source, now)
            return
        for event in session.receive_rtp(data, source, now):
            self.dtmf.put_nowait(event)

    def _send(self, datagrams: list[Datagram]) -> None:
        for d in datagrams:
            transport = self._rtcp if d.rtcp else self._rtp
            if transport is not None:
                transport.sendto(d.data, d.address)

    async def _pace(self) -> None:
        assert self.session is not None
        next_tick = self.clock.monotonic()
        while True:
            session = self.session
            now = self.clock.monotonic()
            size = 2 * session.config.samples_per_frame
            frame: bytes | None = None
            if self.pull is not None:
                frame = self.pull(size)
                if frame is None and self.send_silence:
                    frame = bytes(size)
            elif len(self._outbound) >= size:
                frame = bytes(self._outbound[:size])
                del self._outbound[:size]
            elif self._outbound:
                frame = bytes(self._outbound) + bytes(size - len(self._outbound))
                self._outbound.clear()
            elif self.send_silence:
                frame = bytes(size)
            self._send(session.send_frame(frame))
            received = session.pop_frame(now)
            if self.frames.full():
                self.frames.get_nowait()  # nobody reads: keep the newest
            self.frames.put_nowait(received)
            due = session.next_timer()
            if due is not None and due <= now:
                datagrams, events = session.handle_timer(now)
                self._send(datagrams)
                for event in events:
                    self.dtmf.put_nowait(event)
            next_tick += session.config.ptime / 1000
            delay = next_tick - self.clock.monotonic()
            if delay < -0.2:
                next_tick = self.clock.monotonic()  # we fell far behind (a stalled loop): resync
                delay = 0.0
            await self.clock.sleep(max(0.0, delay))
