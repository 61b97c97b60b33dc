"""The media of one trunk call: its RTP endpoint (G.711 to the carrier) joined to its Telex
participant (an aiortc peer of every other participant in the call).

    carrier ─RTP─► RtpEndpoint ─► jitter buffer, re-clocked 20 ms frames (8 kHz PCM)
                                   └─► TrunkTrack ─► G711Track per peer ─► aiortc ─► the others
                                       (G.711 packets we encode, or frames aiortc encodes to Opus)
    the others ─► aiortc ─► frames per participant ─► 8 kHz mono as is (else resampled) ─► inbox[pid]
                                   RtpEndpoint's pacer, every ptime ─► pull(): mix of the inboxes
    carrier ─RFC 4733─► DtmfStarted ─► on_key(digit)   (Call Automation's recognizers)
    send_keys(keys) ─► RFC 4733 events to the carrier (telephone-event negotiated),
                       else tones mixed into what the pacer pulls

The participant's peer connections prefer G.711 (``AUDIO_CODECS``): every WebRTC endpoint has
it (RFC 7874 §3 makes PCMU/PCMA mandatory), so the path from the trunk to the others is 8 kHz
end to end, with no Opus encoder, decoder or resampler per frame; a peer that offers only Opus
still connects, through the resampler.

The pacer pulls instead of being pushed so that two participants (a bot and an agent) are
mixed into one stream at the trunk's rate, not sent one after the other at twice it; an inbox
holds at most 200 ms, so a participant whose frames come in bursts loses the oldest.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
from collections.abc import Callable
from typing import Any

import av
from aiortc import MediaStreamTrack, RTCPeerConnection, sdp
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError

from telex.automation.media.audio import mix
from telex.automation.media.core import DTMF_OFF, DTMF_ON
from telex.automation.media.dtmf import tones_pcm
from telex.automation.media.signaling import MediaCall
from telex.client.calling import Call
from telex.rtp import DtmfStarted, RtpEndpoint
from telex.rtp.g711 import pcm_to_alaw, pcm_to_ulaw

__all__ = ["AUDIO_CODECS", "Bridge", "G711Track", "TrunkTrack", "sent_codec"]

log = logging.getLogger(__name__)

RATE = 8000
AUDIO_CODECS = ("audio/PCMU", "audio/PCMA")
_INBOX_MAX = 2 * RATE // 5  # 200 ms of 16-bit samples
_ENCODERS: dict[str, Callable[[bytes], bytes]] = {"pcmu": pcm_to_ulaw, "pcma": pcm_to_alaw}


class TrunkTrack(MediaStreamTrack):
    """What the carrier's side says, as frames for the call's peer connections. Before the
    trunk's media starts (ringing) it waits; the pacer then sets the pace."""

    kind = "audio"

    def __init__(self, rtp: RtpEndpoint) -> None:
        super().__init__()
        self._rtp = rtp
        self._pts = 0

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self._rtp.read_frame()
        samples = len(frame.pcm) // 2
        out = av.AudioFrame(format="s16", layout="mono", samples=samples)
        out.planes[0].update(frame.pcm)
        out.sample_rate, out.pts, out.time_base = RATE, self._pts, fractions.Fraction(1, RATE)
        self._pts += samples
        return out


def sent_codec(pc: RTCPeerConnection) -> str | None:
    """The audio codec ``pc`` sends with once negotiated ("pcmu", "opus", ...): the first one
    of the answer, which is what aiortc picks on either side (JSEP §5.3.1); None before."""
    local, remote = pc.localDescription, pc.remoteDescription
    if local is None or remote is None:
        return None
    answer = local if local.type == "answer" else remote
    for media in sdp.SessionDescription.parse(answer.sdp).media:
        if media.kind == "audio" and media.rtp.codecs:
            return media.rtp.codecs[0].mimeType.split("/")[-1].lower()
    return None


class G711Track(MediaStreamTrack):
    """The carrier's side for one peer connection. When that connection sends PCMU or PCMA,
    the frames are encoded here (``telex.rtp.g711``: table lookups) and handed to aiortc as
    packets, which it sends as they are: no PyAV encoder with its resampler and no hop to a
    worker thread per 20 ms frame, as aiortc does for frames. Otherwise (Opus), the frames."""

    kind = "audio"

    def __init__(self, source: MediaStreamTrack, codec: Callable[[], str | None]) -> None:
        super().__init__()
        self._source = source
        self._codec = codec
        self._encode: Callable[[bytes], bytes] | None = None
        self._known = False

    async def recv(self) -> av.AudioFrame | av.Packet[Any]:
        frame = await self._source.recv()
        assert isinstance(frame, av.AudioFrame)
        if not self._known:
            name = self._codec()  # known by now: aiortc reads a track once negotiation is done
            self._known = name is not None
            self._encode = _ENCODERS.get(name or "")
        if self._encode is None:
            return frame
        packet = av.Packet(self._encode(bytes(frame.planes[0])[: frame.samples * 2]))
        packet.pts, packet.time_base = frame.pts, fractions.Fraction(1, RATE)
        return packet

    def stop(self) -> None:
        super().stop()
        self._source.stop()


class Bridge:
    def __init__(self, rtp: RtpEndpoint, on_key: Callable[[str], None]) -> None:
        self.rtp = rtp
        self.track = TrunkTrack(rtp)
        self.frames_to_trunk = 0
        self.keys: list[str] = []
        self._on_key = on_key
        self._inbox: dict[str, bytearray] = {}
        self._resamplers: dict[str, av.AudioResampler] = {}
        self._tones = bytearray()  # in-band keys still to mix in (a carrier without RFC 4733)
        self._tasks: list[asyncio.Task[None]] = []
        self._relay = MediaRelay()
        rtp.pull = self._pull

    def outgoing(self, call: MediaCall) -> Callable[[str], MediaStreamTrack]:
        """``call``'s track for each peer connection (``MediaCall.track_for``)."""

        def track_for(pid: str) -> MediaStreamTrack:
            source = self._relay.subscribe(self.track, buffered=False)
            return G711Track(source, lambda: sent_codec(call._peers[pid].pc) if pid in call._peers else None)

        return track_for

    def start(self, call: Call) -> None:
        """Carry ``call``'s audio to the trunk, and the trunk's digits to ``on_key``."""
        self._tasks = [asyncio.create_task(self._read(call)), asyncio.create_task(self._dtmf())]

    def send_keys(self, keys: str) -> None:
        """Press ``keys`` towards the carrier, as Call Automation's in-band tones are timed
        (``DTMF_ON`` each, ``DTMF_OFF`` apart): RFC 4733 events with the payload type the SDP
        negotiated, or, if the carrier offered no telephone-event, the tones themselves."""
        session = self.rtp.session
        if session is not None and session.config.telephone_event is not None:
            self.rtp.send_dtmf(keys, round(DTMF_ON * 1000), round(DTMF_OFF * 1000))
        else:
            self._tones += tones_pcm(keys, on=DTMF_ON, off=DTMF_OFF, rate=RATE)

    def _pull(self, size: int) -> bytes | None:
        ready = [box for box in self._inbox.values() if len(box) >= size]
        frames = []
        for box in ready:
            frames.append(bytes(box[:size]))
            del box[:size]
        if self._tones:
            frames.append(bytes(self._tones[:size]).ljust(size, b"\0"))
            del self._tones[:size]
        if not frames:
            return None
        self.frames_to_trunk += 1
        return mix(frames)

    async def _read(self, call: Call) -> None:
        async for pid, frame in call.audio_frames():
            box = self._inbox.setdefault(pid, bytearray())
            if frame.sample_rate == RATE and frame.format.name == "s16" and frame.layout.name == "mono":
                box += bytes(frame.planes[0])[: frame.samples * 2]  # G.711 decoded: as is
            else:
                rs = self._resamplers.get(pid)
                if rs is None:
                    rs = av.AudioResampler(format="s16", layout="mono", rate=RATE)
                    self._resamplers[pid] = rs
                for chunk in rs.resample(frame):
                    box += bytes(chunk.planes[0])[: chunk.samples * 2]
            if len(box) > _INBOX_MAX:
                del box[: len(box) - _INBOX_MAX]

    async def _dtmf(self) -> None:
        while True:
            event = await self.rtp.dtmf.get()
            if isinstance(event, DtmfStarted):
                self.keys.append(event.digit)
                try:
                    self._on_key(event.digit)
                except Exception:  # a recognizer's trouble must not stop the digits that follow
                    log.exception("DTMF %s could not be delivered", event.digit)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.track.stop()
        await self.rtp.close()
