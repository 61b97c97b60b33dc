"""The realtime wire protocol, sans I/O: client frames in, server frames and close codes out.

    client                                   server
      ── {"type":"auth","token":…,"cursor":…} ─►
      ◄─ {"type":"ready","userId":…,"cursor":…,"heartbeatSeconds":…}
      ◄─ {"type":"event","event":"chatMessageReceived","cursor":"42","data":{…}}   (replay, then live)
      ◄─ {"type":"heartbeat","cursor":"42"}                                         (when idle)
      ◄─ {"type":"skipped","event":…,"cursor":"43","bytes":…,"ref":{"threadId":…}}  (too large)
      ── {"type":"ping"} ─►   ◄─ {"type":"pong"}
      ── {"type":"auth","token":<fresh token>} ─►   (refresh; same user only)

Cursors are opaque strings to clients; here they are decimal log positions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from telex.core import jsonlimits
from telex.core.ids import identifier_kind
from telex.events.model import DomainEvent

__all__ = [
    "RESUMABLE_CLOSE_CODES",
    "AuthFrame",
    "Close",
    "PingFrame",
    "ProtocolError",
    "cached_head_bytes",
    "decode_cursor",
    "encode_cursor",
    "error_frame",
    "event_frame",
    "event_parts",
    "heartbeat_frame",
    "parse_client_frame",
    "pong_frame",
    "ready_frame",
    "recipient_tail",
    "skipped_frame",
]


class Close:
    """Close codes. A client reconnects with its last cursor after a resumable one."""

    NORMAL = 1000
    GOING_AWAY = 1001
    UNSUPPORTED_DATA = 1003
    POLICY = 1008
    TOO_BIG = 1009
    RESTART = 1012
    TRY_AGAIN_LATER = 1013  # the store is unavailable: reconnect with the last cursor, a little later
    UNAUTHORIZED = 4001  # token invalid, expired or revoked, or user deleted: get a new token
    FORBIDDEN = 4003  # the token has neither a chat nor a voip scope
    SLOW_CONSUMER = 4008  # fell too far behind: reconnect with the last cursor
    TOO_MANY_SOCKETS = 4029  # the user has realtime.max_sockets_per_user sockets open already
    BAD_REQUEST = 4400  # malformed frame or cursor
    AUTH_TIMEOUT = 4408  # no auth frame in time


RESUMABLE_CLOSE_CODES = frozenset({1001, 1006, 1011, 1012, 1013, Close.SLOW_CONSUMER})


class ProtocolError(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class AuthFrame:
    token: str
    cursor: int | None


@dataclass(frozen=True, slots=True)
class PingFrame:
    pass


def encode_cursor(position: int) -> str:
    return str(position)


def decode_cursor(value: object) -> int | None:
    """The position of a cursor; None for none. Raises ``ProtocolError`` for a malformed one."""
    if value is None:
        return None
    if isinstance(value, str) and value.isdigit() and len(value) <= 19:
        return int(value)
    raise ProtocolError(Close.BAD_REQUEST, "invalid cursor")


def parse_client_frame(text: str | None, max_bytes: int) -> AuthFrame | PingFrame:
    """One client text frame; raises ``ProtocolError`` with the close code to use."""
    if text is None:
        raise ProtocolError(Close.UNSUPPORTED_DATA, "text frames only")
    if len(text) > max_bytes or len(text.encode()) > max_bytes:
        raise ProtocolError(Close.TOO_BIG, "frame too large")
    try:
        frame = jsonlimits.loads(text, max_depth=8)  # client frames are flat
    except ValueError as exc:
        raise ProtocolError(Close.BAD_REQUEST, "frames are JSON objects") from exc
    if not isinstance(frame, dict):
        raise ProtocolError(Close.BAD_REQUEST, "frames are JSON objects")
    kind = frame.get("type")
    if kind == "ping":
        return PingFrame()
    if kind == "auth":
        token = frame.get("token")
        if not isinstance(token, str) or not token:
            raise ProtocolError(Close.BAD_REQUEST, "auth needs a token")
        return AuthFrame(token, decode_cursor(frame.get("cursor")))
    raise ProtocolError(Close.BAD_REQUEST, "unknown frame type")


# Encoded once per event and shared by every socket it goes to (fan-out appends the recipient);
# keyed by the event's id, which is unique. Frames are UTF-8 bytes: a socket writes them as they
# are, with no per-socket encoding. The cache is bounded in bytes as well as entries (the oldest
# go first), so a burst of large events cannot leave megabytes of heads behind it; a head still
# queued for a slow socket lives as long as that queue holds it, and no longer.
_encoded: dict[str, bytes] = {}
_ENCODED_ENTRIES = 4096
_ENCODED_BYTES = 4 << 20
_encoded_bytes = 0


def _frame_head(event: DomainEvent) -> bytes:
    """The frame up to where the recipient goes (inside ``data``), without the cursor for an
    ephemeral event."""
    global _encoded_bytes
    head = _encoded.get(event.id)
    if head is None:
        frame: dict[str, str] = {"type": "event", "event": event.type}
        if event.durable:
            frame["cursor"] = encode_cursor(event.position)
        data = json.dumps(event.data, separators=(",", ":"), ensure_ascii=False)
        text = json.dumps(frame, separators=(",", ":"))[:-1] + ',"data":' + data[:-1]
        text += "" if text.endswith("{") else ","
        head = text.encode()
        while _encoded and (len(_encoded) >= _ENCODED_ENTRIES or _encoded_bytes + len(head) > _ENCODED_BYTES):
            _encoded_bytes -= len(_encoded.pop(next(iter(_encoded))))
        _encoded[event.id] = head
        _encoded_bytes += len(head)
    return head


def cached_head_bytes() -> int:
    """Bytes held by the shared frame heads (for tests and metrics)."""
    return _encoded_bytes


def recipient_tail(recipient: str) -> bytes:
    """What closes every frame for ``recipient`` (a socket computes it once)."""
    return b'"recipient":' + json.dumps(identifier_kind(recipient), separators=(",", ":")).encode() + b"}}"


def event_parts(
    event: DomainEvent, recipient: str, cursor: int | None = None, *, tail: bytes | None = None
) -> tuple[bytes, bytes]:
    """The frame of ``event`` for ``recipient`` as two parts to concatenate when it is written:
    the head, shared by every socket the event goes to (a durable event's), and the socket's own
    tail (``tail``: its ``recipient_tail``, if at hand). An ephemeral event has no position of
    its own: it carries ``cursor``, the last position sent on that socket, so a client may always
    take a frame's cursor as its own."""
    head = _frame_head(event)
    if not event.durable:
        head = head.replace(b'"data":', b'"cursor":"%s","data":' % encode_cursor(cursor or 0).encode(), 1)
    return head, tail if tail is not None else recipient_tail(recipient)


def event_frame(
    event: DomainEvent, recipient: str, cursor: int | None = None, *, tail: bytes | None = None
) -> bytes:
    """The whole frame of ``event`` for ``recipient`` (see ``event_parts``)."""
    head, rest = event_parts(event, recipient, cursor, tail=tail)
    return head + rest


_REF_KEYS = ("threadId", "messageId", "callId")


def skipped_frame(event: DomainEvent, cursor: int, size: int) -> str:
    """What goes out instead of an event whose frame would be larger than a client takes: its
    type, its cursor (so the client moves past it), its size, and the ids to fetch it by."""
    data = event.data
    if event.type.startswith("chatMessage") and "messageId" not in data:
        data = {**data, "messageId": data.get("id")}  # a message event carries its id as "id"
    ref = {k: v for k in _REF_KEYS if isinstance(v := data.get(k), str) and len(v) <= 256}
    frame = {"type": "skipped", "event": event.type, "cursor": encode_cursor(cursor)}
    return json.dumps({**frame, "bytes": size, "ref": ref}, separators=(",", ":"))


def ready_frame(user: str, cursor: int, heartbeat_seconds: float) -> str:
    return json.dumps(
        {
            "type": "ready",
            "userId": user,
            "cursor": encode_cursor(cursor),
            "heartbeatSeconds": heartbeat_seconds,
        }
    )


def heartbeat_frame(cursor: int) -> str:
    return json.dumps({"type": "heartbeat", "cursor": encode_cursor(cursor)})


def pong_frame() -> str:
    return '{"type":"pong"}'


def error_frame(code: str, message: str) -> str:
    return json.dumps({"type": "error", "code": code, "message": message})
