"""A sans-I/O jitter buffer that re-clocks decoded audio onto a steady frame timeline.

Packets go in by RTP timestamp as they arrive (``put``); the consumer takes one fixed-size frame
per tick (``pop``), so a peer's 30 ms packets come out as 20 ms frames, reordered packets fall
into place, and gaps are filled:

    put(ts, pcm) ─► {ext ts: pcm} ─► pop() every frame ─► audio | concealed | silence
                     bounded: capacity packets, at most max_delay samples ahead of playout

* Playout starts once ``target_delay`` samples are buffered (prefetch), so ordinary jitter is
  absorbed without an underrun.
* A missing stretch with audio after it is lost audio: the last frame is repeated at half level,
  at most ``max_concealed`` times in a row, then silence (packet loss concealment by repetition).
* Packets older than the playout point are late and dropped; duplicates are dropped; when more
  than ``max_delay`` samples wait, playout skips ahead to ``target_delay`` (bounded latency when
  the sender's clock runs fast); a timestamp jump far away re-anchors (a new talk spurt after
  hold, a new source).

Timestamps are unwrapped to a 64-bit line relative to the packets already seen.
"""

from __future__ import annotations

import array
from dataclasses import dataclass, field
from enum import StrEnum

from telex.rtp.packet import ts_delta

__all__ = ["Frame", "FrameKind", "JitterBuffer", "JitterStats"]


class FrameKind(StrEnum):
    AUDIO = "audio"
    CONCEALED = "concealed"
    SILENCE = "silence"


@dataclass(frozen=True, slots=True)
class Frame:
    pcm: bytes
    kind: FrameKind


@dataclass(slots=True)
class JitterStats:
    received: int = 0
    late: int = 0
    duplicates: int = 0
    overflow: int = 0
    concealed: int = 0
    silent: int = 0
    resets: int = 0


def _attenuate(pcm: bytes) -> bytes:
    samples = array.array("h")
    samples.frombytes(pcm)
    return array.array("h", (s >> 1 for s in samples)).tobytes()


@dataclass(slots=True)
class JitterBuffer:
    frame_samples: int = 160
    target_delay: int = 480  # 60 ms at 8 kHz
    max_delay: int = 1600  # 200 ms
    capacity: int = 64
    max_concealed: int = 3
    stats: JitterStats = field(default_factory=JitterStats)
    _packets: dict[int, bytes] = field(default_factory=dict)
    _ref: tuple[int, int] | None = None  # (raw timestamp, extended) of the newest packet
    _play: int | None = None
    _started: bool = False
    _last: bytes | None = None
    _concealed_run: int = 0

    def reset(self) -> None:
        self._packets.clear()
        self._ref = None
        self._play = None
        self._started = False
        self._concealed_run = 0
        self.stats.resets += 1

    @property
    def buffered(self) -> int:
        """Samples from the playout point to the end of the newest packet."""
        if self._play is None or not self._packets:
            return 0
        end = max(ts + len(pcm) // 2 for ts, pcm in self._packets.items())
        return max(0, end - self._play)

    def put(self, timestamp: int, pcm: bytes, now: float = 0.0) -> bool:
        """Add one packet's decoded samples; False when it was dropped."""
        self.stats.received += 1
        ext = timestamp if self._ref is None else self._ref[1] + ts_delta(timestamp, self._ref[0])
        if self._play is not None and abs(ext - self._play) > 4 * self.max_delay + self.target_delay:
            self.reset()  # a jump: a new talk spurt or a new source
            ext = timestamp
        if self._ref is None or ext > self._ref[1]:
            self._ref = (timestamp, ext)
        if self._play is None:
            self._play = ext
        if ext + len(pcm) // 2 <= self._play and self._started:
            self.stats.late += 1
            return False
        if ext in self._packets:
            self.stats.duplicates += 1
            return False
        if len(self._packets) >= self.capacity:
            self.stats.overflow += 1
            del self._packets[min(self._packets)]
        if ext < self._play and not self._started:
            self._play = ext  # an earlier packet overtook the first one during prefetch
        self._packets[ext] = pcm
        return True

    def pop(self, now: float = 0.0) -> Frame:
        """The next frame of ``frame_samples`` samples."""
        n = self.frame_samples
        silence = bytes(2 * n)
        if self._play is None:
            self.stats.silent += 1
            return Frame(silence, FrameKind.SILENCE)
        if not self._started:
            if self.buffered < self.target_delay:
                self.stats.silent += 1
                return Frame(silence, FrameKind.SILENCE)
            self._started = True
        if self.buffered > self.max_delay:
            self._play += self.buffered - self.target_delay  # drop what the sender got ahead by
            self._discard_played()
        start, end = self._play, self._play + n
        out = bytearray(silence)
        covered = 0
        for ts in sorted(self._packets):
            pcm = self._packets[ts]
            p_end = ts + len(pcm) // 2
            if ts >= end:
                break
            if p_end <= start:
                continue
            lo, hi = max(ts, start), min(p_end, end)
            out[2 * (lo - start) : 2 * (hi - start)] = pcm[2 * (lo - ts) : 2 * (hi - ts)]
            covered += hi - lo
        self._play = end
        self._discard_played()
        if covered:
            self._concealed_run = 0
            self._last = bytes(out)
            return Frame(self._last, FrameKind.AUDIO)
        if self._packets and self._last is not None and self._concealed_run < self.max_concealed:
            self._concealed_run += 1
            self._last = _attenuate(self._last)
            self.stats.concealed += 1
            return Frame(self._last, FrameKind.CONCEALED)
        self.stats.silent += 1
        if not self._packets:
            # Nothing left: the peer paused (silence suppression, hold). Prefetch again.
            self._started = False
            self._play = None
            self._ref = None
            self._last = None
        return Frame(silence, FrameKind.SILENCE)

    def _discard_played(self) -> None:
        assert self._play is not None
        for ts in [ts for ts, pcm in self._packets.items() if ts + len(pcm) // 2 <= self._play]:
            del self._packets[ts]
