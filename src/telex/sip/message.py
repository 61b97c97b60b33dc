"""SIP messages: parse and serialize (RFC 3261 §7, §18.3, §20, §25), over datagrams and streams.

    datagram ─► parse_datagram ─┐                         ┌─► Request(method, uri, headers, body)
                                ├─► start line, headers, ─┤
    stream ─► StreamParser.feed ┘   folding, compact      └─► Response(status, reason, headers, body)
                                    names, lists, body

Framing (§18.3): over UDP the datagram is the message, so a missing ``Content-Length`` means
"the rest of the datagram", a shorter one truncates the body and a longer one is an error; over
TCP/TLS ``Content-Length`` is mandatory because it is the only thing that ends the body.
Serialization always writes the ``Content-Length`` of the body it actually carries.

Every parse checks size limits first (message size, header count, line length, Via count) and
then the headers a transaction or dialog needs (Via, From, To, Call-ID, CSeq, Contact, routes),
so code above never meets a malformed mandatory header later. Anything wrong raises
``SipParseError`` (the only exception this module raises on input).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from telex.sip._syntax import is_digits
from telex.sip.errors import SipParseError
from telex.sip.headers import (
    MULTI_VALUE,
    CSeq,
    Headers,
    Via,
    canonical_name,
    compact_name,
    split_values,
)
from telex.sip.uri import NameAddr, SipUri, Uri, parse_uri

__all__ = [
    "REASON_PHRASES",
    "Limits",
    "Message",
    "Request",
    "Response",
    "StreamParser",
    "make_response",
    "parse_datagram",
]

SIP_VERSION = "SIP/2.0"
_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+\Z")
_CRLF = b"\r\n"

REASON_PHRASES = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 200: "OK", 202: "Accepted", 300: "Multiple Choices",
    301: "Moved Permanently", 302: "Moved Temporarily", 400: "Bad Request", 401: "Unauthorized",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
    407: "Proxy Authentication Required", 408: "Request Timeout", 410: "Gone",
    413: "Request Entity Too Large", 415: "Unsupported Media Type", 416: "Unsupported URI Scheme",
    420: "Bad Extension", 421: "Extension Required", 423: "Interval Too Brief",
    480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist", 482: "Loop Detected",
    483: "Too Many Hops", 484: "Address Incomplete", 485: "Ambiguous", 486: "Busy Here",
    487: "Request Terminated", 488: "Not Acceptable Here", 491: "Request Pending",
    493: "Undecipherable", 500: "Server Internal Error", 501: "Not Implemented",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Server Time-out",
    505: "Version Not Supported", 513: "Message Too Large", 600: "Busy Everywhere",
    603: "Decline", 604: "Does Not Exist Anywhere", 606: "Not Acceptable",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what the parser accepts from a peer. A UDP datagram cannot exceed 65,535 bytes;
    real SIP messages are a few kilobytes, so the defaults leave room without inviting abuse."""

    max_message: int = 65535
    max_headers: int = 128
    max_line: int = 8192
    max_via: int = 32
    max_body: int = 32768


DEFAULT_LIMITS = Limits()


@dataclass(slots=True, eq=False)
class _Base:
    headers: Headers
    body: bytes

    @property
    def call_id(self) -> str:
        return self.headers.call_id()

    @property
    def cseq(self) -> CSeq:
        return self.headers.cseq()

    @property
    def via(self) -> list[Via]:
        return self.headers.via()

    @property
    def from_(self) -> NameAddr:
        return self.headers.from_()

    @property
    def to(self) -> NameAddr:
        return self.headers.to()

    @property
    def contact(self) -> list[NameAddr]:
        return self.headers.contact()

    @property
    def content_type(self) -> str | None:
        value = self.headers.get("content-type")
        return value.split(";", 1)[0].strip(" \t").lower() if value else None

    def _encode(self, start: str, compact: bool) -> bytes:
        lines = [start]
        for name, value in self.headers:
            if name == "Content-Length":
                continue
            lines.append(f"{compact_name(name) if compact else name}: {value}")
        lines.append(f"{'l' if compact else 'Content-Length'}: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


@dataclass(slots=True, eq=False)
class Request(_Base):
    method: str = ""
    uri: Uri = field(default_factory=lambda: SipUri("invalid"))

    def encode(self, *, compact: bool = False) -> bytes:
        return self._encode(f"{self.method} {self.uri} {SIP_VERSION}", compact)

    def __bytes__(self) -> bytes:
        return self.encode()

    @property
    def branch(self) -> str | None:
        vias = self.via
        return vias[0].branch if vias else None


@dataclass(slots=True, eq=False)
class Response(_Base):
    status: int = 0
    reason: str = ""

    def encode(self, *, compact: bool = False) -> bytes:
        return self._encode(f"{SIP_VERSION} {self.status} {self.reason}", compact)

    def __bytes__(self) -> bytes:
        return self.encode()


Message = Request | Response


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    body: bytes = b"",
) -> Response:
    """A response built as RFC 3261 §8.2.6.2 says: Via, From, Call-ID and CSeq copied, To copied
    with our tag added (unless it already has one, or this is a 100), Record-Route copied for the
    responses that can make a dialog (§12.1.1)."""
    headers = Headers()
    for name, value in request.headers:
        low = name.lower()
        if low in ("via", "from", "call-id", "cseq") or (
            low == "record-route" and 100 < status < 300 and request.method in ("INVITE", "SUBSCRIBE")
        ):
            headers.add(name, value)
        elif low == "to":
            to = request.to
            if to_tag and to.tag is None and status != 100:
                value = str(to.with_tag(to_tag))
            headers.add(name, value)
    return Response(headers, body, status, reason or REASON_PHRASES.get(status, "Unknown"))


# ---------------------------------------------------------------------------------------------
# Parsing


def parse_datagram(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Message:
    """A whole message from one datagram (§18.3 rules for Content-Length over UDP)."""
    if len(data) > limits.max_message:
        raise SipParseError("message too large")
    # RFC 3261 §7.5: ignore empty lines before the start line.
    start = 0
    while data.startswith(_CRLF, start):
        start += 2
    head_end, body_start = _find_blank_line(data, start)
    if head_end < 0:
        raise SipParseError("no end of headers")
    message = _parse_head(data[start:head_end], limits)
    declared = _content_length(message.headers)
    rest = data[body_start:]
    if declared is None:
        body = rest
    elif declared > len(rest):
        raise SipParseError("Content-Length exceeds the datagram")
    else:
        body = rest[:declared]
    if len(body) > limits.max_body:
        raise SipParseError("body too large")
    message.body = body
    return message


def _find_blank_line(data: bytes, start: int) -> tuple[int, int]:
    """(end of head, start of body); bare LF line ends are tolerated."""
    crlf = data.find(b"\r\n\r\n", start)
    lf = data.find(b"\n\n", start)
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return crlf, crlf + 4
    if lf >= 0:
        return lf, lf + 2
    return -1, -1


def _content_length(headers: Headers) -> int | None:
    values = headers.get_all("content-length")
    if not values:
        return None
    if len(set(v.strip(" \t") for v in values)) != 1:
        raise SipParseError("conflicting Content-Length")
    text = values[0].strip(" \t")
    if not is_digits(text, 9):
        raise SipParseError("bad Content-Length")
    return int(text)


# Header names seen so far → (canonical name, lookup key, list header?), so the common names cost
# one dict lookup instead of a regex and two more lookups. Bounded: names come from peers.
_NAMES: dict[str, tuple[str, str, bool]] = {}
_NAMES_MAX = 1024


def _header_name(raw: str) -> tuple[str, str, bool]:
    known = _NAMES.get(raw)
    if known is not None:
        return known
    name = raw.rstrip(" \t")
    if not _TOKEN.match(name):
        raise SipParseError("bad header line")
    long = canonical_name(name)
    key = long.lower()
    known = (long, key, key in MULTI_VALUE)
    if len(_NAMES) < _NAMES_MAX:
        _NAMES[raw] = known
    return known


def _parse_head(raw: bytes, limits: Limits) -> Message:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SipParseError("headers are not UTF-8") from exc
    if "\x00" in text or text.count("\r") != text.count("\r\n"):
        raise SipParseError("bare CR or NUL in the headers")
    lines = text.split("\n")
    start_line = lines[0].removesuffix("\r")
    pending: list[list[str]] = []
    max_line = limits.max_line
    for line in lines[1:]:
        line = line.removesuffix("\r")
        if not line:
            raise SipParseError("empty line inside headers")
        if len(line) > max_line:
            raise SipParseError("header line too long")
        if line[0] in " \t":
            # Folding (LWS = [*WSP CRLF] 1*WSP): the line continues the previous header.
            if not pending:
                raise SipParseError("continuation line before any header")
            current = pending[-1]
            piece = line.strip(" \t")
            if piece:
                current[1] = f"{current[1]} {piece}" if current[1] else piece
            if len(current[1]) > max_line:
                raise SipParseError("header too long")
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise SipParseError("bad header line")
        pending.append([name, value.strip(" \t")])
        if len(pending) > limits.max_headers:
            raise SipParseError("too many headers")
    headers = Headers()
    append = headers._append_raw
    for name, value in pending:
        long, key, multi = _header_name(name)
        if multi and "," in value:
            for item in split_values(value):
                append(key, long, item)
        else:
            append(key, long, value)
    message = _parse_start_line(start_line, headers)
    _validate(message, limits)
    return message


def _parse_start_line(line: str, headers: Headers) -> Message:
    if line.startswith("SIP/"):
        parts = line.split(" ", 2)
        if len(parts) < 2 or parts[0] != SIP_VERSION:
            raise SipParseError("bad status line")
        code = parts[1]
        if len(code) != 3 or not is_digits(code, 3) or not 100 <= int(code) <= 699:
            raise SipParseError("bad status code")
        reason = parts[2] if len(parts) == 3 else ""
        if any(ch in reason for ch in "\r\n\x00"):
            raise SipParseError("bad reason phrase")
        return Response(headers, b"", int(code), reason)
    parts = line.split(" ")
    if len(parts) != 3 or not _TOKEN.match(parts[0]) or parts[2] != SIP_VERSION:
        raise SipParseError("bad request line")
    return Request(headers, b"", parts[0], parse_uri(parts[1]))


def _validate(message: Message, limits: Limits) -> None:
    """Parse now what the transaction and dialog layers read later (RFC 3261 §8.1.1, §8.2.1)."""
    headers = message.headers
    vias = headers.via()
    if not vias:
        raise SipParseError("missing Via")
    if len(vias) > limits.max_via:
        raise SipParseError("too many Via values")
    headers.call_id()
    cseq = headers.cseq()
    headers.from_()
    headers.to()
    headers.max_forwards()
    headers.contact()
    headers.record_route()
    headers.route()
    # ACK and CANCEL carry their own method in CSeq too (§17.1.1.3, §9.1).
    if isinstance(message, Request) and cseq.method != message.method:
        raise SipParseError("CSeq method differs from the request method")


class StreamParser:
    """Frames messages out of a TCP or TLS byte stream (RFC 3261 §18.3: Content-Length is
    mandatory). ``feed`` returns the messages completed so far; a ``SipParseError`` means the
    stream has lost its framing and the connection must be closed. A bare CRLFCRLF between
    messages is an RFC 5626 §3.5.1 keep-alive ping: ``pongs_due`` counts the CRLF answers owed."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self._buffer = bytearray()
        self._limits = limits
        self.pongs_due = 0

    def feed(self, data: bytes) -> list[Message]:
        self._buffer += data
        out: list[Message] = []
        while True:
            self._skip_keepalives()
            if not self._buffer:
                break
            head_end, body_start = _find_blank_line(bytes(self._buffer[: self._limits.max_message]), 0)
            if head_end < 0:
                if len(self._buffer) > self._limits.max_message:
                    raise SipParseError("message too large")
                break
            message = _parse_head(bytes(self._buffer[:head_end]), self._limits)
            length = _content_length(message.headers)
            if length is None:
                raise SipParseError("Content-Length is mandatory on a stream")
            if length > self._limits.max_body or body_start + length > self._limits.max_message:
                raise SipParseError("message too large")
            if len(self._buffer) < body_start + length:
                break
            message.body = bytes(self._buffer[body_start : body_start + length])
            del self._buffer[: body_start + length]
            out.append(message)
        return out

    def _skip_keepalives(self) -> None:
        while self._buffer[:2] == _CRLF:
            if self._buffer[:4] == b"\r\n\r\n":
                self.pongs_due += 1
                del self._buffer[:4]
            elif len(self._buffer) < 4 and b"\r\n\r\n".startswith(self._buffer):
                return  # perhaps the first half of a ping: wait for more bytes
            else:
                del self._buffer[:2]  # a pong, or an empty line before a start line (§7.5)
