"""One call connection's server-side media: the asyncio shell around ``MediaCore``.

    peers (aiortc, one per participant) ──frames──► reader: resample to 16 kHz mono ─► inbox[pid]
    ticker, every 20 ms (drift-corrected, monotonic):
        heard = 20 ms from each inbox ─► core.tick(now, heard) ─► each peer's outgoing track
                                     └► recorder: mix(heard + what was played) ─► WAV
        core.events() ─► emitter task ─► host.media_events (callbacks, in order)
    commands (play, recognize …) ─► core; play sources load in the background (core.loaded)

The queue only moves while at least one peer connection is up, so a prompt started right
after ``CallConnected`` is not played into a connection still doing ICE and DTLS. Per-peer
outgoing tracks hold at most five frames (100 ms): a peer whose sender stalls loses the oldest,
it never holds up the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from telex.automation.media.audio import FRAME_BYTES, FRAME_SAMPLES, RATE, Clip, Resampler, mix, to_frame
from telex.automation.media.core import MediaCore, MediaEvent, PlayOp, RecognizeOp, Result
from telex.automation.media.recorder import Recorder
from telex.automation.media.signaling import LocalCallClient, MediaCall
from telex.automation.media.sources import SourceError, SourceLoader

__all__ = ["MediaSession", "SessionHost", "default_hold_music"]

log = logging.getLogger(__name__)

_TICK = FRAME_SAMPLES / RATE
_INBOX_MAX = FRAME_BYTES * 10  # 200 ms of a participant's audio waiting for the beat
_JOINED = ("connecting", "connected", "onHold")
PHONE_PREFIX = "4:"  # the raw id of a phone number participant (a trunk leg)


class SessionHost(Protocol):
    async def media_events(self, session: MediaSession, events: list[MediaEvent]) -> None: ...

    async def recording_changed(self, session: MediaSession, recorder: Recorder, state: str) -> None: ...

    def session_ended(self, session: MediaSession) -> None: ...


def default_hold_music() -> Clip:
    """A quiet two-note chime every two seconds (hold music when the application names none)."""
    out = bytearray()
    for freq in (523.25, 659.25):
        n = int(0.25 * RATE)
        for i in range(n):
            gain = 2000 * min(1.0, i / 160, (n - i) / 800)
            out += int(gain * math.sin(2 * math.pi * freq * i / RATE)).to_bytes(2, "little", signed=True)
    out += bytes(2 * int(1.5 * RATE))
    return Clip.of(bytes(out))


class _OutTrack(MediaStreamTrack):
    """What the application sends one participant: frames the ticker pushes, at most 100 ms."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._frames: deque[bytes] = deque(maxlen=5)
        self._ready = asyncio.Event()
        self._pts = 0

    def push(self, pcm: bytes) -> None:
        self._frames.append(pcm)
        self._ready.set()

    async def recv(self) -> av.AudioFrame:
        while not self._frames:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        frame = to_frame(self._frames.popleft(), self._pts)
        self._pts += FRAME_SAMPLES
        return frame

    def stop(self) -> None:
        super().stop()
        self._ready.set()


class MediaSession:
    def __init__(
        self,
        connection_id: str,
        call_id: str,
        client: LocalCallClient,
        call: MediaCall,
        loader: SourceLoader,
        host: SessionHost,
        recordings: Path,
    ) -> None:
        self.connection_id = connection_id
        self.call_id = call_id
        self.client = client
        self.call = call
        self.core = MediaCore()
        # Hands keys for a phone participant to its trunk leg: (call id, participant id, keys).
        self.keys_out: Callable[[str, str, str], None] | None = None
        self._loader = loader
        self._host = host
        self._recordings = recordings
        self._tracks: dict[str, _OutTrack] = {}
        self._inbox: dict[str, bytearray] = {}
        self._resamplers: dict[str, Resampler] = {}
        self._emits: asyncio.Queue[list[MediaEvent] | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task[Any]] = []
        self._loads: set[asyncio.Task[None]] = set()
        self.recorder: Recorder | None = None
        self.ticks = 0
        self.late_ticks = 0  # ticks that ran more than one beat late (CPU starved)
        self.done = asyncio.Event()
        call.track_for = self._track_for

    # the shell -------------------------------------------------------------------------------------
    def _track_for(self, pid: str) -> MediaStreamTrack:
        track = self._tracks[pid] = _OutTrack()
        return track

    async def run(self) -> None:
        """Until the application's participant is out of the call."""
        self._tasks = [
            asyncio.create_task(self._read()),
            asyncio.create_task(self._tick()),
            asyncio.create_task(self._emit()),
        ]
        try:
            await self.call.wait_for(lambda c: c.my_state == "disconnected" or c.state == "ended")
        finally:
            await self.close()

    async def close(self) -> None:
        if self.done.is_set():
            return
        self.done.set()
        for task in self._tasks[:2]:
            task.cancel()
        for task in list(self._loads):
            task.cancel()
        if self.recorder is not None:
            await self._stop_recording()
        self._emits.put_nowait(None)
        if len(self._tasks) > 2:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._tasks[2], 10)
        for track in self._tracks.values():
            track.stop()
        with contextlib.suppress(Exception):
            await self.client.close()

    async def _read(self) -> None:
        async for pid, frame in self.call.audio_frames():
            resampler = self._resamplers.get(pid)
            if resampler is None:
                resampler = self._resamplers[pid] = Resampler()
            box = self._inbox.setdefault(pid, bytearray())
            box += resampler.pcm(frame)
            if len(box) > _INBOX_MAX:
                del box[: len(box) - _INBOX_MAX]

    def _send_dtmf(self, pid: str, keys: list[str], ctx: str | None, cb: str | None) -> None:
        """A phone participant's keys go to its trunk leg (RFC 4733, or tones the gateway
        makes when the carrier has no telephone-event); anyone else hears them in-band."""
        remote = self.call.participants.get(pid)
        phone = remote is not None and remote.user_id.startswith(PHONE_PREFIX) and self.keys_out is not None
        self.core.send_dtmf(pid, keys, ctx, cb, in_band=not phone)
        if phone and self.keys_out is not None:
            self.keys_out(self.call_id, pid, "".join(keys))

    def _connected(self) -> bool:
        return any(p.pc.connectionState == "connected" for p in self.call._peers.values())

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        n = 0
        while True:
            n += 1
            wait = start + n * _TICK - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            elif wait < -_TICK:
                self.late_ticks += 1
                if wait < -10 * _TICK:  # far behind (a stall): skip ahead rather than race
                    start, n = loop.time(), 0
            try:
                self._beat(loop.time())
            except Exception:  # a bug in one tick must not silence the call
                log.exception("media tick of %s failed", self.connection_id)

    def _beat(self, now: float) -> None:
        self.ticks += 1
        peers = {pid for pid, r in self.call.participants.items() if r.state in _JOINED}
        for pid in peers - self.core.participants:
            self.core.add_participant(pid)
        for pid in self.core.participants - peers:
            self.core.remove_participant(pid)
        heard: dict[str, bytes] = {}
        for pid, box in self._inbox.items():
            if len(box) >= FRAME_BYTES:
                heard[pid] = bytes(box[:FRAME_BYTES])
                del box[:FRAME_BYTES]
        if not self._connected():
            return
        out = self.core.tick(now, heard)
        for pid, pcm in out.items():
            track = self._tracks.get(pid)
            if track is not None:
                track.push(pcm)
        if self.recorder is not None and self.recorder.active:
            self.recorder.write(mix([*heard.values(), self.core.last_output]))
        events = self.core.events()
        if events:
            self._emits.put_nowait(events)

    async def _emit(self) -> None:
        while (events := await self._emits.get()) is not None:
            try:
                await self._host.media_events(self, events)
            except Exception:
                log.exception("media callbacks of %s could not be recorded", self.connection_id)

    # commands --------------------------------------------------------------------------------------
    def key_pressed(self, participant_id: str, key: str) -> None:
        """A key the participant pressed, known from signaling (RFC 4733 on a trunk): it counts
        like a tone the detector heard, on the beat's clock."""
        self.core.key_pressed(participant_id, key, asyncio.get_running_loop().time())
        events = self.core.events()
        if events:
            self._emits.put_nowait(events)

    def participants_of(self, raw_ids: list[str]) -> frozenset[str]:
        wanted = set(raw_ids)
        return frozenset(
            pid for pid, r in self.call.participants.items() if r.user_id in wanted and r.state in _JOINED
        )

    def command(self, cmd: dict[str, Any]) -> None:
        """Apply one media command (already validated by the API)."""
        op = cmd["op"]
        ctx, cb = cmd.get("context"), cmd.get("callback")
        if op == "play":
            targets = self.participants_of(cmd["playTo"]) if cmd["playTo"] else None
            play = PlayOp(cmd["id"], [None] * len(cmd["sources"]), targets, bool(cmd.get("loop")), ctx, cb)
            self.core.submit(play, interrupt=bool(cmd.get("interrupt")))
            self._load(play.id, cmd["sources"])
        elif op == "recognize":
            target = next(iter(sorted(self.participants_of([cmd["target"]]))), cmd["target"])
            rec = RecognizeOp(
                cmd["id"],
                target,
                kind=cmd["kind"],
                prompt=[None] * len(cmd["prompts"]),
                interrupt_prompt=bool(cmd["interruptPrompt"]),
                initial_silence=float(cmd["initialSilence"]),
                inter_tone=float(cmd["interTone"]),
                max_tones=int(cmd["maxTones"]),
                stop_tones=frozenset(cmd["stopTones"]),
                choices=tuple(tuple(c) for c in cmd["choices"]),
                context=ctx,
                callback=cb,
            )
            self.core.submit(rec, interrupt=bool(cmd.get("interrupt")))
            self._load(rec.id, cmd["prompts"])
        elif op == "cancelAll":
            self.core.cancel_all()
        elif op in ("continuousStart", "continuousStop", "sendDtmf", "hold", "unhold"):
            for pid in self.participants_of([cmd["target"]]):
                if op == "continuousStart":
                    self.core.start_continuous(pid, ctx, cb)
                elif op == "continuousStop":
                    self.core.stop_continuous(pid, ctx, cb)
                elif op == "sendDtmf":
                    self._send_dtmf(pid, cmd["tones"], ctx, cb)
                elif op == "hold":
                    self.core.hold(pid, None)
                    self._load_hold(pid, cmd.get("source"))
                else:
                    self.core.unhold(pid)
        elif op == "recordStart":
            self._start_recording(cmd["id"], bool(cmd.get("paused")))
        elif op in ("recordPause", "recordResume", "recordStop"):
            self._record_command(op, cmd["id"])
        events = self.core.events()
        if events:
            self._emits.put_nowait(events)

    def _load(self, op_id: str, sources: list[dict[str, Any]]) -> None:
        task = asyncio.create_task(self._load_all(op_id, sources))
        self._loads.add(task)
        task.add_done_callback(self._loads.discard)

    async def _load_all(self, op_id: str, sources: list[dict[str, Any]]) -> None:
        for index, source in enumerate(sources):
            try:
                clip = await self._loader.load(source["uri"], source.get("cacheId"))
            except SourceError as exc:
                self.core.load_failed(op_id, index, exc.result)
                return
            except Exception:
                log.exception("play source %d of %s failed", index, op_id)
                self.core.load_failed(op_id, index, Result(500, 9999, "Unknown internal server error."))
                return
            self.core.loaded(op_id, index, clip)

    def _load_hold(self, pid: str, source: dict[str, Any] | None) -> None:
        async def load() -> None:
            clip = default_hold_music()
            if source is not None:
                with contextlib.suppress(SourceError):
                    clip = await self._loader.load(source["uri"], source.get("cacheId"))
            if self.core.is_held(pid):
                self.core.hold(pid, clip)

        task = asyncio.create_task(load())
        self._loads.add(task)
        task.add_done_callback(self._loads.discard)

    # recording ---------------------------------------------------------------------------------------
    def _start_recording(self, recording_id: str, paused: bool) -> None:
        if self.recorder is not None:
            return
        self.recorder = Recorder(recording_id, self._recordings / f"{recording_id}.wav")
        self.recorder.paused = paused
        self._spawn(self._host.recording_changed(self, self.recorder, "inactive" if paused else "active"))

    def _record_command(self, op: str, recording_id: str) -> None:
        recorder = self.recorder
        if recorder is None or recorder.id != recording_id:
            return
        if op == "recordStop":
            self._spawn(self._stop_recording())
            return
        paused = op == "recordPause"
        if recorder.paused != paused:
            recorder.paused = paused
            self._spawn(self._host.recording_changed(self, recorder, "inactive" if paused else "active"))

    async def _stop_recording(self) -> None:
        recorder, self.recorder = self.recorder, None
        if recorder is not None:
            recorder.stop()
            await self._host.recording_changed(self, recorder, "stopped")

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await coro
            except Exception:
                log.exception("recording callback of %s failed", self.connection_id)

        task = asyncio.create_task(run())
        self._loads.add(task)
        task.add_done_callback(self._loads.discard)
