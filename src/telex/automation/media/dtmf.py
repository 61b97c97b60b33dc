"""In-band DTMF: a Goertzel detector with relative thresholds, and a tone generator. Sans-I/O.

    16 kHz s16 PCM ─► feed(pcm) ─► halve to 8 kHz (pair averages) ─► 205-sample blocks
        block ─► Goertzel power at the 8 DTMF frequencies + the block's energy
              ─► one digit? (the checks below) ─► debounce: two blocks alike = key down
        ─► [Tone(digit, at_sample)] once per key press

Why by hand: aiortc neither sends nor receives RFC 4733 telephone events (sip.md §3.4), so a
browser's keypad reaches a bot only as tones inside the audio, and no maintained pure-Python
package detects them. The algorithm is the textbook one (ITU-T Q.23/Q.24 frequencies, Goertzel
with N = 205 at 8 kHz, whose bins sit within a few hertz of all eight frequencies).

Every threshold is relative, never an absolute energy floor: an Opus leg (48 kHz stereo, decoded
and resampled) delivers tones about 3 dB quieter than G.711 (sip.md §3.2), and an absolute floor
tuned on one codec misses every digit on the other. A block holds a digit when

* the two strongest frequencies (one per group) carry most of the block's energy (``purity``),
* each beats the runner-up of its own group by 6 dB (``dominance``),
* the groups are within 8 dB of each other (twist, both ways: codecs tilt the spectrum), and
* the block is above a very low floor (-60 dBFS) so that digital silence never counts.

A digit is reported when two consecutive blocks (51 ms) agree, and again only after two blocks
without it: a held key is one press, and a codec glitch inside a tone does not split it. That
needs pauses of about 55 ms between presses (Q.24 allows 40 ms; keypads and browsers use 60–100).
"""

from __future__ import annotations

import array
import math
import sys
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["DTMF_TONES", "DtmfDetector", "Tone", "tone_pcm", "tones_pcm"]

RATE = 8000  # the detector's rate; its input is 16 kHz and is halved first
BLOCK = 205
LOW = (697.0, 770.0, 852.0, 941.0)
HIGH = (1209.0, 1336.0, 1477.0, 1633.0)
_KEYS = ("123A", "456B", "789C", "*0#D")
# The ACS names of the tones (DtmfTone in the SDKs) by key.
DTMF_TONES = {
    "0": "zero",
    "1": "one",
    "2": "two",
    "3": "three",
    "4": "four",
    "5": "five",
    "6": "six",
    "7": "seven",
    "8": "eight",
    "9": "nine",
    "A": "a",
    "B": "b",
    "C": "c",
    "D": "d",
    "*": "asterisk",
    "#": "pound",
}
_COEFFS = tuple(2.0 * math.cos(2.0 * math.pi * f / RATE) for f in (*LOW, *HIGH))
_DOMINANCE = 4.0  # 6 dB in power
_TWIST = 10 ** (8 / 10)  # 8 dB
_PURITY = 0.55
# Mean square of a -60 dBFS sine: below it a block is silence whatever its spectrum.
_FLOOR = (32768 * 10 ** (-60 / 20)) ** 2 / 2
_BIG_ENDIAN = sys.byteorder == "big"


@dataclass(frozen=True, slots=True)
class Tone:
    key: str  # "0"-"9", "*", "#", "A"-"D"
    at: int  # the 16 kHz sample index where the press was confirmed

    @property
    def name(self) -> str:
        """The ACS tone name (``one``, ``pound`` …)."""
        return DTMF_TONES[self.key]


def _samples(pcm: bytes) -> array.array[int]:
    out = array.array("h", pcm[: len(pcm) & ~1])
    if _BIG_ENDIAN:
        out.byteswap()
    return out


def _classify(block: list[float]) -> str | None:
    """The key this 8 kHz block holds, if any."""
    energy = 0.0
    for x in block:
        energy += x * x
    if energy / BLOCK < _FLOOR:
        return None
    powers = []
    for coeff in _COEFFS:
        s1 = s2 = 0.0
        for x in block:
            s1, s2 = x + coeff * s1 - s2, s1
        powers.append(s1 * s1 + s2 * s2 - coeff * s1 * s2)
    low, high = powers[:4], powers[4:]
    li = max(range(4), key=low.__getitem__)
    hi = max(range(4), key=high.__getitem__)
    lp, hp = low[li], high[hi]
    if any(p * _DOMINANCE > lp for i, p in enumerate(low) if i != li):
        return None
    if any(p * _DOMINANCE > hp for i, p in enumerate(high) if i != hi):
        return None
    if hp > lp * _TWIST or lp > hp * _TWIST:
        return None
    # A pure sine at a bin's frequency has Goertzel power N/2 times the block's energy (Parseval).
    if 2.0 * (lp + hp) < _PURITY * BLOCK * energy:
        return None
    return _KEYS[li][hi]


class DtmfDetector:
    """Feed 16 kHz s16 mono PCM; ``feed`` returns the key presses it completed."""

    def __init__(self) -> None:
        self._pending: list[float] = []
        self._samples = 0  # 16 kHz samples fed so far
        self._last: str | None = None  # the previous block's key
        self._down: str | None = None  # the key reported and not yet released

    def feed(self, pcm: bytes) -> list[Tone]:
        s = _samples(pcm)
        # Halving the rate: the mean of each pair is a low-pass with its zero at 8 kHz, ample for
        # DTMF's highest tone (1633 Hz).
        pending = self._pending
        pending.extend((s[i] + s[i + 1]) * 0.5 for i in range(0, len(s) - 1, 2))
        self._samples += len(s)
        out: list[Tone] = []
        while len(pending) >= BLOCK:
            key = _classify(pending[:BLOCK])
            del pending[:BLOCK]
            if key is not None and key == self._last and key != self._down:
                out.append(Tone(key, self._samples - len(pending) * 2))
                self._down = key
            elif key != self._down and self._last != self._down:
                # Released for two blocks (or another key): the next pair of blocks counts. One
                # odd block inside a tone (a codec glitch) must not make one press two.
                self._down = None
            self._last = key
        return out

    def reset(self) -> None:
        self._pending.clear()
        self._last = self._down = None


def tone_pcm(key: str, *, seconds: float = 0.12, rate: int = 16000, level_dbfs: float = -10.0) -> bytes:
    """A DTMF tone as s16 mono PCM (each of its two sines at ``level_dbfs``, ramped 2 ms)."""
    row = next((r for r, keys in enumerate(_KEYS) if key in keys), None)
    if row is None:
        raise ValueError(f"not a DTMF key: {key!r}")
    low, high = LOW[row], HIGH[_KEYS[row].index(key)]
    amplitude = 32767 * 10 ** (level_dbfs / 20)
    n = round(seconds * rate)
    ramp = max(1, rate // 500)
    out = array.array("h", bytes(2 * n))
    for i in range(n):
        gain = min(1.0, i / ramp, (n - 1 - i) / ramp)
        value = (
            amplitude
            * gain
            * (math.sin(2 * math.pi * low * i / rate) + math.sin(2 * math.pi * high * i / rate))
        )
        out[i] = max(-32768, min(32767, round(value)))
    if _BIG_ENDIAN:
        out.byteswap()
    return out.tobytes()


def tones_pcm(
    keys: Iterable[str], *, on: float = 0.12, off: float = 0.12, rate: int = 16000, level_dbfs: float = -10.0
) -> bytes:
    """Several tones, each ``on`` seconds followed by ``off`` seconds of silence."""
    gap = bytes(2 * round(off * rate))
    return b"".join(tone_pcm(k, seconds=on, rate=rate, level_dbfs=level_dbfs) + gap for k in keys)
