"""A call recording as a WAV file: the call's mixed audio, 16 kHz mono 16-bit PCM.

    session tick ─► mix(everyone heard + what the application played) ─► Recorder.write(frame)
    pause ─► frames are dropped (the file has no gap marker: ACS's pause leaves the time out)
    stop ─► the WAV header is finalised; duration and size known

File writes are small (640 bytes per 20 ms) and go through Python's buffered file; the header
is rewritten once, at the end (``wave`` does it on close).
"""

from __future__ import annotations

import wave
from pathlib import Path

from telex.automation.media.audio import FRAME_SAMPLES, RATE

__all__ = ["Recorder"]


class Recorder:
    def __init__(self, recording_id: str, path: Path) -> None:
        self.id = recording_id
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._wav: wave.Wave_write | None = wave.open(str(path), "wb")  # noqa: SIM115 - closed by stop()
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(RATE)
        self.paused = False
        self.frames = 0

    @property
    def active(self) -> bool:
        return self._wav is not None and not self.paused

    @property
    def duration_ms(self) -> int:
        return self.frames * FRAME_SAMPLES * 1000 // RATE

    def write(self, pcm: bytes) -> None:
        if self._wav is not None and not self.paused:
            self._wav.writeframesraw(pcm)
            self.frames += 1

    def stop(self) -> int:
        """Close the file; its size in bytes."""
        if self._wav is not None:
            self._wav.close()
            self._wav = None
        return self.path.stat().st_size if self.path.exists() else 0
