"""Audio as server-side media handles it: 16 kHz mono s16 PCM in 20 ms frames.

    play source bytes ─► decode_clip (PyAV: WAV or MP3 only) ─► 16 kHz mono PCM
    aiortc AudioFrame (Opus 48 kHz stereo, G.711 8 kHz …) ─► Resampler ─► 16 kHz mono PCM
    PCM frames ─► mix (sum, clipped) ─► to_frame ─► aiortc (which encodes for the leg)

16 kHz is what ACS asks of WAV prompts (16-bit PCM, mono, 16 kHz) and twice what the DTMF
detector needs; recordings are written at that rate too. PyAV (aiortc's own dependency, FFmpeg
inside) decodes and resamples: nothing here touches samples one by one except ``mix`` and
``level``, which run on at most a few frames per 20 ms.
"""

from __future__ import annotations

import array
import fractions
import io
import sys
from dataclasses import dataclass

import av
import av.error

__all__ = [
    "FRAME_BYTES",
    "FRAME_SAMPLES",
    "RATE",
    "SILENCE",
    "Clip",
    "ClipError",
    "Resampler",
    "decode_clip",
    "level",
    "mix",
    "to_frame",
]

RATE = 16000
FRAME_SAMPLES = 320  # 20 ms
FRAME_BYTES = 2 * FRAME_SAMPLES
SILENCE = bytes(FRAME_BYTES)
_FORMATS = frozenset({"wav", "mp3"})
_BIG_ENDIAN = sys.byteorder == "big"


class ClipError(Exception):
    """A play source is not audio this server plays (ACS: 8535, invalid file format)."""


@dataclass(frozen=True, slots=True)
class Clip:
    """Decoded audio: 16 kHz mono s16 PCM, a whole number of 20 ms frames."""

    pcm: bytes

    @property
    def frames(self) -> int:
        return len(self.pcm) // FRAME_BYTES

    @property
    def seconds(self) -> float:
        return len(self.pcm) / (2 * RATE)

    def frame(self, index: int) -> bytes:
        return self.pcm[index * FRAME_BYTES : (index + 1) * FRAME_BYTES]

    @classmethod
    def of(cls, pcm: bytes) -> Clip:
        """``pcm`` padded with silence to whole frames."""
        rest = len(pcm) % FRAME_BYTES
        return cls(pcm + bytes(FRAME_BYTES - rest) if rest else pcm)


def decode_clip(data: bytes, *, max_seconds: float) -> Clip:
    """WAV (any PCM layout, any rate) or MP3, as a ``Clip``; ``ClipError`` for anything else,
    for undecodable audio, and for audio longer than ``max_seconds``."""
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            names = set(container.format.name.split(","))
            if not names & _FORMATS or not container.streams.audio:
                raise ClipError(f"not WAV or MP3 audio ({container.format.name})")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
            out = bytearray()
            limit = int(max_seconds * RATE) * 2
            for frame in container.decode(stream):
                for chunk in resampler.resample(frame):
                    out += bytes(chunk.planes[0])[: chunk.samples * 2]
                if len(out) > limit:
                    raise ClipError(f"longer than {max_seconds:g} s")
            for chunk in resampler.resample(None):
                out += bytes(chunk.planes[0])[: chunk.samples * 2]
    except (av.error.FFmpegError, ValueError, UnicodeDecodeError) as exc:
        raise ClipError(f"undecodable audio: {exc}") from exc
    if not out:
        raise ClipError("no audio")
    return Clip.of(bytes(out))


def _samples(pcm: bytes) -> array.array[int]:
    out = array.array("h", pcm)
    if _BIG_ENDIAN:
        out.byteswap()
    return out


def _bytes(samples: array.array[int]) -> bytes:
    if _BIG_ENDIAN:
        samples.byteswap()
    return samples.tobytes()


def mix(frames: list[bytes]) -> bytes:
    """The sum of equal-length PCM frames, clipped to 16 bits."""
    present = [f for f in frames if f is not SILENCE]
    if not present:
        return SILENCE
    if len(present) == 1:
        return present[0]
    total = _samples(present[0])
    acc = list(total)
    for frame in present[1:]:
        for i, v in enumerate(_samples(frame)):
            acc[i] += v
    return _bytes(array.array("h", (max(-32768, min(32767, v)) for v in acc)))


def level(pcm: bytes) -> int:
    """The largest absolute sample."""
    s = _samples(pcm)
    return max((abs(v) for v in s), default=0)


def to_frame(pcm: bytes, pts: int) -> av.AudioFrame:
    """An aiortc-ready ``AudioFrame`` (s16 mono 16 kHz) at ``pts`` (in samples)."""
    frame = av.AudioFrame(format="s16", layout="mono", samples=len(pcm) // 2)
    frame.planes[0].update(pcm)
    frame.sample_rate, frame.pts, frame.time_base = RATE, pts, fractions.Fraction(1, RATE)
    return frame


class Resampler:
    """Received frames, whatever their codec's rate and layout, as 16 kHz mono PCM."""

    def __init__(self) -> None:
        self._rs = av.AudioResampler(format="s16", layout="mono", rate=RATE)

    def pcm(self, frame: av.AudioFrame) -> bytes:
        out = b""
        for chunk in self._rs.resample(frame):
            out += bytes(chunk.planes[0])[: chunk.samples * 2]
        return out
