"""SMS text encoding and segmentation (3GPP TS 23.038 alphabets, TS 23.040 concatenation), sans-I/O.

A text goes out in the GSM 7-bit default alphabet when every character is in it or in its
extension table, otherwise in UCS-2 (UTF-16BE on the wire, surrogate pairs included, as handsets
and SMSCs accept them). Limits per short message:

    encoding  one part             each part of a concatenated message
    GSM-7     160 septets          153 septets (6-octet UDH = 7 septets with fill; 152 for a 16-bit ref)
    UCS-2     70 UTF-16 units      67 units (134 octets; 66 for a 16-bit ref)

An extension-table character costs two septets (ESC 0x1B, then its code) and an astral character
(an emoji) two UTF-16 units; neither pair may be split across parts, or the receiving handset
shows garbage. Splitting only between Python characters guarantees that, since one ``str``
character is exactly one such pair or single unit, and joining the parts gives the text back.

    text ──► encoding_for() ──► GSM-7 │ UCS-2
         └─► segment() ──► Segments(encoding, parts) ──► payloads(): septets per octet │ UTF-16BE
                                                   └──► count: the segmentCount ACS reports

Written here rather than taken from an SMPP library because the two popular Python ones split
escape and surrogate pairs or count characters instead of septets (each case is a test below
tests/telephony/test_segments.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "ESCAPE",
    "GSM7_PART_SEPTETS",
    "GSM7_SINGLE_SEPTETS",
    "UCS2_PART_UNITS",
    "UCS2_SINGLE_UNITS",
    "Concat",
    "Encoding",
    "Segments",
    "concat_udh",
    "decode_gsm7",
    "decode_ucs2",
    "encode_gsm7",
    "encode_ucs2",
    "encoding_for",
    "is_gsm7",
    "pack_septets",
    "parse_udh",
    "segment",
    "segment_count",
    "unpack_septets",
]

GSM7_SINGLE_SEPTETS = 160
GSM7_PART_SEPTETS = 153
UCS2_SINGLE_UNITS = 70
UCS2_PART_UNITS = 67
ESCAPE = 0x1B

# The default alphabet (TS 23.038 §6.2.1), one row of 16 septet values per line. Position 0x1B is
# the escape to the extension table and has no character of its own.
_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
assert len(_BASIC) == 128
_TO_SEPTET = {char: value for value, char in enumerate(_BASIC) if value != ESCAPE}
# The extension table (TS 23.038 §6.2.1.1): form feed, ^ { } \ [ ~ ] | and the euro sign.
_EXTENSION = {"\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F, "[": 0x3C, "~": 0x3D, "]": 0x3E,
              "|": 0x40, "€": 0x65}  # fmt: skip
_FROM_EXTENSION = {value: char for char, value in _EXTENSION.items()}
_GSM7 = frozenset(_TO_SEPTET) | frozenset(_EXTENSION)


class Encoding(StrEnum):
    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


def is_gsm7(text: str) -> bool:
    """Whether every character has a place in the default alphabet or its extension table."""
    return _GSM7.issuperset(text)


def encoding_for(text: str) -> Encoding:
    return Encoding.GSM7 if is_gsm7(text) else Encoding.UCS2


def _gsm7_cost(char: str) -> int:
    return 2 if char in _EXTENSION else 1


def _ucs2_cost(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


@dataclass(frozen=True, slots=True)
class Segments:
    """A text cut into the parts it is sent as; ``"".join(parts)`` is the text."""

    encoding: Encoding
    parts: tuple[str, ...]

    @property
    def count(self) -> int:
        """The number of short messages, as ACS reports it in ``segmentCount`` and bills it."""
        return len(self.parts)

    @property
    def data_coding(self) -> int:
        """SMPP ``data_coding``: 0 the SMSC default alphabet (GSM-7), 8 UCS-2."""
        return 0 if self.encoding is Encoding.GSM7 else 8

    def payloads(self) -> tuple[bytes, ...]:
        """Each part encoded: unpacked septets (one per octet, as SMPP carries them) or UTF-16BE."""
        encode = encode_gsm7 if self.encoding is Encoding.GSM7 else encode_ucs2
        return tuple(encode(part) for part in self.parts)

    def units(self) -> tuple[int, ...]:
        """The length of each part in septets (GSM-7) or UTF-16 code units (UCS-2)."""
        cost = _gsm7_cost if self.encoding is Encoding.GSM7 else _ucs2_cost
        return tuple(sum(cost(char) for char in part) for part in self.parts)


def segment(text: str, *, ref16: bool = False) -> Segments:
    """Cut ``text`` into parts no longer than the limits above.

    ``ref16`` reserves room for the 4-octet concatenation element with a 16-bit reference (one
    septet or one UTF-16 unit less per part). Parts are filled greedily, which gives the fewest
    parts because every character costs one or two units and a part takes any character that fits.
    An empty text is one empty part.
    """
    if is_gsm7(text):
        encoding, cost, single, per_part = Encoding.GSM7, _gsm7_cost, GSM7_SINGLE_SEPTETS, GSM7_PART_SEPTETS
    else:
        encoding, cost, single, per_part = Encoding.UCS2, _ucs2_cost, UCS2_SINGLE_UNITS, UCS2_PART_UNITS
    if sum(cost(char) for char in text) <= single:
        return Segments(encoding, (text,))
    limit = per_part - (1 if ref16 else 0)
    parts: list[str] = []
    start = used = 0
    for index, char in enumerate(text):
        units = cost(char)
        if used + units > limit:
            parts.append(text[start:index])
            start, used = index, 0
        used += units
    parts.append(text[start:])
    return Segments(encoding, tuple(parts))


def segment_count(text: str) -> int:
    return segment(text).count


# -- alphabets -----------------------------------------------------------------------------------


def encode_gsm7(text: str) -> bytes:
    """Unpacked GSM-7: one septet per octet, extension characters as ESC + code.

    Raises ``ValueError`` for a character outside the alphabet (check ``is_gsm7`` first).
    """
    out = bytearray()
    for char in text:
        septet = _TO_SEPTET.get(char)
        if septet is not None:
            out.append(septet)
            continue
        code = _EXTENSION.get(char)
        if code is None:
            raise ValueError(f"character U+{ord(char):04X} is not in the GSM 7-bit alphabet")
        out += bytes((ESCAPE, code))
    return bytes(out)


def decode_gsm7(data: bytes) -> str:
    """Unpacked GSM-7 to text; never raises.

    An escape followed by a code the extension table lacks reads as the default-alphabet character
    of that code (TS 23.038 §6.2.1.1 says a receiver shall show that); a trailing escape reads as a
    space (the same note); an octet above 0x7F is not a septet and reads as U+FFFD.
    """
    out: list[str] = []
    escaped = False
    for octet in data:
        if octet > 0x7F:
            out.append("\ufffd")
            escaped = False
        elif escaped:
            # ESC ESC would switch to a further table TS 23.038 leaves undefined: a space.
            out.append(_FROM_EXTENSION.get(octet) or (" " if octet == ESCAPE else _BASIC[octet]))
            escaped = False
        elif octet == ESCAPE:
            escaped = True
        else:
            out.append(_BASIC[octet])
    if escaped:
        out.append(" ")
    return "".join(out)


def encode_ucs2(text: str) -> bytes:
    """UTF-16BE; a lone surrogate in the text goes out as its single code unit."""
    return text.encode("utf-16-be", "surrogatepass")


def decode_ucs2(data: bytes) -> str:
    """UTF-16BE to text; never raises (an odd trailing octet or a broken pair reads as U+FFFD)."""
    return data.decode("utf-16-be", "replace")


def pack_septets(septets: bytes, fill_bits: int = 0) -> bytes:
    """Pack septets 8 into 7 octets (TS 23.038 §6.1.2.1.1), for carriers that want packed GSM-7.

    ``fill_bits`` leading zero bits align the first septet after a UDH (TS 23.040 §9.2.3.24).
    SMPP SMSCs usually take unpacked septets with ``data_coding`` 0; this is for the others.
    """
    out = bytearray()
    accumulator, bits = 0, fill_bits
    for septet in septets:
        accumulator |= (septet & 0x7F) << bits
        bits += 7
        while bits >= 8:
            out.append(accumulator & 0xFF)
            accumulator >>= 8
            bits -= 8
    if bits:
        out.append(accumulator & 0xFF)
    return bytes(out)


def unpack_septets(data: bytes, count: int, fill_bits: int = 0) -> bytes:
    """The inverse of ``pack_septets``: ``count`` septets from packed octets."""
    value = int.from_bytes(data, "little") >> fill_bits
    return bytes((value >> (7 * index)) & 0x7F for index in range(count))


# -- concatenation (TS 23.040 §9.2.3.24.1 and .8) --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Concat:
    """Where a part sits in a concatenated message: reference, total parts, this part (from 1)."""

    ref: int
    total: int
    seq: int


def concat_udh(ref: int, total: int, seq: int, *, ref16: bool = False) -> bytes:
    """The user data header of one part: IE 0x00 (8-bit reference) or 0x08 (16-bit reference)."""
    if not 1 <= seq <= total <= 255:
        raise ValueError("concatenation needs 1 <= seq <= total <= 255")
    if ref16:
        if not 0 <= ref <= 0xFFFF:
            raise ValueError("a 16-bit reference is 0..65535")
        return bytes((6, 0x08, 4, ref >> 8, ref & 0xFF, total, seq))
    if not 0 <= ref <= 0xFF:
        raise ValueError("an 8-bit reference is 0..255")
    return bytes((5, 0x00, 3, ref, total, seq))


def parse_udh(user_data: bytes) -> tuple[Concat | None, bytes]:
    """Split user data that starts with a UDH into its concatenation element and the body.

    Other information elements are skipped. Raises ``ValueError`` when the header's lengths run
    past the data; a concatenation element with a zero total or a seq past the total is ignored
    (TS 23.040 says to treat the message as not concatenated).
    """
    if not user_data:
        raise ValueError("empty user data has no header")
    header_length = user_data[0]
    if header_length + 1 > len(user_data):
        raise ValueError("user data header longer than the user data")
    header, body = user_data[1 : header_length + 1], user_data[header_length + 1 :]
    concat: Concat | None = None
    offset = 0
    while offset < len(header):
        if offset + 2 > len(header):
            raise ValueError("truncated information element")
        element, length = header[offset], header[offset + 1]
        value = header[offset + 2 : offset + 2 + length]
        if len(value) != length:
            raise ValueError("information element longer than the header")
        if element == 0x00 and length == 3:
            concat = Concat(value[0], value[1], value[2])
        elif element == 0x08 and length == 4:
            concat = Concat((value[0] << 8) | value[1], value[2], value[3])
        offset += 2 + length
    if concat is not None and not 1 <= concat.seq <= concat.total:
        concat = None
    return concat, body
