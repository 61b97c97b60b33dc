"""RTP and RTCP packets (RFC 3550 §5.1, §6.4, §6.5, §6.6) and the sequence/timestamp arithmetic.

RTP fixed header::

     0                   1                   2                   3
    |V=2|P|X|  CC   |M|     PT      |       sequence number         |
    |                           timestamp                           |
    |           synchronization source (SSRC) identifier            |
    |            contributing source (CSRC) identifiers ...         |
    |  [extension: profile(16) length(16) words...]  payload  [padding, last byte = count]

RTCP packets share a 4-byte header (V=2, P, count, PT 200-204, length in 32-bit words minus
one) and travel as compounds (§6.1). Parsers check every length against the bytes present and
raise ``RtpError`` only; they never index past the end of a datagram.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

__all__ = [
    "RTCP_BYE",
    "RTCP_RR",
    "RTCP_SDES",
    "RTCP_SR",
    "ReportBlock",
    "RtcpBye",
    "RtcpPacket",
    "RtcpReceiverReport",
    "RtcpSdes",
    "RtcpSenderReport",
    "RtpError",
    "RtpPacket",
    "is_rtcp",
    "parse_rtcp",
    "parse_rtp",
    "seq_delta",
    "ts_delta",
]

RTCP_SR = 200
RTCP_RR = 201
RTCP_SDES = 202
RTCP_BYE = 203
_HEADER = struct.Struct("!BBHII")
_RTCP_HEADER = struct.Struct("!BBH")
_REPORT = struct.Struct("!IIIIII")
_SR_INFO = struct.Struct("!IIIII")


class RtpError(ValueError):
    """Bytes that are not a well-formed RTP or RTCP packet."""


def seq_delta(a: int, b: int) -> int:
    """a - b for 16-bit sequence numbers, in -32768..32767 (wrap-around aware)."""
    return ((a - b + 0x8000) & 0xFFFF) - 0x8000


def ts_delta(a: int, b: int) -> int:
    """a - b for 32-bit timestamps, wrap-around aware."""
    return ((a - b + 0x80000000) & 0xFFFFFFFF) - 0x80000000


@dataclass(slots=True)
class RtpPacket:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrcs: tuple[int, ...] = ()
    extension: tuple[int, bytes] | None = None  # (profile, data padded to 32 bits)

    def encode(self) -> bytes:
        first = 0x80 | len(self.csrcs)
        if self.extension is not None:
            first |= 0x10
        second = (0x80 if self.marker else 0) | (self.payload_type & 0x7F)
        out = _HEADER.pack(first, second, self.sequence & 0xFFFF, self.timestamp & 0xFFFFFFFF, self.ssrc)
        if self.csrcs:
            out += struct.pack(f"!{len(self.csrcs)}I", *self.csrcs)
        if self.extension is not None:
            profile, data = self.extension
            if len(data) % 4:
                raise ValueError("an RTP header extension is a whole number of 32-bit words")
            out += struct.pack("!HH", profile, len(data) // 4) + data
        return out + self.payload


def parse_rtp(data: bytes) -> RtpPacket:
    if len(data) < 12:
        raise RtpError("shorter than an RTP header")
    first, second, seq, ts, ssrc = _HEADER.unpack_from(data)
    if first >> 6 != 2:
        raise RtpError("not RTP version 2")
    offset = 12
    cc = first & 0x0F
    csrcs: tuple[int, ...] = ()
    if cc:
        if len(data) < offset + 4 * cc:
            raise RtpError("truncated CSRC list")
        csrcs = struct.unpack_from(f"!{cc}I", data, offset)
        offset += 4 * cc
    extension = None
    if first & 0x10:
        if len(data) < offset + 4:
            raise RtpError("truncated header extension")
        profile, words = struct.unpack_from("!HH", data, offset)
        end = offset + 4 + 4 * words
        if len(data) < end:
            raise RtpError("truncated header extension")
        extension = (profile, bytes(data[offset + 4 : end]))
        offset = end
    end = len(data)
    if first & 0x20:
        pad = data[-1]
        if pad == 0 or offset + pad > end:
            raise RtpError("bad padding")
        end -= pad
    return RtpPacket(
        second & 0x7F, seq, ts, ssrc, bytes(data[offset:end]), bool(second & 0x80), csrcs, extension
    )


def is_rtcp(data: bytes) -> bool:
    """RFC 5761 §4: with RTP and RTCP on one port, RTCP has PT 64-95 in the second byte's low
    7 bits (that is 192-223 as the full byte)."""
    return len(data) >= 2 and data[0] >> 6 == 2 and 192 <= data[1] <= 223


# ---- RTCP -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """One reception report (RFC 3550 §6.4.1)."""

    ssrc: int
    fraction_lost: int  # 0-255: lost/expected since the last report, times 256
    cumulative_lost: int  # 24-bit signed
    highest_sequence: int  # extended
    jitter: int  # in timestamp units
    last_sr: int  # middle 32 bits of the last SR's NTP time
    delay_since_last_sr: int  # in 1/65536 s

    def encode(self) -> bytes:
        lost = self.cumulative_lost & 0xFFFFFF
        return _REPORT.pack(
            self.ssrc,
            (self.fraction_lost & 0xFF) << 24 | lost,
            self.highest_sequence & 0xFFFFFFFF,
            self.jitter & 0xFFFFFFFF,
            self.last_sr & 0xFFFFFFFF,
            self.delay_since_last_sr & 0xFFFFFFFF,
        )


def _parse_blocks(data: bytes, offset: int, count: int) -> tuple[ReportBlock, ...]:
    blocks = []
    for _ in range(count):
        ssrc, lost_word, highest, jitter, lsr, dlsr = _REPORT.unpack_from(data, offset)
        lost = lost_word & 0xFFFFFF
        if lost & 0x800000:
            lost -= 0x1000000
        blocks.append(ReportBlock(ssrc, lost_word >> 24, lost, highest, jitter, lsr, dlsr))
        offset += 24
    return tuple(blocks)


@dataclass(frozen=True, slots=True)
class RtcpSenderReport:
    ssrc: int
    ntp_timestamp: int  # 64-bit NTP time
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()

    def encode(self) -> bytes:
        body = struct.pack("!I", self.ssrc) + _SR_INFO.pack(
            self.ntp_timestamp >> 32,
            self.ntp_timestamp & 0xFFFFFFFF,
            self.rtp_timestamp & 0xFFFFFFFF,
            self.packet_count & 0xFFFFFFFF,
            self.octet_count & 0xFFFFFFFF,
        )
        body += b"".join(r.encode() for r in self.reports)
        return _rtcp_header(len(self.reports), RTCP_SR, body) + body


@dataclass(frozen=True, slots=True)
class RtcpReceiverReport:
    ssrc: int
    reports: tuple[ReportBlock, ...] = ()

    def encode(self) -> bytes:
        body = struct.pack("!I", self.ssrc) + b"".join(r.encode() for r in self.reports)
        return _rtcp_header(len(self.reports), RTCP_RR, body) + body


@dataclass(frozen=True, slots=True)
class RtcpSdes:
    """Source description with the CNAME item only (RFC 3550 §6.5.1), one chunk per source."""

    chunks: tuple[tuple[int, str], ...] = field(default=())

    def encode(self) -> bytes:
        body = b""
        for ssrc, cname in self.chunks:
            text = cname.encode()[:255]
            chunk = struct.pack("!IBB", ssrc, 1, len(text)) + text + b"\x00"
            chunk += b"\x00" * (-len(chunk) % 4)
            body += chunk
        return _rtcp_header(len(self.chunks), RTCP_SDES, body) + body


@dataclass(frozen=True, slots=True)
class RtcpBye:
    sources: tuple[int, ...]
    reason: str | None = None

    def encode(self) -> bytes:
        body = b"".join(struct.pack("!I", s) for s in self.sources)
        if self.reason:
            text = self.reason.encode()[:255]
            body += bytes([len(text)]) + text
            body += b"\x00" * (-len(body) % 4)
        return _rtcp_header(len(self.sources), RTCP_BYE, body) + body


RtcpPacket = RtcpSenderReport | RtcpReceiverReport | RtcpSdes | RtcpBye


def _rtcp_header(count: int, packet_type: int, body: bytes) -> bytes:
    if len(body) % 4 or count > 31:
        raise ValueError("RTCP bodies are whole 32-bit words with at most 31 items")
    return _RTCP_HEADER.pack(0x80 | count, packet_type, len(body) // 4)


def parse_rtcp(data: bytes) -> list[RtcpPacket]:
    """A compound RTCP packet; types other than SR, RR, SDES and BYE are skipped (§6.1)."""
    out: list[RtcpPacket] = []
    offset = 0
    if len(data) < 4:
        raise RtpError("shorter than an RTCP header")
    while offset < len(data):
        if len(data) - offset < 4:
            raise RtpError("truncated RTCP header")
        first, packet_type, words = _RTCP_HEADER.unpack_from(data, offset)
        if first >> 6 != 2:
            raise RtpError("not RTCP version 2")
        end = offset + 4 + 4 * words
        if end > len(data):
            raise RtpError("RTCP length beyond the datagram")
        count = first & 0x1F
        body_end = end
        if first & 0x20:
            pad = data[end - 1]
            if pad == 0 or pad > 4 * words:
                raise RtpError("bad RTCP padding")
            body_end = end - pad
        body = data[offset + 4 : body_end]
        out.extend(_parse_one(packet_type, count, bytes(body)))
        offset = end
    return out


def _parse_one(packet_type: int, count: int, body: bytes) -> list[RtcpPacket]:
    if packet_type == RTCP_SR:
        if len(body) < 24 + 24 * count:
            raise RtpError("truncated sender report")
        (ssrc,) = struct.unpack_from("!I", body)
        hi, lo, rtp_ts, packets, octets = _SR_INFO.unpack_from(body, 4)
        return [
            RtcpSenderReport(ssrc, hi << 32 | lo, rtp_ts, packets, octets, _parse_blocks(body, 24, count))
        ]
    if packet_type == RTCP_RR:
        if len(body) < 4 + 24 * count:
            raise RtpError("truncated receiver report")
        (ssrc,) = struct.unpack_from("!I", body)
        return [RtcpReceiverReport(ssrc, _parse_blocks(body, 4, count))]
    if packet_type == RTCP_SDES:
        return [RtcpSdes(_parse_sdes(body, count))]
    if packet_type == RTCP_BYE:
        if len(body) < 4 * count:
            raise RtpError("truncated BYE")
        sources = struct.unpack_from(f"!{count}I", body) if count else ()
        reason = None
        rest = body[4 * count :]
        if rest:
            length = rest[0]
            if 1 + length > len(rest):
                raise RtpError("truncated BYE reason")
            reason = rest[1 : 1 + length].decode("utf-8", "replace")
        return [RtcpBye(tuple(sources), reason)]
    return []


def _parse_sdes(body: bytes, count: int) -> tuple[tuple[int, str], ...]:
    chunks = []
    offset = 0
    for _ in range(count):
        if offset + 4 > len(body):
            raise RtpError("truncated SDES chunk")
        (ssrc,) = struct.unpack_from("!I", body, offset)
        offset += 4
        cname = ""
        while True:
            if offset >= len(body):
                raise RtpError("unterminated SDES chunk")
            item = body[offset]
            if item == 0:
                offset += 1
                offset += -offset % 4  # chunks end on a 32-bit boundary
                break
            if offset + 2 > len(body) or offset + 2 + body[offset + 1] > len(body):
                raise RtpError("truncated SDES item")
            length = body[offset + 1]
            if item == 1:
                cname = body[offset + 2 : offset + 2 + length].decode("utf-8", "replace")
            offset += 2 + length
        chunks.append((ssrc, cname))
    return tuple(chunks)
