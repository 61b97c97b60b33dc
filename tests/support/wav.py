"""Mono 16-bit WAV files for the tests' microphones and play sources."""

from __future__ import annotations

import io
import wave
from pathlib import Path

__all__ = ["wav_bytes", "write_wav"]


def wav_bytes(pcm: bytes, rate: int = 16000) -> bytes:
    """``pcm`` (signed 16-bit little-endian, mono) as a WAV file."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return out.getvalue()


def write_wav(path: Path, pcm: bytes, rate: int) -> Path:
    path.write_bytes(wav_bytes(pcm, rate))
    return path
