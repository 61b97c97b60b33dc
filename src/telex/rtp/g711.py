"""G.711 µ-law and A-law (ITU-T G.711), table-driven, for 16-bit signed PCM in native byte order.

Why our own code: ``audioop`` is deprecated in 3.11 and gone in 3.13 (PEP 594) while Telex
supports 3.11+; numpy is not a Telex dependency; PyAV's ``pcm_mulaw`` codec works but costs a
codec context and frame objects per 20 ms packet. Two lookup tables do the whole job at C speed:

    encode: 65,536-entry table indexed by the sample as an unsigned 16-bit number
            bytes(itemgetter(*memoryview(pcm).cast("H"))(table))
    decode: two 256-entry translation tables give each sample's low and high byte;
            slice assignment interleaves them (bytes.translate runs in C)

The tables are built once at import from the segment definitions of G.711 Tables 1 and 2: µ-law
works on 14-bit magnitudes with a bias of 33 (132 at 16-bit scale), A-law on 13-bit ones, each
with 8 segments of 16 steps. The tests check them against ``audioop`` where it still exists.
"""

from __future__ import annotations

import sys
from operator import itemgetter

__all__ = [
    "alaw_to_pcm",
    "pcm_to_alaw",
    "pcm_to_ulaw",
    "ulaw_to_pcm",
]

_ULAW_CLIP = 8159  # 14-bit magnitude limit
_ULAW_BIAS = 33  # at 14-bit scale (0x84 >> 2)
_SEG_ULAW_END = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)
_SEG_ALAW_END = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)


def _segment(value: int, ends: tuple[int, ...]) -> int:
    for i, end in enumerate(ends):
        if value <= end:
            return i
    return len(ends)


def _ulaw_encode(sample: int) -> int:
    value = sample >> 2
    if value < 0:
        value, mask = -value, 0x7F
    else:
        mask = 0xFF
    value = min(value, _ULAW_CLIP) + _ULAW_BIAS
    seg = _segment(value, _SEG_ULAW_END)
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((value >> (seg + 1)) & 0x0F)) ^ mask


def _ulaw_decode(code: int) -> int:
    code = ~code & 0xFF
    t = (((code & 0x0F) << 3) + 0x84) << ((code & 0x70) >> 4)
    return 0x84 - t if code & 0x80 else t - 0x84


def _alaw_encode(sample: int) -> int:
    value = sample >> 3
    if value >= 0:
        mask = 0xD5
    else:
        mask = 0x55
        value = -value - 1
    seg = _segment(value, _SEG_ALAW_END)
    if seg >= 8:
        return 0x7F ^ mask
    code = seg << 4
    code |= (value >> 1) & 0x0F if seg < 2 else (value >> seg) & 0x0F
    return code ^ mask


def _alaw_decode(code: int) -> int:
    code ^= 0x55
    t = (code & 0x0F) << 4
    seg = (code & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t = (t + 0x108) << (seg - 1)
    return t if code & 0x80 else -t


def _signed(u: int) -> int:
    return u - 0x10000 if u & 0x8000 else u


_ULAW_ENC = bytes(_ulaw_encode(_signed(u)) for u in range(0x10000))
_ALAW_ENC = bytes(_alaw_encode(_signed(u)) for u in range(0x10000))
_LITTLE = sys.byteorder == "little"


def _byte_tables(decode: list[int]) -> tuple[bytes, bytes]:
    lo = bytes(v & 0xFF for v in decode)
    hi = bytes((v >> 8) & 0xFF for v in decode)
    return (lo, hi) if _LITTLE else (hi, lo)


_ULAW_DEC = _byte_tables([_ulaw_decode(c) & 0xFFFF for c in range(256)])
_ALAW_DEC = _byte_tables([_alaw_decode(c) & 0xFFFF for c in range(256)])


def _encode(pcm: bytes, table: bytes) -> bytes:
    if len(pcm) % 2:
        raise ValueError("16-bit PCM has an even number of bytes")
    samples = memoryview(pcm).cast("H")
    if len(samples) < 2:  # itemgetter of one index returns a bare int, of none raises
        return bytes(table[s] for s in samples)
    # itemgetter looks every index up in C: about twice as fast as map(table.__getitem__, ...).
    return bytes(itemgetter(*samples)(table))


def _decode(data: bytes, tables: tuple[bytes, bytes]) -> bytes:
    out = bytearray(2 * len(data))
    out[0::2] = data.translate(tables[0])
    out[1::2] = data.translate(tables[1])
    return bytes(out)


def pcm_to_ulaw(pcm: bytes) -> bytes:
    """16-bit signed native-order PCM → µ-law, one byte per sample."""
    return _encode(pcm, _ULAW_ENC)


def ulaw_to_pcm(data: bytes) -> bytes:
    return _decode(data, _ULAW_DEC)


def pcm_to_alaw(pcm: bytes) -> bytes:
    return _encode(pcm, _ALAW_ENC)


def alaw_to_pcm(data: bytes) -> bytes:
    return _decode(data, _ALAW_DEC)
