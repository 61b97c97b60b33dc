"""``CallClient``: join and answer Telex calls from Python with aiortc — the base of bots and the
PSTN bridge.

    async with CallClient("http://host:8080", token, display_name="bot") as client:
        call = await client.join(group_id, audio=pcm_frames())        # or client.start_call([user])
        incoming = await client.incoming_call()                       # a ringing Call
        await incoming.accept(audio="greeting.wav")  /  await incoming.decline()
        async for participant_id, frame in call.audio_frames(): ...   # av.AudioFrame, 48 kHz
        sender = await call.create_data_channel(5, reliability="lossy", participants=[pid])
        sender.send(b"ping");  receiver = await call.next_data_channel();  await receiver.receive()
        await call.mute();  await call.hang_up(for_everyone=True)

How it works: commands go to the REST signaling routes and events come back over the realtime
gateway (``RealtimeClient``), which must be connected before a command so no event is missed;
after a drop the gateway replays what was missed from the client's cursor. Media is a full mesh of
``RTCPeerConnection``s, relay-only through the ICE servers of ``:issueRelayConfiguration``
unless ``relay_only=False``. The newcomer offers to every participant already in the call
(``peers`` of the join answer) and the others answer, so two participants never offer to each
other at once. Each connection carries the one outgoing audio track (fanned out with
``MediaRelay``) and an SCTP association for data channels.

Data channels follow ACS semantics: the sender picks the channel id, reliability and priority
and its recipients; receivers learn of each channel as a ``DataChannelReceiver``. On the wire
a channel is an in-band (DCEP) WebRTC data channel per recipient labelled ``acs-data:<id>``,
lossy = unordered with no retransmissions, and the server announces it
(``callDataChannelOpened``) for clients that want to know before data flows.
A ``voip`` or ``voip.join`` token is enough: the realtime gateway delivers call events to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import ssl as ssl_module
import time
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import av
import httpx
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaPlayer, MediaRelay
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcconfiguration import RTCBundlePolicy, RTCIceTransportPolicy
from aiortc.sdp import candidate_from_sdp

from telex.client.chat import TelexClientError
from telex.client.realtime import RealtimeClient, RealtimeEvent

__all__ = [
    "AudioSource",
    "Call",
    "CallClient",
    "DataChannelReceiver",
    "DataChannelSender",
    "RemoteParticipant",
    "pcm_frame",
    "prefer_audio_codecs",
]

log = logging.getLogger(__name__)

_CLOSE_SECONDS = 5.0
# Relay credentials with less than this left are fetched again before a new peer connection.
_RTC_MARGIN = 60.0
RATE, SAMPLES = 48000, 960  # 20 ms of 48 kHz mono, what Opus sends
Reliability = Literal["lossy", "durable"]
Priority = Literal["normal", "high"]
# A media file, 20 ms frames of s16 mono 48 kHz PCM (bytes) or AudioFrames, or any audio track.
AudioSource = (
    str | Path | AsyncIterable[bytes | av.AudioFrame] | Iterable[bytes | av.AudioFrame] | MediaStreamTrack
)
_LABEL = "acs-data:"


def pcm_frame(pcm: bytes, pts: int) -> av.AudioFrame:
    """An ``AudioFrame`` of s16 mono 48 kHz PCM (``len(pcm) // 2`` samples) at ``pts``."""
    frame = av.AudioFrame(format="s16", layout="mono", samples=len(pcm) // 2)
    frame.planes[0].update(pcm)
    frame.sample_rate, frame.pts, frame.time_base = RATE, pts, fractions.Fraction(1, RATE)
    return frame


def prefer_audio_codecs(pc: RTCPeerConnection, mime_types: Iterable[str]) -> None:
    """Put ``mime_types`` (``"audio/PCMU"``, ...) first, in that order, in every audio
    transceiver of ``pc``; the other codecs aiortc has follow, so a peer that has none of them
    still connects. The offer lists them in this order, an answer keeps the common ones in it,
    and each side sends the first codec of the answer (RFC 3264 §6.1, JSEP §5.3.1)."""
    wanted = [m.lower() for m in mime_types]
    codecs = RTCRtpSender.getCapabilities("audio").codecs

    def rank(codec: Any) -> int:
        mime = codec.mimeType.lower()
        return wanted.index(mime) if mime in wanted else len(wanted)

    ordered = sorted(codecs, key=rank)  # sorted is stable: aiortc's own order after ours
    for transceiver in pc.getTransceivers():
        if transceiver.kind == "audio":
            transceiver.setCodecPreferences(ordered)


class _PcmTrack(MediaStreamTrack):
    """Frames from a generator, paced in real time; silence once it runs out (or without one)."""

    kind = "audio"

    def __init__(self, source: AsyncIterable[bytes | av.AudioFrame] | Iterable[bytes | av.AudioFrame] | None):
        super().__init__()
        self._aiter = source.__aiter__() if isinstance(source, AsyncIterable) else None
        self._iter = iter(source) if source is not None and not isinstance(source, AsyncIterable) else None
        self._pts = 0
        self._start: float | None = None

    async def _next(self) -> bytes | av.AudioFrame | None:
        try:
            if self._aiter is not None:
                return await self._aiter.__anext__()
            if self._iter is not None:
                return next(self._iter)
        except (StopIteration, StopAsyncIteration):
            self._aiter = self._iter = None
        return None

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError  # ends MediaRelay's reader, which would otherwise run for ever
        if self._start is None:
            self._start = time.monotonic()
        else:
            wait = self._start + self._pts / RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        item = await self._next()
        if isinstance(item, av.AudioFrame):
            item.pts, item.time_base = self._pts, fractions.Fraction(1, RATE)
            frame = item
        else:
            frame = pcm_frame(item if item else bytes(2 * SAMPLES), self._pts)
        self._pts += frame.samples
        return frame


class _Muting(MediaStreamTrack):
    """The outgoing track: the source's frames, or silence of the same shape while muted."""

    kind = "audio"

    def __init__(self, source: MediaStreamTrack) -> None:
        super().__init__()
        self.source = source
        self.muted = False

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self.source.recv()
        assert isinstance(frame, av.AudioFrame)
        if not self.muted:
            return frame
        silent = av.AudioFrame(format=frame.format.name, layout=frame.layout.name, samples=frame.samples)
        for plane in silent.planes:
            plane.update(bytes(plane.buffer_size))
        silent.sample_rate, silent.pts, silent.time_base = frame.sample_rate, frame.pts, frame.time_base
        return silent

    def stop(self) -> None:
        super().stop()
        self.source.stop()


def _audio_track(audio: AudioSource | None) -> MediaStreamTrack:
    if isinstance(audio, MediaStreamTrack):
        return audio
    if isinstance(audio, str | Path):
        track = MediaPlayer(str(audio)).audio
        if track is None:
            raise ValueError(f"{audio} has no audio")
        return track
    return _PcmTrack(audio)


@dataclass
class RemoteParticipant:
    """Another participant as this client sees it: state from events, media from its connection."""

    id: str
    user_id: str
    display_name: str = ""
    state: str = "connecting"
    is_muted: bool = False
    is_video_on: bool = False
    is_screen_sharing: bool = False
    end_reason: str | None = None
    connection_state: str = "new"  # of the peer connection to it
    audio_frames_received: int = 0
    last_frames: deque[av.AudioFrame] = field(default_factory=lambda: deque(maxlen=50))


class DataChannelSender:
    """A channel this client sends on; ``send`` goes to every recipient whose channel is open."""

    def __init__(
        self, call: Call, channel_id: int, reliability: Reliability, priority: Priority, to: list[str] | None
    ) -> None:
        self._call = call
        self.channel_id = channel_id
        self.reliability: Reliability = reliability
        self.priority: Priority = priority
        self.participants = to  # None: everyone, including later joiners
        self.channels: dict[str, RTCDataChannel] = {}

    def wants(self, participant_id: str) -> bool:
        return self.participants is None or participant_id in self.participants

    def attach(self, participant_id: str, pc: RTCPeerConnection) -> None:
        if participant_id in self.channels or not self.wants(participant_id):
            return
        durable = self.reliability == "durable"
        channel = pc.createDataChannel(
            f"{_LABEL}{self.channel_id}",
            ordered=durable,
            maxRetransmits=None if durable else 0,
            protocol=f"{self.reliability};{self.priority}",
        )
        channel.on("open", self._call._changed)
        self.channels[participant_id] = channel

    def send(self, data: bytes) -> int:
        """Send to every open recipient channel; returns how many it went to."""
        sent = 0
        for channel in self.channels.values():
            if channel.readyState == "open":
                channel.send(data)
                sent += 1
        return sent

    def is_open(self) -> bool:
        targets = self.participants or list(self._call.peer_ids())
        chans = [self.channels.get(p) for p in targets]
        return bool(chans) and all(c is not None and c.readyState == "open" for c in chans)

    async def wait_open(self) -> None:
        """Until the channel is open to every (current) recipient (bound it with ``asyncio.timeout``)."""
        await self._call.wait_for(lambda _: self.is_open())


class DataChannelReceiver:
    """A channel another participant sends to this client on."""

    def __init__(self, sender: str, channel: RTCDataChannel) -> None:
        self.sender = sender  # participant id
        self.channel_id = int(channel.label[len(_LABEL) :])
        reliability, _, priority = channel.protocol.partition(";")
        self.reliability = reliability or "durable"
        self.priority = priority or "normal"
        self._messages: asyncio.Queue[bytes] = asyncio.Queue(maxsize=10_000)
        channel.on("message", self._on_message)

    def _on_message(self, message: bytes | str) -> None:
        data = message.encode() if isinstance(message, str) else message
        with contextlib.suppress(asyncio.QueueFull):  # a reader that never reads loses messages
            self._messages.put_nowait(data)

    async def receive(self) -> bytes:
        return await self._messages.get()


class _Peer:
    """The connection to one other participant."""

    def __init__(self, call: Call, participant_id: str, config: RTCConfiguration) -> None:
        self.call = call
        self.id = participant_id
        self.pc = RTCPeerConnection(config)
        self.tasks: list[asyncio.Task[None]] = []
        self.pc.on("connectionstatechange", self._on_state)
        self.pc.on("track", self._on_track)
        self.pc.on("datachannel", self._on_datachannel)

    def _on_state(self) -> None:
        remote = self.call.participants.get(self.id)
        if remote is not None:
            remote.connection_state = self.pc.connectionState
        self.call._changed()

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self.tasks.append(asyncio.create_task(self._consume(track)))

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if channel.label.startswith(_LABEL):
            self.call._receivers.put_nowait(DataChannelReceiver(self.id, channel))
            self.call._changed()

    async def _consume(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                assert isinstance(frame, av.AudioFrame)
                remote = self.call.participants.get(self.id)
                if remote is not None:
                    remote.audio_frames_received += 1
                    remote.last_frames.append(frame)
                with contextlib.suppress(asyncio.QueueFull):
                    self.call._audio.put_nowait((self.id, frame))
                if remote is not None and remote.audio_frames_received in (1, 50):
                    self.call._changed()

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        # aiortc's close can wait a long time on a connection whose path is already gone (its
        # TURN server restarted, say): bounded, so that leaving never stalls.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_CLOSE_SECONDS):
                await self.pc.close()


class Call:
    """One call as one participant of it sees it. States and reasons are the server's strings."""

    def __init__(self, client: CallClient, call_id: str, participant_id: str) -> None:
        self._client = client
        self.id = call_id
        self.participant_id = participant_id
        self.state = "ringing"  # the call's: ringing, connected, ended
        self.my_state = "ringing"  # this participant's
        self.end_reason: str | None = None
        self.caller_id = ""
        self.caller_display_name = ""
        self.video_offered = False
        self.participants: dict[str, RemoteParticipant] = {}
        self.announced_channels: list[dict[str, Any]] = []  # callDataChannelOpened payloads
        self._peers: dict[str, _Peer] = {}
        self._outgoing: _Muting | None = None
        self._relay = MediaRelay()
        self._senders: list[DataChannelSender] = []
        self._receivers: asyncio.Queue[DataChannelReceiver] = asyncio.Queue()
        self._audio: asyncio.Queue[tuple[str, av.AudioFrame]] = asyncio.Queue(maxsize=1000)
        self._cond = asyncio.Condition()
        self._keepalive: asyncio.Task[None] | None = None
        # Events are applied one at a time, in log order: the pump and the replay of early
        # events (those that came before the REST answer naming the call) take this lock.
        self.lock = asyncio.Lock()

    # observing -------------------------------------------------------------------------------------
    def peer_ids(self) -> list[str]:
        return list(self._peers)

    def _changed(self) -> None:
        async def wake() -> None:
            async with self._cond:
                self._cond.notify_all()

        self._client._spawn(wake())

    async def wait_for(self, predicate: Callable[[Call], bool]) -> None:
        """Until ``predicate(call)`` holds, re-checked on every event and connection change.
        Like every wait here, callers bound it with ``asyncio.timeout``."""
        async with self._cond:
            await self._cond.wait_for(lambda: predicate(self))

    async def wait_connected(self, participants: int = 1) -> None:
        """Until media connections to ``participants`` others are up."""
        await self.wait_for(
            lambda c: sum(1 for p in c._peers.values() if p.pc.connectionState == "connected") >= participants
        )

    async def wait_ended(self) -> str | None:
        """Until this participant is out of the call; its end reason."""
        await self.wait_for(lambda c: c.my_state == "disconnected")
        return self.end_reason

    async def audio_frames(self) -> AsyncIterator[tuple[str, av.AudioFrame]]:
        """Received audio, ``(participant id, frame)``, from everyone; a slow reader loses frames."""
        while True:
            yield await self._audio.get()

    async def next_data_channel(self) -> DataChannelReceiver:
        """The next channel another participant opened to this one."""
        return await self._receivers.get()

    # commands --------------------------------------------------------------------------------------
    async def accept(self, audio: AudioSource | None = None) -> Call:
        """Answer this incoming call; media connects to everyone in it."""
        body = await self._client._post(self._leg("accept"), {})
        await self._joined(body, audio)
        return self

    async def decline(self) -> None:
        await self._client._post(self._leg("decline"))

    async def hang_up(self, *, for_everyone: bool = False) -> None:
        """Leave (or, as the caller, end the call for everyone); media stops at once."""
        await self._client._post(self._leg("hangUp"), {"forEveryone": for_everyone})
        await self._close_media()

    async def mute(self) -> None:
        await self._set_muted(True)

    async def unmute(self) -> None:
        await self._set_muted(False)

    async def hold(self) -> None:
        await self._client._post(self._leg("hold"))

    async def resume(self) -> None:
        await self._client._post(self._leg("resume"))

    async def create_data_channel(
        self,
        channel_id: int,
        *,
        reliability: Reliability = "durable",
        priority: Priority = "normal",
        participants: list[str] | None = None,
    ) -> DataChannelSender:
        """A channel to ``participants`` (ids) or to everyone, announced through the server."""
        await self._client._post(
            self._leg("openDataChannel"),
            {
                "channelId": channel_id,
                "reliability": reliability,
                "priority": priority,
                "participants": participants,
            },
        )
        sender = DataChannelSender(self, channel_id, reliability, priority, participants)
        self._senders.append(sender)
        for pid, peer in self._peers.items():
            if peer.pc.remoteDescription is not None:
                sender.attach(pid, peer.pc)
        return sender

    # internals -------------------------------------------------------------------------------------
    def _leg(self, action: str) -> str:
        return f"/calling/calls/{self.id}/participants/{self.participant_id}/:{action}"

    async def _set_muted(self, muted: bool) -> None:
        if self._outgoing is not None:
            self._outgoing.muted = muted
        await self._client._post(self._leg("setMediaState"), {"isMuted": muted})

    def _apply_snapshot(self, call: dict[str, Any]) -> None:
        self.state = call["state"]
        self.caller_id = call["caller"]["rawId"]
        self.video_offered = call["videoOffered"]
        for p in call["participants"]:
            self._apply_participant(p)

    def _apply_participant(self, p: dict[str, Any]) -> None:
        if p["participantId"] == self.participant_id:
            self.my_state = p["state"]
            self.end_reason = p.get("callEndReason") or self.end_reason
            return
        remote = self.participants.setdefault(
            p["participantId"], RemoteParticipant(p["participantId"], p["identifier"]["rawId"])
        )
        remote.display_name, remote.state = p["displayName"], p["state"]
        remote.is_muted, remote.is_video_on = p["isMuted"], p["isVideoOn"]
        remote.is_screen_sharing, remote.end_reason = p["isScreenSharing"], p.get("callEndReason")

    async def _joined(self, body: dict[str, Any], audio: AudioSource | None) -> None:
        """Take the REST answer's snapshot, apply events that came before it, then offer media
        to every participant already in the call."""
        async with self.lock:
            self._apply_snapshot(body["call"])
            if self._outgoing is None:  # joined again once answered after early media: same media
                self._outgoing = _Muting(_audio_track(audio))
            for event in self._client._early.pop(self.id, []):
                await self._apply(event)
        interval = body.get("keepAliveIntervalSeconds")
        if isinstance(interval, int | float) and interval > 0 and self._keepalive is None:
            self._keepalive = asyncio.create_task(self._keep_alive(float(interval)))
        config = await self._client._rtc_configuration()
        await asyncio.gather(*(self._offer(pid, config) for pid in body["peers"] if pid not in self._peers))
        self._changed()

    def _new_peer(self, participant_id: str, config: RTCConfiguration) -> _Peer:
        peer = _Peer(self, participant_id, config)
        self._peers[participant_id] = peer
        assert self._outgoing is not None
        peer.pc.addTrack(self._relay.subscribe(self._outgoing, buffered=False))
        if self._client.audio_codecs:
            prefer_audio_codecs(peer.pc, self._client.audio_codecs)
        return peer

    def _negotiated(self, peer: _Peer) -> None:
        for sender in self._senders:
            sender.attach(peer.id, peer.pc)

    async def _offer(self, participant_id: str, config: RTCConfiguration) -> None:
        peer = self._new_peer(participant_id, config)
        peer.pc.createDataChannel("telex")  # puts SCTP in the offer, so channels open in-band later
        await peer.pc.setLocalDescription(await peer.pc.createOffer())  # gathers every candidate
        await self._signal(participant_id, "offer", peer.pc.localDescription.sdp)

    async def _on_signal(self, data: dict[str, Any]) -> None:
        sender, kind = data["from"], data["type"]
        if kind == "offer":
            if self._outgoing is None or sender in self._peers:
                return  # not joined yet, or a repeated offer (renegotiation is not supported)
            peer = self._new_peer(sender, await self._client._rtc_configuration())
            await peer.pc.setRemoteDescription(RTCSessionDescription(data["sdp"], "offer"))
            await peer.pc.setLocalDescription(await peer.pc.createAnswer())
            self._negotiated(peer)
            await self._signal(sender, "answer", peer.pc.localDescription.sdp)
        elif kind == "answer" and (offerer := self._peers.get(sender)) is not None:
            await offerer.pc.setRemoteDescription(RTCSessionDescription(data["sdp"], "answer"))
            self._negotiated(offerer)
        elif kind == "candidate" and (known := self._peers.get(sender)) is not None:
            c = data["candidate"]
            if c.get("candidate"):
                candidate = candidate_from_sdp(c["candidate"].removeprefix("candidate:"))
                candidate.sdpMid, candidate.sdpMLineIndex = c.get("sdpMid"), c.get("sdpMLineIndex")
                await known.pc.addIceCandidate(candidate)
        self._changed()

    async def _signal(self, to: str, kind: str, sdp: str) -> None:
        await self._client._post(self._leg("signal"), {"to": to, "type": kind, "sdp": sdp})

    async def _on_event(self, event: RealtimeEvent) -> None:
        async with self.lock:
            await self._apply(event)

    async def _apply(self, event: RealtimeEvent) -> None:
        data, kind = event.data, event.type
        if kind in ("callParticipantAdded", "callParticipantUpdated", "callParticipantRemoved"):
            self._apply_participant(data["participant"])
            gone = data["participant"]["participantId"]
            if kind == "callParticipantRemoved" and (peer := self._peers.pop(gone, None)) is not None:
                await peer.close()
        elif kind in ("callStateChanged", "callStarted"):
            self.state = data["state"]
        elif kind == "callEnded":
            self.state, self.end_reason = "ended", self.end_reason or data.get("callEndReason")
        elif kind == "callSignal" and data["to"] == self.participant_id:
            await self._on_signal(data)
        elif kind == "callDataChannelOpened" and data["from"] != self.participant_id:
            self.announced_channels.append(data)
        if self.my_state == "disconnected":
            await self._close_media()
        self._changed()

    async def _resync(self, snapshot: dict[str, Any]) -> None:
        async with self.lock:
            if "participants" not in snapshot:
                return
            self._apply_snapshot(snapshot)
            self.end_reason = self.end_reason or snapshot.get("callEndReason")
            for pid, remote in self.participants.items():
                if remote.state == "disconnected" and (peer := self._peers.pop(pid, None)) is not None:
                    await peer.close()
            if self.my_state == "disconnected":
                await self._close_media()
        self._changed()

    async def _keep_alive(self, interval: float) -> None:
        """Tell the server this client is still here, or it drops the participant as
        ``connectionLost`` (it cannot tell a quiet client from a vanished one otherwise)."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self._client._post(self._leg("keepAlive"))
            except TelexClientError as exc:
                if exc.status in (404, 409):  # no longer in the call: nothing left to keep
                    return
                log.warning("keep-alive refused: %s", exc)
            except httpx.HTTPError as exc:  # the server is briefly unreachable: try again
                log.warning("keep-alive failed: %s", exc)

    async def _close_media(self) -> None:
        if self._keepalive is not None and self._keepalive is not asyncio.current_task():
            self._keepalive.cancel()
        peers, self._peers = list(self._peers.values()), {}
        for peer in peers:
            await peer.close()
        if self._outgoing is not None:
            self._outgoing.stop()


class CallClient:
    """A user's calling endpoint: REST signaling out, realtime events in, aiortc media."""

    def __init__(
        self,
        endpoint: str,
        token: str,
        *,
        display_name: str | None = None,
        relay_only: bool = True,
        verify: bool | str = True,
        timeout: float = 30.0,
        audio_codecs: tuple[str, ...] = (),
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.display_name = display_name
        self.relay_only = relay_only
        # Audio codecs this endpoint prefers (mime types, best first); () keeps aiortc's order
        # (Opus first). A G.711 gateway prefers G.711 so that its legs need no Opus or resampling.
        self.audio_codecs = audio_codecs
        ctx: ssl_module.SSLContext | None = None
        if self.endpoint.startswith("https://"):
            ctx = ssl_module.create_default_context(cafile=verify if isinstance(verify, str) else None)
            if verify is False:
                ctx.check_hostname, ctx.verify_mode = False, ssl_module.CERT_NONE
        self._http = httpx.AsyncClient(
            base_url=self.endpoint,
            headers={"authorization": f"Bearer {token}"},
            verify=ctx or True,
            timeout=timeout,
        )
        self._realtime = RealtimeClient(self.endpoint, token, ssl=ctx)
        self._calls: dict[str, Call] = {}
        self._early: dict[str, list[RealtimeEvent]] = {}
        self._incoming: asyncio.Queue[Call] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._pump: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None
        self._rtc: RTCConfiguration | None = None
        self._rtc_expires = 0.0  # when the credentials in _rtc expire (unix time)

    async def __aenter__(self) -> CallClient:
        await self._realtime.__aenter__()
        ready = asyncio.ensure_future(self._realtime.wait_connected())
        try:
            # Ready, or refused for good (the realtime task ends: e.g. a revoked token).
            pending: set[asyncio.Future[None]] = {ready}
            if self._realtime._task is not None:
                pending.add(self._realtime._task)
            async with asyncio.timeout(20):
                await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if not ready.done():
                await anext(self._realtime)  # raises the RealtimeError the connection ended with
        except BaseException:
            ready.cancel()
            await self._realtime.close()
            await self._http.aclose()
            raise
        self._pump = asyncio.create_task(self._run())
        self._watch = asyncio.create_task(self._resync_on_reconnect())
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Hang up every call this client is in (else the server notices only when keep-alives stop),
        then close media, the realtime connection and HTTP."""
        for call in list(self._calls.values()):
            if call.my_state in ("connecting", "connected", "onHold"):
                with contextlib.suppress(TelexClientError, httpx.HTTPError):
                    await call.hang_up()
            await call._close_media()
        for background in (self._pump, self._watch):
            if background is not None:
                background.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await background
        for task in list(self._tasks):
            task.cancel()
        await self._realtime.close()
        await self._http.aclose()

    # calls -----------------------------------------------------------------------------------------
    async def join(self, group_id: str, *, audio: AudioSource | None = None, video: bool = False) -> Call:
        """Join the group call of ``group_id`` (a UUID), starting it if nobody is in it yet."""
        body = await self._post(
            f"/calling/groups/{group_id}/:join", {"video": video, "displayName": self.display_name}
        )
        call = self._register(body["call"]["callId"], body["participantId"])
        await call._joined(body, audio)
        return call

    async def start_call(
        self,
        users: list[str],
        *,
        audio: AudioSource | None = None,
        video: bool = False,
        caller_id: str | None = None,
    ) -> Call:
        """Ring ``users`` (communication user ids, or phone numbers ``+E.164`` when the server has
        a SIP trunk: then ``caller_id`` is the resource's number they see); media starts when one
        answers."""
        targets = [
            {"phoneNumber": {"value": u}} if u.startswith("+") else {"communicationUser": {"id": u}}
            for u in users
        ]
        request: dict[str, Any] = {"targets": targets, "video": video, "displayName": self.display_name}
        if caller_id is not None:
            request["alternateCallerId"] = {"phoneNumber": {"value": caller_id}}
        body = await self._post("/calling/calls", request)
        call = self._register(body["call"]["callId"], body["participantId"])
        await call._joined(body, audio)
        return call

    async def incoming_call(self) -> Call:
        """The next call ringing for this user (``accept`` or ``decline`` it)."""
        return await self._incoming.get()

    # plumbing --------------------------------------------------------------------------------------
    def _register(self, call_id: str, participant_id: str) -> Call:
        call = Call(self, call_id, participant_id)
        self._calls[call_id] = call
        return call

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resync_on_reconnect(self, every: float = 0.25) -> None:
        """After the realtime connection resumes, re-read every live call. The gateway replays
        missed call events from the cursor; this is the safety net for a cursor it refused."""
        seen = self._realtime.connects
        while True:
            await asyncio.sleep(every)
            if self._realtime.connects == seen or not self._realtime.connected.is_set():
                continue
            seen = self._realtime.connects
            for call in list(self._calls.values()):
                if call.my_state != "disconnected" and call.state != "ended":
                    with contextlib.suppress(TelexClientError, httpx.HTTPError):
                        snapshot = (await self._http.get(f"/calling/calls/{call.id}")).json()
                        await call._resync(snapshot)

    async def _run(self) -> None:
        async for event in self._realtime:
            call_id = event.data.get("callId")
            if not isinstance(call_id, str):
                continue
            try:
                if event.type == "incomingCall":
                    await self._on_incoming(event)
                elif (call := self._calls.get(call_id)) is not None:
                    await call._on_event(event)
                else:
                    early = self._early.setdefault(call_id, [])
                    if len(early) < 100:
                        early.append(event)
            except Exception:  # one bad event must not stop the client
                log.exception("calling event %s failed", event.type)

    async def _on_incoming(self, event: RealtimeEvent) -> None:
        data = event.data
        call = self._register(data["callId"], data["participantId"])
        call.caller_id = data["caller"]["rawId"]
        call.caller_display_name = data.get("callerDisplayName", "")
        call.video_offered = bool(data.get("videoOffered"))
        async with call.lock:
            for early in self._early.pop(call.id, []):
                await call._apply(early)
        await self._incoming.put(call)

    async def _post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = await self._http.post(path, json=body)
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                code, message = error["code"], error["message"]
            except (ValueError, KeyError, TypeError):
                code, message = "Unknown", response.text[:200]
            raise TelexClientError(response.status_code, code, message)
        return response.json() if response.content else None

    async def _rtc_configuration(self) -> RTCConfiguration:
        """ICE servers from the relay-configuration route, fetched again when their credentials
        have less than ``_RTC_MARGIN`` seconds left: the server keeps them short (minutes) since
        a credential cannot be revoked in every relay; a new peer connection gets fresh ones, and
        an allocation already made keeps refreshing with its own."""
        if self._rtc is None or self._rtc_expires - time.time() < _RTC_MARGIN:
            relay = await self._post(
                "/networkTraversal/:issueRelayConfiguration?api-version=2022-03-01-preview", {"ttl": 3600}
            )
            servers = []
            for entry in relay["iceServers"]:
                # aiortc uses one TURN server: prefer UDP, which every relay offers.
                urls = [u for u in entry["urls"] if u.startswith("turn:") and u.endswith("transport=udp")]
                urls += [u for u in entry["urls"] if u.startswith("stun:")]
                if urls:
                    servers.append(
                        RTCIceServer(urls=urls, username=entry["username"], credential=entry["credential"])
                    )
            policy = RTCIceTransportPolicy.RELAY if self.relay_only else RTCIceTransportPolicy.ALL
            self._rtc = RTCConfiguration(
                iceServers=servers, iceTransportPolicy=policy, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE
            )
            expires = str(relay.get("expiresOn", ""))
            try:
                self._rtc_expires = datetime.fromisoformat(expires.replace("Z", "+00:00")).timestamp()
            except ValueError:
                self._rtc_expires = time.time() + 300
        return self._rtc
