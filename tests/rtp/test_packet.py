"""RTP/RTCP packets (RFC 3550) and G.711 (ITU-T G.711)."""

from __future__ import annotations

import array
import contextlib
import struct
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telex.rtp.g711 import alaw_to_pcm, pcm_to_alaw, pcm_to_ulaw, ulaw_to_pcm
from telex.rtp.packet import (
    ReportBlock,
    RtcpBye,
    RtcpReceiverReport,
    RtcpSdes,
    RtcpSenderReport,
    RtpError,
    RtpPacket,
    is_rtcp,
    parse_rtcp,
    parse_rtp,
    seq_delta,
    ts_delta,
)


def test_rtp_header_layout() -> None:
    packet = RtpPacket(8, 0x1234, 0xDEADBEEF, 0x01020304, b"\xd5" * 160, marker=True)
    data = packet.encode()
    assert data[:12] == bytes.fromhex("80881234deadbeef01020304")
    assert parse_rtp(data) == packet


def test_rtp_csrc_extension_and_padding() -> None:
    packet = RtpPacket(0, 1, 2, 3, b"abc", csrcs=(7, 8), extension=(0xBEDE, b"\x10\xff\x00\x00"))
    data = packet.encode() + b"\x00\x00\x03"
    data = bytes([data[0] | 0x20]) + data[1:]  # P bit: the last byte counts the padding
    assert parse_rtp(data) == packet


@pytest.mark.parametrize(
    "bad",
    [b"", b"\x80" * 11, bytes([0x40]) + bytes(11), bytes([0x82]) + bytes(11), bytes([0x90]) + bytes(13),
     bytes([0xA0]) + bytes(10) + b"\x00", bytes([0xA0]) + bytes(11) + b"\x20"],
)  # fmt: skip
def test_malformed_rtp(bad: bytes) -> None:
    with pytest.raises(RtpError):
        parse_rtp(bad)


def test_wraparound_arithmetic() -> None:
    assert seq_delta(2, 65534) == 4 and seq_delta(65534, 2) == -4
    assert ts_delta(100, 0xFFFFFF00) == 356 and ts_delta(0xFFFFFF00, 100) == -356


def test_rtcp_compound_round_trip() -> None:
    block = ReportBlock(0xCAFE, 25, -3, 70000, 12, 0x12345678, 65536)
    compound = (
        RtcpSenderReport(1, 0xE0000000_80000000, 160, 10, 1600, (block,)).encode()
        + RtcpReceiverReport(1, (block,)).encode()
        + RtcpSdes(((1, "telex@gw"),)).encode()
        + RtcpBye((1,), "bye").encode()
    )
    assert is_rtcp(compound) and not is_rtcp(RtpPacket(0, 1, 2, 3).encode())
    sr, rr, sdes, bye = parse_rtcp(compound)
    assert (
        isinstance(sr, RtcpSenderReport)
        and sr.reports == (block,)
        and sr.ntp_timestamp == 0xE0000000_80000000
    )
    assert isinstance(rr, RtcpReceiverReport) and rr.reports[0].cumulative_lost == -3
    assert sdes == RtcpSdes(((1, "telex@gw"),))
    assert bye == RtcpBye((1,), "bye")


def test_rtcp_unknown_types_are_skipped_and_lengths_checked() -> None:
    app = struct.pack("!BBH", 0x80, 204, 1) + b"name"
    assert parse_rtcp(app + RtcpReceiverReport(5).encode()) == [RtcpReceiverReport(5)]
    with pytest.raises(RtpError):
        parse_rtcp(struct.pack("!BBH", 0x80, 201, 9) + bytes(4))
    with pytest.raises(RtpError):
        parse_rtcp(struct.pack("!BBH", 0x81, 201, 1) + bytes(4))  # one block announced, none there


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=120))
def test_parsers_raise_only_rtp_error(data: bytes) -> None:
    with contextlib.suppress(RtpError):
        parse_rtp(data)
    with contextlib.suppress(RtpError):
        parse_rtcp(data)


# ---- G.711 ------------------------------------------------------------------------------------

ALL_SAMPLES = array.array("h", range(-32768, 32768)).tobytes()
ALL_CODES = bytes(range(256))


def _audioop():  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import audioop
        except ImportError:  # pragma: no cover - Python 3.13+
            return None
    return audioop


@pytest.mark.skipif(_audioop() is None, reason="audioop is gone from this Python")
def test_g711_matches_audioop_on_every_sample_and_code() -> None:
    audioop = _audioop()
    assert pcm_to_ulaw(ALL_SAMPLES) == audioop.lin2ulaw(ALL_SAMPLES, 2)
    assert pcm_to_alaw(ALL_SAMPLES) == audioop.lin2alaw(ALL_SAMPLES, 2)
    assert ulaw_to_pcm(ALL_CODES) == audioop.ulaw2lin(ALL_CODES, 2)
    assert alaw_to_pcm(ALL_CODES) == audioop.alaw2lin(ALL_CODES, 2)


def test_g711_known_values() -> None:
    # ITU-T G.711: silence is 0xFF in µ-law and 0xD5 in A-law; full scale is 0x80/0x00 and 0xAA/0x2A.
    assert pcm_to_ulaw(array.array("h", [0, 32767, -32768]).tobytes()) == b"\xff\x80\x00"
    assert pcm_to_alaw(array.array("h", [0, 32767, -32768]).tobytes()) == b"\xd5\xaa\x2a"
    assert ulaw_to_pcm(b"\xff\x7f") == array.array("h", [0, 0]).tobytes()


@pytest.mark.parametrize("encode, decode", [(pcm_to_ulaw, ulaw_to_pcm), (pcm_to_alaw, alaw_to_pcm)])
def test_g711_decode_encode_is_identity_on_codes(encode, decode) -> None:  # type: ignore[no-untyped-def]
    # Every code decodes to a value that encodes back to it (µ-law's 0x7F/0xFF both mean zero).
    again = encode(decode(ALL_CODES))
    assert sum(a != b for a, b in zip(again, ALL_CODES, strict=True)) <= 1
    with pytest.raises(ValueError, match="even"):
        encode(b"\x00")
