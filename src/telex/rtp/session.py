"""One sans-I/O RTP audio stream: G.711 out and in, RFC 4733 both ways, RTCP, latching.

    send_frame(pcm) ─► DTMF due? ─► telephone-event payload ─┐
                          └─► G.711 encode ──────────────────┴─► RtpPacket ─► Datagram(remote)
    receive_rtp(bytes, source) ─► latch check ─► PT? ─► telephone-event ─► DtmfStarted/Ended
                                                  └─► G.711 decode ─► JitterBuffer ─► pop_frame()
    handle_timer(now) at next_timer() ─► RTCP SR or RR + SDES ─► Datagram(remote RTCP)

Symmetric RTP and latching: we send from the port we receive on, first to the address the SDP
gave; the first valid packet (RTP version 2 with a negotiated payload type) fixes the peer's
real address (behind NAT it differs from the SDP), and packets from anywhere else are dropped
from then on, so a third party cannot inject audio into the call. If the latched source falls
silent for ``relatch_after`` seconds, another source may take over (the peer's NAT rebound);
``update`` (a re-INVITE) starts over.

Reception statistics follow RFC 3550 Appendix A.1 (sequence and loss), A.3 (expected and lost
counts) and A.8 (interarrival jitter); reports go out every ``rtcp_interval`` seconds randomised
by 0.5-1.5 (§6.2, §6.3.1).
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from telex.rtp.dtmf import DtmfEvent, DtmfReceiver, DtmfSender
from telex.rtp.g711 import alaw_to_pcm, pcm_to_alaw, pcm_to_ulaw, ulaw_to_pcm
from telex.rtp.jitter import Frame, JitterBuffer
from telex.rtp.packet import (
    ReportBlock,
    RtcpBye,
    RtcpReceiverReport,
    RtcpSdes,
    RtcpSenderReport,
    RtpError,
    RtpPacket,
    parse_rtcp,
    parse_rtp,
    seq_delta,
)

__all__ = ["Address", "Datagram", "RtpSession", "SessionStats", "StreamConfig"]

Address = tuple[str, int]
_NTP_EPOCH = 2208988800  # seconds from 1900-01-01 to 1970-01-01
_CODECS: dict[str, tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]] = {
    "PCMU": (pcm_to_ulaw, ulaw_to_pcm),
    "PCMA": (pcm_to_alaw, alaw_to_pcm),
}


class _Negotiated(Protocol):
    """What ``telex.sip.sdp.NegotiatedAudio`` offers (read structurally: no import of sip)."""

    @property
    def remote_address(self) -> str: ...
    @property
    def remote_port(self) -> int: ...
    @property
    def remote_rtcp_port(self) -> int: ...
    @property
    def ptime(self) -> int: ...
    @property
    def send(self) -> bool: ...
    @property
    def receive(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class StreamConfig:
    codec: str  # "PCMU" or "PCMA"
    payload_type: int
    remote: Address | None
    remote_rtcp: Address | None = None
    telephone_event: int | None = None  # the RFC 4733 payload type
    ptime: int = 20
    send: bool = True
    receive: bool = True
    clock_rate: int = 8000

    @classmethod
    def from_negotiated(cls, media: _Negotiated) -> StreamConfig:
        codec = getattr(media, "codec", None)
        event = getattr(media, "telephone_event", None)
        return cls(
            codec=str(getattr(codec, "name", "PCMU")).upper(),
            payload_type=int(getattr(codec, "payload_type", 0)),
            remote=(media.remote_address, media.remote_port),
            remote_rtcp=(media.remote_address, media.remote_rtcp_port),
            telephone_event=int(event.payload_type) if event is not None else None,
            ptime=media.ptime,
            send=media.send,
            receive=media.receive,
        )

    @property
    def samples_per_frame(self) -> int:
        return self.ptime * self.clock_rate // 1000


@dataclass(frozen=True, slots=True)
class Datagram:
    data: bytes
    address: Address
    rtcp: bool = False


@dataclass(slots=True)
class SessionStats:
    sent_packets: int = 0
    sent_octets: int = 0  # payload octets (RFC 3550 §6.4.1)
    received_packets: int = 0
    foreign: int = 0  # from an address other than the latched one
    invalid: int = 0
    other_payload: int = 0  # comfort noise and anything not negotiated
    rtcp_received: int = 0
    dtmf_sent: int = 0


@dataclass(slots=True)
class _Reception:
    """RFC 3550 A.1 state for the one source we receive."""

    ssrc: int
    base_seq: int
    max_seq: int
    cycles: int = 0
    received: int = 0
    expected_prior: int = 0
    received_prior: int = 0
    transit: float | None = None
    jitter: float = 0.0

    @property
    def extended_max(self) -> int:
        return self.cycles + self.max_seq

    def update(self, seq: int) -> None:
        delta = seq_delta(seq, self.max_seq)
        if delta > 0:
            if seq < self.max_seq:
                self.cycles += 0x10000
            self.max_seq = seq
        self.received += 1

    def report(self, last_sr: int, dlsr: int) -> ReportBlock:
        expected = self.extended_max - self.base_seq + 1
        lost = expected - self.received
        expected_interval = expected - self.expected_prior
        received_interval = self.received - self.received_prior
        self.expected_prior, self.received_prior = expected, self.received
        lost_interval = expected_interval - received_interval
        fraction = (
            0 if expected_interval <= 0 or lost_interval <= 0 else (lost_interval << 8) // expected_interval
        )
        lost = max(-0x800000, min(0x7FFFFF, lost))
        return ReportBlock(
            self.ssrc, min(fraction, 255), lost, self.extended_max, int(self.jitter), last_sr, dlsr
        )


class RtpSession:
    def __init__(
        self,
        config: StreamConfig,
        *,
        now: float,
        ssrc: int | None = None,
        cname: str = "telex",
        rng: random.Random | None = None,
        wall_offset: float = 0.0,
        latch: bool = True,
        relatch_after: float = 2.0,
        rtcp_interval: float = 5.0,
        jitter: JitterBuffer | None = None,
    ) -> None:
        self._rng = rng or random.Random(int.from_bytes(os.urandom(8), "big"))
        self.ssrc = ssrc if ssrc is not None else self._rng.getrandbits(32)
        self.cname = cname
        self.stats = SessionStats()
        self.jitter = jitter or JitterBuffer(frame_samples=config.samples_per_frame)
        self.dtmf_out = DtmfSender(step=config.samples_per_frame)
        self.dtmf_in = DtmfReceiver(clock_rate=config.clock_rate)
        self._seq = self._rng.getrandbits(16)
        self._ts = self._rng.getrandbits(32)
        self._marker = True
        self._wall_offset = wall_offset
        self._latch_enabled = latch
        self._relatch_after = relatch_after
        self._rtcp_interval = rtcp_interval
        self._rtcp_due = now + self._rtcp_interval * self._rng.uniform(0.5, 1.5)
        self._reception: _Reception | None = None
        self._last_sr: tuple[int, float] | None = None  # (middle 32 bits of its NTP time, arrival)
        self._sent_since_report = False
        self.last_received: float | None = None
        self.config = config
        self.latched: Address | None = None
        self.latched_rtcp: Address | None = None
        self._latched_seen = now

    def update(self, config: StreamConfig) -> None:
        """New negotiated media (a re-INVITE): forget the latched addresses."""
        if config.samples_per_frame != self.config.samples_per_frame:
            self.jitter = JitterBuffer(frame_samples=config.samples_per_frame)
            self.dtmf_out.step = config.samples_per_frame
        self.config = config
        self.latched = self.latched_rtcp = None

    # ---- sending ------------------------------------------------------------------------------

    @property
    def destination(self) -> Address | None:
        return self.latched or self.config.remote

    def send_dtmf(self, digits: str, duration_ms: int = 100, gap_ms: int = 0) -> None:
        if self.config.telephone_event is None:
            raise ValueError("the peer did not negotiate telephone-event")
        self.dtmf_out.send(digits, duration_ms, self.config.clock_rate, gap_ms)

    def send_frame(self, pcm: bytes | None) -> list[Datagram]:
        """One packet interval: a DTMF packet if a digit is being sent, else ``pcm`` encoded
        (None: nothing to say, send nothing). The RTP clock advances either way."""
        step = self.config.samples_per_frame
        dest = self.destination
        out: list[Datagram] = []
        event = self.config.telephone_event
        due = self.dtmf_out.next_payload(self._ts) if event is not None else None
        if due is not None and event is not None:
            payload, first, event_ts = due
            packet = RtpPacket(event, self._seq, event_ts, self.ssrc, payload, first)
            self._marker = True  # audio after an event starts a new talk spurt
            if first:
                self.stats.dtmf_sent += 1
        elif pcm is not None:
            encode = _CODECS[self.config.codec][0]
            packet = RtpPacket(
                self.config.payload_type, self._seq, self._ts, self.ssrc, encode(pcm), self._marker
            )
            self._marker = False
        else:
            self._ts = (self._ts + step) & 0xFFFFFFFF
            self._marker = True
            return out
        self._ts = (self._ts + step) & 0xFFFFFFFF
        if dest is None or not self.config.send:
            return out
        self._seq = (self._seq + 1) & 0xFFFF
        self.stats.sent_packets += 1
        self.stats.sent_octets += len(packet.payload)
        self._sent_since_report = True
        out.append(Datagram(packet.encode(), dest))
        return out

    # ---- receiving ----------------------------------------------------------------------------

    def _accept_source(self, source: Address, now: float) -> bool:
        if not self._latch_enabled:
            return True
        if self.latched is None or (
            source != self.latched and now - self._latched_seen > self._relatch_after
        ):
            self.latched = source
        if source != self.latched:
            self.stats.foreign += 1
            return False
        self._latched_seen = now
        return True

    def receive_rtp(self, data: bytes, source: Address, now: float) -> list[DtmfEvent]:
        try:
            packet = parse_rtp(data)
        except RtpError:
            self.stats.invalid += 1
            return []
        pt = packet.payload_type
        # Our own SSRC coming back is accepted: carriers' echo-test numbers (and sipp -rtp_echo)
        # return our packets as they are, and a two-party stream has no SSRC to collide with.
        if pt not in (self.config.payload_type, self.config.telephone_event):
            self.stats.other_payload += 1
            return []
        if not self._accept_source(source, now):
            return []
        self.stats.received_packets += 1
        self.last_received = now
        if not self.config.receive:
            return []
        if pt == self.config.telephone_event:
            return self.dtmf_in.receive(packet.ssrc, packet.timestamp, packet.payload, now)
        self._track(packet, now)
        decode = _CODECS[self.config.codec][1]
        self.jitter.put(packet.timestamp, decode(packet.payload), now)
        return []

    def _track(self, packet: RtpPacket, now: float) -> None:
        rec = self._reception
        if rec is None or rec.ssrc != packet.ssrc:
            if rec is not None:
                self.jitter.reset()  # a new source: its timeline is unrelated
            rec = self._reception = _Reception(packet.ssrc, packet.sequence, packet.sequence)
        rec.update(packet.sequence)
        # RFC 3550 A.8: D = difference of relative transit times, J += (|D| - J) / 16.
        transit = now * self.config.clock_rate - packet.timestamp
        if rec.transit is not None:
            d = abs(transit - rec.transit)
            if d < 2**31:  # not a timestamp wrap
                rec.jitter += (d - rec.jitter) / 16
        rec.transit = transit

    def pop_frame(self, now: float) -> Frame:
        """The next ``ptime`` of received audio, re-clocked (call once per packet interval)."""
        return self.jitter.pop(now)

    def receive_rtcp(self, data: bytes, source: Address, now: float) -> None:
        try:
            packets = parse_rtcp(data)
        except RtpError:
            self.stats.invalid += 1
            return
        if self._latch_enabled:
            if self.latched_rtcp is None:
                self.latched_rtcp = source
            elif source != self.latched_rtcp:
                self.stats.foreign += 1
                return
        self.stats.rtcp_received += 1
        for packet in packets:
            if isinstance(packet, RtcpSenderReport):
                self._last_sr = ((packet.ntp_timestamp >> 16) & 0xFFFFFFFF, now)

    # ---- RTCP ---------------------------------------------------------------------------------

    def next_timer(self) -> float | None:
        dtmf = self.dtmf_in.next_timer()
        return min(self._rtcp_due, dtmf) if dtmf is not None else self._rtcp_due

    def handle_timer(self, now: float) -> tuple[list[Datagram], list[DtmfEvent]]:
        events = self.dtmf_in.handle_timer(now)
        out: list[Datagram] = []
        if now >= self._rtcp_due:
            self._rtcp_due = now + self._rtcp_interval * self._rng.uniform(0.5, 1.5)
            report = self.rtcp_report(now)
            if report is not None:
                out.append(report)
        return out, events

    def _ntp(self, now: float) -> int:
        wall = now + self._wall_offset + _NTP_EPOCH
        return int(wall * 2**32) & 0xFFFFFFFFFFFFFFFF

    def _report_blocks(self, now: float) -> tuple[ReportBlock, ...]:
        if self._reception is None:
            return ()
        last_sr, dlsr = 0, 0
        if self._last_sr is not None:
            last_sr = self._last_sr[0]
            dlsr = int((now - self._last_sr[1]) * 65536)
        return (self._reception.report(last_sr, dlsr),)

    def rtcp_report(self, now: float, bye: bool = False) -> Datagram | None:
        """A compound report: SR if we sent since the last one, else RR; then SDES (and BYE)."""
        remote = self.latched_rtcp or self.config.remote_rtcp
        if remote is None:
            return None
        blocks = self._report_blocks(now)
        first: RtcpSenderReport | RtcpReceiverReport
        if self._sent_since_report:
            first = RtcpSenderReport(
                self.ssrc, self._ntp(now), self._ts, self.stats.sent_packets, self.stats.sent_octets, blocks
            )
        else:
            first = RtcpReceiverReport(self.ssrc, blocks)
        self._sent_since_report = False
        data = first.encode() + RtcpSdes(((self.ssrc, self.cname),)).encode()
        if bye:
            data += RtcpBye((self.ssrc,)).encode()
        return Datagram(data, remote, rtcp=True)
