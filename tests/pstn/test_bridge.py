"""The bridge's keys towards the carrier (Call Automation's sendDtmfTones to a phone): RFC 4733
when the carrier negotiated telephone-event, otherwise tones in the audio the pacer pulls; and
the codec its participant's peer connections settle on (G.711, whichever side offers)."""

from __future__ import annotations

import pytest

pytest.importorskip("aiortc")

import fractions

import av
from aiortc import AudioStreamTrack, MediaStreamTrack, RTCPeerConnection

from telex.automation.media.dtmf import tones_pcm
from telex.client.calling import prefer_audio_codecs
from telex.core.clock import FakeClock
from telex.pstn.bridge import AUDIO_CODECS, Bridge, G711Track, sent_codec
from telex.rtp import RtpEndpoint
from telex.rtp.g711 import pcm_to_alaw
from telex.rtp.session import RtpSession, StreamConfig

FRAME = 320  # 20 ms of 8 kHz 16-bit PCM


def bridge(telephone_event: int | None) -> Bridge:
    rtp = RtpEndpoint(FakeClock())
    config = StreamConfig("PCMU", 0, ("192.0.2.1", 4000), telephone_event=telephone_event)
    rtp.session = RtpSession(config, now=0.0)
    return Bridge(rtp, lambda key: None)


def test_keys_go_as_rfc4733_events_when_the_carrier_has_them() -> None:
    b = bridge(telephone_event=96)
    b.send_keys("1#")
    assert b.rtp.session is not None and b.rtp.session.dtmf_out.active
    assert b._pull(FRAME) is None  # nothing in-band: the pacer sends silence under the events
    packets = [b.rtp.session.send_frame(bytes(FRAME)) for _ in range(20)]
    kinds = [d[0].data[1] & 0x7F for d in packets]
    # 100 ms: durations 160 .. 640, then 800 with the end bit three times; 60 ms of audio; "#"
    assert kinds[:7] == [96] * 7 and kinds[7:10] == [0] * 3 and kinds[10:17] == [96] * 7


def test_keys_are_tones_when_the_carrier_has_no_telephone_event() -> None:
    b = bridge(telephone_event=None)
    b.send_keys("1#")
    expected = tones_pcm("1#", on=0.1, off=0.06, rate=8000)
    pulled = b""
    while (frame := b._pull(FRAME)) is not None:
        pulled += frame
    assert (
        pulled.rstrip(b"\0") == expected.rstrip(b"\0") and len(pulled) == -(-len(expected) // FRAME) * FRAME
    )
    assert b.rtp.session is not None and not b.rtp.session.dtmf_out.active


async def first_codec(offerer: RTCPeerConnection, answerer: RTCPeerConnection) -> tuple[str, str]:
    """The first audio codec of the offer and of the answer (what each side sends with)."""
    await offerer.setLocalDescription(await offerer.createOffer())
    await answerer.setRemoteDescription(offerer.localDescription)
    await answerer.setLocalDescription(await answerer.createAnswer())
    await offerer.setRemoteDescription(answerer.localDescription)

    def first(sdp: str) -> str:
        m = next(line for line in sdp.splitlines() if line.startswith("m=audio"))
        pt = m.split()[3]
        return next(line for line in sdp.splitlines() if line.startswith(f"a=rtpmap:{pt} ")).split()[1]

    return first(offerer.localDescription.sdp), first(answerer.localDescription.sdp)


@pytest.mark.parametrize("gateway_offers", [True, False], ids=["gateway-offers", "gateway-answers"])
async def test_the_gateway_participant_gets_g711_whoever_offers(gateway_offers: bool) -> None:
    gateway, other = RTCPeerConnection(), RTCPeerConnection()
    try:
        for pc in (gateway, other):
            pc.addTrack(AudioStreamTrack())
        prefer_audio_codecs(gateway, AUDIO_CODECS)
        offer, answer = await first_codec(*((gateway, other) if gateway_offers else (other, gateway)))
        assert answer == "PCMU/8000"  # both ends send PCMU
        assert offer == ("PCMU/8000" if gateway_offers else "opus/48000/2")
        assert sent_codec(gateway) == sent_codec(other) == "pcmu"
    finally:
        await gateway.close()
        await other.close()


class Frames(MediaStreamTrack):
    kind = "audio"

    async def recv(self) -> av.AudioFrame:
        frame = av.AudioFrame(format="s16", layout="mono", samples=160)
        frame.planes[0].update(tones_pcm("5", on=0.02, off=0, rate=8000))
        frame.sample_rate, frame.pts, frame.time_base = 8000, 480, fractions.Fraction(1, 8000)
        return frame


async def test_a_g711_peer_gets_packets_we_encoded_and_an_opus_peer_frames() -> None:
    pcm = tones_pcm("5", on=0.02, off=0, rate=8000)
    packet = await G711Track(Frames(), lambda: "pcma").recv()
    assert isinstance(packet, av.Packet) and bytes(packet) == pcm_to_alaw(pcm) and packet.pts == 480
    assert isinstance(await G711Track(Frames(), lambda: "opus").recv(), av.AudioFrame)
