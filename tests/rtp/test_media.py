"""RFC 4733 events, the jitter buffer and the RTP session (latching, RTCP), all sans-I/O."""

from __future__ import annotations

import array
import math

import pytest

from telex.rtp.dtmf import DtmfEnded, DtmfReceiver, DtmfSender, DtmfStarted, TelephoneEvent
from telex.rtp.g711 import pcm_to_ulaw
from telex.rtp.jitter import FrameKind, JitterBuffer
from telex.rtp.packet import RtcpReceiverReport, RtcpSenderReport, RtpPacket, parse_rtcp, parse_rtp
from telex.rtp.session import RtpSession, StreamConfig

PEER = ("192.0.2.10", 30000)
PEER_RTCP = ("192.0.2.10", 30001)


def tone(n: int = 160, level: int = 8000, start: int = 0) -> bytes:
    return array.array(
        "h", (int(level * math.sin(2 * math.pi * 440 * (start + i) / 8000)) for i in range(n))
    ).tobytes()


# ---- RFC 4733 ---------------------------------------------------------------------------------


def test_sender_packets_follow_rfc4733() -> None:
    sender = DtmfSender(step=160)
    sender.send("5", duration_ms=60)
    packets = []
    ts = 1000
    while sender.active:
        payload, marker, event_ts = sender.next_payload(ts)  # type: ignore[misc]
        packets.append((TelephoneEvent.decode(payload), marker, event_ts))
        ts += 160
    assert [(e.event, e.end, e.duration) for e, _, _ in packets] == [  # type: ignore[union-attr]
        (5, False, 160), (5, False, 320), (5, True, 480), (5, True, 480), (5, True, 480)
    ]  # fmt: skip
    assert [m for _, m, _ in packets] == [True, False, False, False, False]
    assert {t for _, _, t in packets} == {1000}  # the event's start, in every packet


def test_receiver_reports_each_press_once_whatever_the_variant() -> None:
    rx = DtmfReceiver()
    events = []
    # SIPp's pcap style: duration +320, the end packet three times with the same sequence number.
    for duration, end in [(320, False), (640, False), (960, True), (960, True), (960, True)]:
        events += rx.receive(0xE0, 5000, TelephoneEvent(1, end, 10, duration).encode(), 0.0)
    # pjsua style, same SSRC as the audio, the next press starts at a new timestamp.
    for duration, end in [(160, False), (800, True), (800, True)]:
        events += rx.receive(0xA0, 9000, TelephoneEvent(11, end, 10, duration).encode(), 1.0)
    assert events == [
        DtmfStarted("1", 0xE0, 5000), DtmfEnded("1", 0xE0, 5000, 120),
        DtmfStarted("#", 0xA0, 9000), DtmfEnded("#", 0xA0, 9000, 100),
    ]  # fmt: skip


def test_receiver_ends_a_digit_whose_end_packets_were_lost() -> None:
    rx = DtmfReceiver(timeout=1.0)
    assert rx.receive(1, 100, TelephoneEvent(2, False, 10, 160).encode(), 10.0) == [DtmfStarted("2", 1, 100)]
    assert rx.next_timer() == 11.0
    assert rx.handle_timer(11.0) == [DtmfEnded("2", 1, 100, 20)]
    # A new press on the same source closes an open one at once.
    rx.receive(1, 200, TelephoneEvent(3, False, 10, 160).encode(), 12.0)
    assert rx.receive(1, 400, TelephoneEvent(4, False, 10, 160).encode(), 12.1) == [
        DtmfEnded("3", 1, 200, 20),
        DtmfStarted("4", 1, 400),
    ]


# ---- jitter buffer ----------------------------------------------------------------------------


def frames(buffer: JitterBuffer, n: int) -> list[tuple[FrameKind, bytes]]:
    return [(f.kind, f.pcm) for f in (buffer.pop() for _ in range(n))]


def test_prefetch_then_in_order_audio() -> None:
    jb = JitterBuffer(target_delay=320)
    chunks = [tone(160, start=160 * i) for i in range(6)]
    jb.put(0, chunks[0])
    assert frames(jb, 1)[0][0] is FrameKind.SILENCE  # still prefetching
    for i in range(1, 6):
        jb.put(160 * i, chunks[i])
    out = frames(jb, 6)
    assert [k for k, _ in out] == [FrameKind.AUDIO] * 6
    assert [p for _, p in out] == chunks


def test_reordering_and_duplicates() -> None:
    jb = JitterBuffer(target_delay=480)
    chunks = {ts: tone(160, start=ts) for ts in range(0, 960, 160)}
    for ts in (0, 320, 160, 480, 160, 800, 640):
        jb.put(ts, chunks.get(ts, b""))
    assert jb.stats.duplicates == 1
    assert [p for _, p in frames(jb, 6)] == [chunks[ts] for ts in range(0, 960, 160)]


def test_loss_is_concealed_by_repetition_then_silence() -> None:
    jb = JitterBuffer(target_delay=160, max_concealed=2)
    last = tone(160, level=16000)
    jb.put(0, last)
    jb.put(160 * 5, tone(160))  # four frames lost in between
    kinds = [k for k, _ in frames(jb, 6)]
    assert kinds == [FrameKind.AUDIO, FrameKind.CONCEALED, FrameKind.CONCEALED, FrameKind.SILENCE,
                     FrameKind.SILENCE, FrameKind.AUDIO]  # fmt: skip
    concealed = JitterBuffer(target_delay=160)
    concealed.put(0, last)
    concealed.put(480, tone(160))
    concealed.pop()
    repeated = array.array("h", concealed.pop().pcm)
    assert list(repeated) == [s >> 1 for s in array.array("h", last)]  # half level


def test_30ms_packets_come_out_as_20ms_frames() -> None:
    jb = JitterBuffer(target_delay=480)
    stream = tone(240 * 4)
    for i in range(4):
        jb.put(240 * i, stream[480 * i : 480 * (i + 1)])
    out = b"".join(p for _, p in frames(jb, 6))
    assert out == stream


def test_late_packets_are_dropped_and_latency_is_bounded() -> None:
    jb = JitterBuffer(target_delay=320, max_delay=960)
    for i in range(4):
        jb.put(160 * i, tone())
    frames(jb, 3)
    assert not jb.put(0, tone()) and jb.stats.late == 1
    for i in range(4, 30):  # the sender bursts 28 frames
        jb.put(160 * i, tone())
    jb.pop()
    assert jb.buffered <= 960


def test_timestamp_wrap_and_jump_reset() -> None:
    jb = JitterBuffer(target_delay=160)
    base = 0xFFFFFF00
    for i in range(4):
        jb.put((base + 160 * i) & 0xFFFFFFFF, tone())
    assert [k for k, _ in frames(jb, 4)] == [FrameKind.AUDIO] * 4
    jb.put(50_000_000, tone())
    assert jb.stats.resets == 1


# ---- the RTP session --------------------------------------------------------------------------


def config(**kw: object) -> StreamConfig:
    base: dict[str, object] = {
        "codec": "PCMU", "payload_type": 0, "remote": PEER, "remote_rtcp": PEER_RTCP, "telephone_event": 101,
    }  # fmt: skip
    base.update(kw)
    return StreamConfig(**base)  # type: ignore[arg-type]


def test_send_frames_with_marker_timestamps_and_dtmf_in_between() -> None:
    s = RtpSession(config(), now=0.0, ssrc=42)
    sent = [parse_rtp(d.data) for pcm in [tone()] * 2 for d in s.send_frame(pcm)]
    s.send_dtmf("7", duration_ms=40)
    while s.dtmf_out.active:
        sent += [parse_rtp(d.data) for d in s.send_frame(tone())]
    sent += [parse_rtp(d.data) for d in s.send_frame(tone())]
    assert [p.payload_type for p in sent] == [0, 0, 101, 101, 101, 101, 0]
    assert [p.marker for p in sent] == [True, False, True, False, False, False, True]
    seqs = [p.sequence for p in sent]
    assert seqs == [(seqs[0] + i) & 0xFFFF for i in range(7)]
    ts = [p.timestamp for p in sent]
    assert ts[1] - ts[0] == 160 and ts[2] == ts[3] == ts[4] == ts[5] == ts[1] + 160
    assert ts[6] == ts[1] + 160 * 5  # the RTP clock kept running under the event
    assert sent[0].payload == pcm_to_ulaw(tone()) and s.stats.dtmf_sent == 1


def test_digits_are_separate_events_with_audio_in_between() -> None:
    s = RtpSession(config(), now=0.0, ssrc=42)
    s.send_dtmf("55", duration_ms=40, gap_ms=40)
    sent = []
    while s.dtmf_out.active:
        sent += [parse_rtp(d.data) for d in s.send_frame(tone())]
    kinds = [(p.payload_type, p.marker) for p in sent]
    event, audio = [(101, True)] + [(101, False)] * 3, [(0, True), (0, False)]
    assert kinds == event + audio + event + audio  # §2.5.1.2: M on each event's first packet
    events = [TelephoneEvent.decode(p.payload) for p in sent if p.payload_type == 101]
    assert [(e.event, e.end, e.duration) for e in events if e] == [(5, False, 160)] + [(5, True, 320)] * 3 + [
        (5, False, 160)
    ] + [(5, True, 320)] * 3  # the end bit three times (§2.5.1.4)
    first, second = sent[0].timestamp, sent[6].timestamp
    assert {p.timestamp for p in sent[:4]} == {first} and second == first + 6 * 160
    assert s.stats.dtmf_sent == 2


def test_symmetric_rtp_latches_on_the_first_valid_packet() -> None:
    s = RtpSession(config(), now=0.0)
    assert s.destination == PEER
    nat = ("203.0.113.5", 41000)
    s.receive_rtp(RtpPacket(0, 1, 160, 99, pcm_to_ulaw(tone())).encode(), nat, 0.0)
    assert s.latched == nat and s.destination == nat
    # A third party cannot inject audio once latched...
    s.receive_rtp(RtpPacket(0, 2, 320, 77, pcm_to_ulaw(tone())).encode(), ("198.18.0.1", 1), 0.1)
    assert s.stats.foreign == 1
    # ...and packets with a payload type nobody negotiated never latch.
    fresh = RtpSession(config(), now=0.0)
    fresh.receive_rtp(RtpPacket(13, 1, 0, 5, b"\x40").encode(), nat, 0.0)
    assert fresh.latched is None and fresh.stats.other_payload == 1
    # The latched source going quiet lets another take over (the peer's NAT rebound).
    s.receive_rtp(RtpPacket(0, 3, 480, 99, pcm_to_ulaw(tone())).encode(), ("203.0.113.5", 41002), 5.0)
    assert s.latched == ("203.0.113.5", 41002)
    s.update(config(remote=("192.0.2.20", 32000)))
    assert s.latched is None and s.destination == ("192.0.2.20", 32000)


def test_no_sending_while_held_or_without_a_peer() -> None:
    assert RtpSession(config(send=False), now=0.0).send_frame(tone()) == []
    assert RtpSession(config(remote=None), now=0.0).send_frame(tone()) == []


def test_rtcp_reports_loss_and_jitter() -> None:
    s = RtpSession(config(), now=0.0, ssrc=1, rtcp_interval=5.0)
    for seq in (10, 11, 13, 14):  # 12 is lost
        s.receive_rtp(RtpPacket(0, seq, 160 * seq, 0xBEEF, pcm_to_ulaw(tone())).encode(), PEER, seq * 0.02)
    s.send_frame(tone())
    sr_from_peer = RtcpSenderReport(0xBEEF, 0x1234_5678_9ABC_0000, 0, 4, 640).encode()
    s.receive_rtcp(sr_from_peer, PEER_RTCP, 0.5)
    datagrams, _ = s.handle_timer(8.0)
    [report] = datagrams
    assert report.rtcp and report.address == PEER_RTCP
    first = parse_rtcp(report.data)[0]
    assert isinstance(first, RtcpSenderReport) and first.packet_count == 1
    [block] = first.reports
    assert (block.ssrc, block.cumulative_lost, block.highest_sequence) == (0xBEEF, 1, 14)
    assert block.fraction_lost == 256 // 5
    assert block.last_sr == 0x5678_9ABC and block.delay_since_last_sr == int(7.5 * 65536)
    datagrams, _ = s.handle_timer(20.0)
    assert isinstance(parse_rtcp(datagrams[0].data)[0], RtcpReceiverReport)  # nothing sent since


def test_dtmf_and_audio_through_the_session() -> None:
    s = RtpSession(config(), now=0.0)
    events = []
    for i in range(5):
        s.receive_rtp(RtpPacket(0, i, 160 * i, 9, pcm_to_ulaw(tone(start=160 * i))).encode(), PEER, 0.02 * i)
    for duration, end in [(160, False), (320, True), (320, True)]:
        events += s.receive_rtp(
            RtpPacket(101, 9, 800, 9, TelephoneEvent(11, end, 10, duration).encode()).encode(), PEER, 0.1
        )
    assert [type(e).__name__ for e in events] == ["DtmfStarted", "DtmfEnded"]
    kinds = [s.pop_frame(0.2).kind for _ in range(5)]
    assert kinds.count(FrameKind.AUDIO) == 5


def test_from_negotiated_reads_the_sip_answer() -> None:
    from telex.sip.sdp import AudioSession, parse_sdp
    from tests.sip.samples import SDP_OFFER

    _, media = AudioSession("198.51.100.1", 40000, "1").answer(parse_sdp(SDP_OFFER))
    cfg = StreamConfig.from_negotiated(media)
    assert (cfg.codec, cfg.payload_type, cfg.telephone_event, cfg.remote) == (
        "PCMA",
        8,
        101,
        ("192.0.2.10", 30000),
    )
    assert cfg.remote_rtcp == ("192.0.2.10", 30001) and cfg.samples_per_frame == 160


@pytest.mark.parametrize("ptime", [10, 20, 30])
def test_ptime_sets_the_frame_size(ptime: int) -> None:
    s = RtpSession(config(ptime=ptime), now=0.0)
    [d] = s.send_frame(tone(8 * ptime))
    assert len(parse_rtp(d.data).payload) == 8 * ptime
