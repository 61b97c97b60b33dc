"""The notification socket's framing, sans I/O: socket.io 0.9 packets as the JS SDK's signaling
client (``@azure/communication-signaling``, which bundles a socket.io 0.9 client) reads and writes
them.

    packet  = type ":" [id ["+"]] ":" [endpoint] [":" data]
    types   0 disconnect · 1 connect · 2 heartbeat · 3 message · 4 json · 5 event · 6 ack
            7 error · 8 noop
    payload = ("\\ufffd" length "\\ufffd" packet)*   several packets in one WebSocket frame; the
              length counts UTF-16 code units (JavaScript string length), not bytes

A payload is how one WebSocket frame carries a notification *and* the connection parameters
that name the position after it: the client handles every packet of a frame in one task, so a
server that dies mid-stream never leaves a client that saw an event without its position (the
resume design in ``telex.notifications.session``).

Everything here is pure: text in, packets out (or ``FramingError``), packets in, text out.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

__all__ = [
    "CONNECT",
    "HEARTBEAT",
    "FramingError",
    "Packet",
    "PacketType",
    "ack_packet",
    "decode_frame",
    "disconnect_packet",
    "encode_payload",
    "event_packet",
    "js_length",
    "message_packet",
]

_SEP = "\ufffd"


class PacketType(IntEnum):
    DISCONNECT = 0
    CONNECT = 1
    HEARTBEAT = 2
    MESSAGE = 3
    JSON = 4
    EVENT = 5
    ACK = 6
    ERROR = 7
    NOOP = 8


class FramingError(ValueError):
    """The peer sent something that is not a socket.io 0.9 frame."""


@dataclass(frozen=True, slots=True)
class Packet:
    type: PacketType
    id: str = ""  # the sender's packet id when it wants an acknowledgement
    ack_data: bool = False  # "+": the acknowledgement carries data (events)
    endpoint: str = ""
    data: str = ""

    def event(self) -> tuple[str, list[Any]]:
        """An event packet's name and arguments; raises ``FramingError`` if it has none."""
        try:
            body = json.loads(self.data)
        except ValueError as exc:
            raise FramingError("an event is a JSON object") from exc
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            raise FramingError("an event has a name")
        args = body.get("args", [])
        if not isinstance(args, list):
            raise FramingError("an event's args are a list")
        return body["name"], args


# type, id, "+", endpoint, data (the same grammar as the client's decoder, anchored).
_PACKET = re.compile(r"([0-8]):([0-9]{1,15})?(\+)?:([^:]*):?(.*)", re.DOTALL)


def _decode_packet(text: str) -> Packet:
    m = _PACKET.fullmatch(text)
    if m is None:
        raise FramingError("not a socket.io packet")
    kind, pid, plus, endpoint, data = m.groups()
    return Packet(PacketType(int(kind)), pid or "", plus is not None, endpoint, data or "")


def decode_frame(text: str, max_packets: int = 64) -> list[Packet]:
    """The packets of one WebSocket text frame (one packet, or a ``\\ufffd``-framed payload)."""
    if not text.startswith(_SEP):
        return [_decode_packet(text)]
    packets: list[Packet] = []
    try:
        units = text.encode("utf-16-le")  # lengths count UTF-16 code units
    except UnicodeEncodeError as exc:
        raise FramingError("not text") from exc
    i, n = 0, len(units) // 2
    sep = _SEP.encode("utf-16-le")
    while i < n:
        if units[2 * i : 2 * i + 2] != sep:
            raise FramingError("a payload is a list of length-prefixed packets")
        j = i + 1
        digits = ""
        while j < n and units[2 * j : 2 * j + 2] != sep:
            digits += units[2 * j : 2 * j + 2].decode("utf-16-le", errors="replace")
            j += 1
            if len(digits) > 9:
                raise FramingError("packet length too long")
        if j >= n or not digits.isdigit():
            raise FramingError("a packet length is a decimal number")
        length = int(digits)
        start, end = j + 1, j + 1 + length
        if end > n or length == 0:
            raise FramingError("a packet is shorter than its length")
        try:
            packet = units[2 * start : 2 * end].decode("utf-16-le", errors="strict")
        except UnicodeDecodeError as exc:  # a length that splits a surrogate pair
            raise FramingError("a packet length splits a character") from exc
        packets.append(_decode_packet(packet))
        if len(packets) > max_packets:
            raise FramingError("too many packets in one frame")
        i = end
    return packets


def js_length(text: str) -> int:
    """``text.length`` in JavaScript: UTF-16 code units."""
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


def encode_payload(packets: list[str]) -> str:
    """One frame for several packets (a single packet goes as it is)."""
    if len(packets) == 1:
        return packets[0]
    return "".join(f"{_SEP}{js_length(p)}{_SEP}{p}" for p in packets)


CONNECT = "1::"
HEARTBEAT = "2::"


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def event_packet(name: str, *args: Any) -> str:
    return "5:::" + _json({"name": name, "args": list(args)})


def message_packet(body: str) -> str:
    """A message packet (the signaling client reads one as a request, or a response to one)."""
    return "3:::" + body


def ack_packet(packet_id: str) -> str:
    """The acknowledgement of a client packet that asked for one (an empty argument list)."""
    return f"6:::{packet_id}+[]"


def disconnect_packet(reason: str) -> str:
    """A disconnect whose reason the signaling client parses as JSON (``unauthorized`` makes it
    fetch a fresh token before reconnecting)."""
    return "0:::" + _json({"reason": reason})
