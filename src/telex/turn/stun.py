"""A table-driven STUN codec (RFC 8489) with the TURN attributes of RFC 8656.

Parsing never raises anything but ``StunError`` (the peer broke the protocol), and it checks every
length against the bytes actually present (security.md §5.1; the Cisco Expressway "memoryleak"
lesson). Attributes stay as raw ``(type, value)`` pairs; typed views are small functions below, so
the hot path pays only for what it reads.

Message layout (RFC 8489 §5)::

     0                   1                   2                   3
    |0 0|  STUN Message Type (14)   |        Message Length         |
    |                  Magic Cookie 0x2112A442                      |
    |                  Transaction ID (96 bits)                     |
    |  attributes: type(16) length(16) value, padded to 4 bytes ... |

Integrity attributes are located while parsing so that MESSAGE-INTEGRITY (§14.5),
MESSAGE-INTEGRITY-SHA256 (§14.6) and FINGERPRINT (§14.7) can be verified over the exact received
bytes with the length field rewritten as the RFC requires.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from ipaddress import IPv4Address, IPv6Address

__all__ = [
    "COMPREHENSION_OPTIONAL",
    "HEADER_LENGTH",
    "MAGIC_COOKIE",
    "Attr",
    "Class",
    "Message",
    "Method",
    "StunError",
    "decode_error_code",
    "decode_uint",
    "decode_xor_address",
    "encode_error_code",
    "encode_message",
    "encode_uint",
    "encode_xor_address",
    "is_channel_data",
    "long_term_key",
    "parse_message",
]

MAGIC_COOKIE = 0x2112A442
_COOKIE_BYTES = struct.pack("!I", MAGIC_COOKIE)
HEADER_LENGTH = 20
FINGERPRINT_XOR = 0x5354554E
_HEADER = struct.Struct("!HHI12s")
_ATTR_HEADER = struct.Struct("!HH")
# Attribute types at or above this value may be ignored when unknown (RFC 8489 §14).
COMPREHENSION_OPTIONAL = 0x8000


class StunError(ValueError):
    """The bytes are not a well-formed STUN message."""


class Class(IntEnum):
    """The two class bits of the message type (RFC 8489 §5)."""

    REQUEST = 0
    INDICATION = 1
    SUCCESS = 2
    ERROR = 3


class Method(IntEnum):
    """STUN/TURN methods (RFC 8489 §18.2, RFC 8656 §17)."""

    BINDING = 0x001
    ALLOCATE = 0x003
    REFRESH = 0x004
    SEND = 0x006
    DATA = 0x007
    CREATE_PERMISSION = 0x008
    CHANNEL_BIND = 0x009


class Attr(IntEnum):
    """Attribute types this server understands (RFC 8489 §18.3, RFC 8656 §18)."""

    MAPPED_ADDRESS = 0x0001
    USERNAME = 0x0006
    MESSAGE_INTEGRITY = 0x0008
    ERROR_CODE = 0x0009
    UNKNOWN_ATTRIBUTES = 0x000A
    CHANNEL_NUMBER = 0x000C
    LIFETIME = 0x000D
    XOR_PEER_ADDRESS = 0x0012
    DATA = 0x0013
    REALM = 0x0014
    NONCE = 0x0015
    XOR_RELAYED_ADDRESS = 0x0016
    REQUESTED_ADDRESS_FAMILY = 0x0017
    EVEN_PORT = 0x0018
    REQUESTED_TRANSPORT = 0x0019
    DONT_FRAGMENT = 0x001A
    MESSAGE_INTEGRITY_SHA256 = 0x001C
    PASSWORD_ALGORITHM = 0x001D
    USERHASH = 0x001E
    XOR_MAPPED_ADDRESS = 0x0020
    RESERVATION_TOKEN = 0x0022
    PRIORITY = 0x0024
    USE_CANDIDATE = 0x0025
    ADDITIONAL_ADDRESS_FAMILY = 0x8000
    ADDRESS_ERROR_CODE = 0x8001
    PASSWORD_ALGORITHMS = 0x8002
    ALTERNATE_DOMAIN = 0x8003
    ICMP = 0x8004
    SOFTWARE = 0x8022
    ALTERNATE_SERVER = 0x8023
    FINGERPRINT = 0x8028
    ICE_CONTROLLED = 0x8029
    ICE_CONTROLLING = 0x802A


_KNOWN_ATTRS = frozenset(int(a) for a in Attr)


@dataclass(slots=True)
class Message:
    """A parsed or to-be-encoded STUN message.

    ``attributes`` holds the first occurrence of each type in wire order: RFC 8489 §14 lets an
    agent ignore repeats, and keeping only the first stops an attacker from smuggling a second
    USERNAME or XOR-PEER-ADDRESS past a check that read the first.
    ``integrity_offset`` / ``sha256_offset`` are the byte offsets of the integrity attributes in
    ``raw`` (or -1), needed to recompute the HMACs over the received bytes.
    """

    method: int
    cls: Class
    transaction_id: bytes
    attributes: dict[int, bytes] = field(default_factory=dict)
    unknown_required: list[int] = field(default_factory=list)
    raw: bytes = b""
    integrity_offset: int = -1
    sha256_offset: int = -1
    fingerprint_ok: bool | None = None

    def get(self, attr: int) -> bytes | None:
        return self.attributes.get(attr)

    def has(self, attr: int) -> bool:
        return attr in self.attributes

    def check_integrity(self, key: bytes) -> bool:
        """Verify MESSAGE-INTEGRITY-SHA256 if present, else MESSAGE-INTEGRITY (RFC 8489 §14.5-6)."""
        if self.sha256_offset >= 0:
            offset, digest = self.sha256_offset, hashlib.sha256
        elif self.integrity_offset >= 0:
            offset, digest = self.integrity_offset, hashlib.sha1
        else:
            return False
        (length,) = struct.unpack_from("!H", self.raw, offset + 2)
        if digest is hashlib.sha256 and (length < 16 or length > 32 or length % 4):
            return False  # RFC 8489 §14.6: truncation below 16 bytes is not allowed
        if digest is hashlib.sha1 and length != 20:
            return False
        expected = _hmac(self.raw[:offset], offset + 4 + length, key, digest)[:length]
        received = self.raw[offset + 4 : offset + 4 + length]
        return hmac.compare_digest(expected, received)


def is_channel_data(data: bytes) -> bool:
    """ChannelData starts with a channel number in 0x4000-0x7FFF (RFC 8656 §12.4)."""
    return len(data) >= 4 and 0x40 <= data[0] <= 0x7F


def _hmac(prefix: bytes, end: int, key: bytes, digest: type | object) -> bytes:
    # The length field must cover the message up to the end of the integrity attribute.
    header = prefix[:2] + struct.pack("!H", end - HEADER_LENGTH) + prefix[4:HEADER_LENGTH]
    return hmac.new(key, header + prefix[HEADER_LENGTH:], digest).digest()  # type: ignore[arg-type]


def _fingerprint(prefix: bytes) -> int:
    end = len(prefix) + 8
    header = prefix[:2] + struct.pack("!H", end - HEADER_LENGTH) + prefix[4:HEADER_LENGTH]
    return (binascii.crc32(header + prefix[HEADER_LENGTH:]) ^ FINGERPRINT_XOR) & 0xFFFFFFFF


def parse_message(data: bytes) -> Message:
    """Parse one STUN message; raises ``StunError`` on any framing problem.

    Trailing bytes beyond the declared length are ignored (a TCP framer or UDP padding may add
    them). Attributes after MESSAGE-INTEGRITY are ignored except MESSAGE-INTEGRITY-SHA256 and
    FINGERPRINT; nothing after FINGERPRINT is read (RFC 8489 §14.5, §14.7).
    """
    if len(data) < HEADER_LENGTH:
        raise StunError("shorter than a STUN header")
    msg_type, length, cookie, tid = _HEADER.unpack_from(data)
    if msg_type & 0xC000 or cookie != MAGIC_COOKIE:
        raise StunError("not a STUN message")
    if length % 4 or HEADER_LENGTH + length > len(data):
        raise StunError("bad message length")
    raw = bytes(data[: HEADER_LENGTH + length])
    cls = Class(((msg_type >> 4) & 1) | ((msg_type >> 7) & 2))
    method = (msg_type & 0x000F) | ((msg_type >> 1) & 0x0070) | ((msg_type >> 2) & 0x0F80)
    msg = Message(method=method, cls=cls, transaction_id=tid, raw=raw)
    pos, end = HEADER_LENGTH, len(raw)
    after_integrity = False
    while pos < end:
        if end - pos < 4:
            raise StunError("truncated attribute header")
        atype, alen = _ATTR_HEADER.unpack_from(raw, pos)
        value_end = pos + 4 + alen
        padded_end = value_end + (-alen % 4)
        if padded_end > end:
            raise StunError("attribute runs past the message")
        if atype == Attr.FINGERPRINT:
            if alen != 4:
                raise StunError("bad FINGERPRINT length")
            (received,) = struct.unpack_from("!I", raw, pos + 4)
            msg.fingerprint_ok = received == _fingerprint(raw[:pos])
            msg.attributes.setdefault(atype, raw[pos + 4 : value_end])
            break
        if atype == Attr.MESSAGE_INTEGRITY_SHA256 and msg.sha256_offset < 0:
            msg.sha256_offset = pos
            msg.attributes.setdefault(atype, raw[pos + 4 : value_end])
            after_integrity = True
        elif not after_integrity:
            if atype == Attr.MESSAGE_INTEGRITY:
                msg.integrity_offset = pos
                after_integrity = True
            if atype not in msg.attributes:
                msg.attributes[atype] = raw[pos + 4 : value_end]
                if atype < COMPREHENSION_OPTIONAL and atype not in _KNOWN_ATTRS:
                    msg.unknown_required.append(atype)
        pos = padded_end
    return msg


def encode_message(
    method: int,
    cls: Class,
    transaction_id: bytes,
    attributes: Sequence[tuple[int, bytes]],
    *,
    integrity_key: bytes | None = None,
    sha256: bool = False,
    fingerprint: bool = False,
) -> bytes:
    """Serialise a message; with ``integrity_key`` append MESSAGE-INTEGRITY (or -SHA256)."""
    if len(transaction_id) != 12:
        raise ValueError("transaction id must be 12 bytes")
    msg_type = (
        (method & 0x000F)
        | ((method & 0x0070) << 1)
        | ((method & 0x0F80) << 2)
        | ((cls & 1) << 4)
        | ((cls & 2) << 7)
    )
    parts = [b""]
    for atype, value in attributes:
        parts.append(_ATTR_HEADER.pack(atype, len(value)) + value + bytes(-len(value) % 4))
    body = b"".join(parts)
    out = _HEADER.pack(msg_type, len(body), MAGIC_COOKIE, transaction_id) + body
    if integrity_key is not None:
        atype, digest, size = (
            (Attr.MESSAGE_INTEGRITY_SHA256, hashlib.sha256, 32)
            if sha256
            else (Attr.MESSAGE_INTEGRITY, hashlib.sha1, 20)
        )
        mac = _hmac(out, len(out) + 4 + size, integrity_key, digest)
        out += _ATTR_HEADER.pack(atype, size) + mac
    if fingerprint:
        crc = _fingerprint(out)
        out += _ATTR_HEADER.pack(Attr.FINGERPRINT, 4) + struct.pack("!I", crc)
    return out[:2] + struct.pack("!H", len(out) - HEADER_LENGTH) + out[4:]


def long_term_key(username: str, realm: str, password: str) -> bytes:
    """MD5(username ":" realm ":" password), the long-term credential key (RFC 8489 §9.2.2).

    SASLprep is not applied: REST usernames and base64 passwords are ASCII already.
    """
    return hashlib.md5(f"{username}:{realm}:{password}".encode(), usedforsecurity=False).digest()


def encode_uint(value: int, size: int = 4) -> bytes:
    return value.to_bytes(size, "big")


def decode_uint(value: bytes | None, size: int = 4) -> int | None:
    if value is None or len(value) != size:
        return None
    return int.from_bytes(value, "big")


def encode_error_code(code: int, reason: str) -> bytes:
    """ERROR-CODE value: class (hundreds) and number (RFC 8489 §14.8)."""
    return struct.pack("!HBB", 0, code // 100, code % 100) + reason.encode()


def decode_error_code(value: bytes | None) -> int | None:
    if value is None or len(value) < 4:
        return None
    return (value[2] & 0x07) * 100 + value[3]


def _xor_key(transaction_id: bytes) -> bytes:
    return _COOKIE_BYTES + transaction_id


def encode_xor_address(address: IPv4Address | IPv6Address, port: int, transaction_id: bytes) -> bytes:
    """XOR-MAPPED/PEER/RELAYED-ADDRESS value (RFC 8489 §14.2)."""
    packed = address.packed
    key = _xor_key(transaction_id)[: len(packed)]
    family = 0x01 if isinstance(address, IPv4Address) else 0x02
    xored = bytes(a ^ b for a, b in zip(packed, key, strict=True))
    return struct.pack("!BBH", 0, family, port ^ (MAGIC_COOKIE >> 16)) + xored


def decode_xor_address(
    value: bytes | None, transaction_id: bytes
) -> tuple[IPv4Address | IPv6Address, int] | None:
    """Decode an XOR address attribute; ``None`` if malformed (wrong family or length)."""
    if value is None or len(value) not in (8, 20):
        return None
    family, xport = value[1], struct.unpack_from("!H", value, 2)[0]
    size = 4 if family == 0x01 else 16 if family == 0x02 else 0
    if size == 0 or len(value) != 4 + size:
        return None
    key = _xor_key(transaction_id)[:size]
    packed = bytes(a ^ b for a, b in zip(value[4:], key, strict=True))
    address: IPv4Address | IPv6Address = IPv4Address(packed) if size == 4 else IPv6Address(packed)
    return address, xport ^ (MAGIC_COOKIE >> 16)
