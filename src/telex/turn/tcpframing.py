"""Splitting a TCP byte stream into STUN messages and ChannelData (RFC 8656 §6.2, §12.5).

Over TCP, STUN messages are self-delimiting (20-byte header plus the length field) and ChannelData
is padded to a multiple of four bytes, so the stream needs no extra framing. Anything whose first
two bits are neither 00 (STUN) nor 01 (ChannelData) means framing is lost: ``feed`` raises
``ValueError`` and the adapter closes the connection.
"""

from __future__ import annotations

__all__ = ["StreamFramer"]

_MAX_BUFFER = 4 + 65535 + 3


class StreamFramer:
    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the complete messages (ChannelData without its padding)."""
        buf = self._buffer
        buf += data
        out: list[bytes] = []
        pos = 0
        while len(buf) - pos >= 4:
            first = buf[pos]
            length = (buf[pos + 2] << 8) | buf[pos + 3]
            if first < 0x40:
                if length % 4:
                    raise ValueError("STUN length not a multiple of 4")
                total = size = 20 + length
            elif first < 0x80:
                size = 4 + length
                total = size + (-length % 4)
            else:
                raise ValueError("neither STUN nor ChannelData")
            if len(buf) - pos < total:
                break
            out.append(bytes(buf[pos : pos + size]))
            pos += total
        del buf[:pos]
        if len(buf) > _MAX_BUFFER:
            raise ValueError("message too large")
        return out
