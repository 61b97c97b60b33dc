"""SDP (RFC 8866 subset) and the offer/answer model (RFC 3264) for one G.711 audio stream.

    offer ──parse_sdp──► SessionDescription ──AudioSession.answer()──► answer + NegotiatedAudio
    AudioSession.offer() ──► offer ... answer ──AudioSession.accept_answer()──► NegotiatedAudio

What is negotiated: PCMU (PT 0) and PCMA (PT 8) at 8 kHz, RFC 4733 telephone-event at 8 kHz
(``a=rtpmap:101 telephone-event/8000``, ``a=fmtp:101 0-16``), ``a=ptime``, the direction
attributes (RFC 8866 §6.7; RFC 3264 §6.1 for how an answer mirrors them), the connection address
(media-level ``c=`` wins) and the RTCP port (``a=rtcp``, RFC 3605, else RTP + 1).

An answer has exactly as many ``m=`` lines as the offer (RFC 3264 §6): the first audio stream we
can serve is accepted, every other stream is refused with port 0. Hold is signalled with
``a=sendonly`` (we hold them) or ``a=inactive``; an offer with ``c=0.0.0.0`` (RFC 2543 hold) is
read as sendonly. ``AudioSession`` keeps the origin's session id and version: the version goes up
only when what we describe changed (RFC 3264 §8), so a session-refresh re-INVITE gets the same
SDP back.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field, replace
from enum import StrEnum

from telex.sip._syntax import is_digits
from telex.sip.errors import SipParseError

__all__ = [
    "PCMA",
    "PCMU",
    "TELEPHONE_EVENT",
    "AudioSession",
    "Codec",
    "Connection",
    "Direction",
    "Media",
    "NegotiatedAudio",
    "Origin",
    "SdpNegotiationError",
    "SessionDescription",
    "parse_sdp",
]

_MAX_SDP = 16384
_MAX_LINES = 256
_TYPE_ORDER = "vosiuepcbtrzka"


class SdpNegotiationError(ValueError):
    """No acceptable audio stream in an offer or answer: answer 488 Not Acceptable Here."""


class Direction(StrEnum):
    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"

    @property
    def sends(self) -> bool:
        return self in (Direction.SENDRECV, Direction.SENDONLY)

    @property
    def receives(self) -> bool:
        return self in (Direction.SENDRECV, Direction.RECVONLY)

    def mirrored(self) -> Direction:
        """The direction an answer gives to an offer's (RFC 3264 §6.1)."""
        return _MIRROR[self]


_MIRROR = {
    Direction.SENDRECV: Direction.SENDRECV,
    Direction.SENDONLY: Direction.RECVONLY,
    Direction.RECVONLY: Direction.SENDONLY,
    Direction.INACTIVE: Direction.INACTIVE,
}


@dataclass(frozen=True, slots=True)
class Codec:
    payload_type: int
    name: str
    clock_rate: int = 8000
    channels: int = 1
    fmtp: str | None = None

    def same_format(self, other: Codec) -> bool:
        return (
            self.name.lower() == other.name.lower()
            and self.clock_rate == other.clock_rate
            and self.channels == other.channels
        )


PCMU = Codec(0, "PCMU")
PCMA = Codec(8, "PCMA")
TELEPHONE_EVENT = Codec(101, "telephone-event", fmtp="0-16")
# RFC 3551 Table 4: static payload types an offer may use without an rtpmap.
_STATIC = {0: PCMU, 8: PCMA}


@dataclass(frozen=True, slots=True)
class Origin:
    username: str
    session_id: str
    version: int
    address: str
    addr_type: str = "IP4"
    net_type: str = "IN"

    def __str__(self) -> str:
        tail = f"{self.net_type} {self.addr_type} {self.address}"
        return f"{self.username} {self.session_id} {self.version} {tail}"


@dataclass(frozen=True, slots=True)
class Connection:
    address: str
    addr_type: str = "IP4"
    net_type: str = "IN"

    def __str__(self) -> str:
        return f"{self.net_type} {self.addr_type} {self.address}"

    @property
    def is_null(self) -> bool:
        """RFC 2543 hold: ``c=IN IP4 0.0.0.0``."""
        return self.address in ("0.0.0.0", "::")


@dataclass(slots=True)
class Media:
    media: str
    port: int
    proto: str
    formats: list[str]
    connection: Connection | None = None
    attributes: list[tuple[str, str | None]] = field(default_factory=list)
    other: list[tuple[str, str]] = field(default_factory=list)  # i=, b=, k= lines, kept in order
    port_count: int | None = None

    def attribute(self, name: str) -> str | None:
        for k, v in self.attributes:
            if k == name:
                return v if v is not None else ""
        return None

    def attributes_named(self, name: str) -> list[str]:
        return [v or "" for k, v in self.attributes if k == name]

    @property
    def direction(self) -> Direction | None:
        for k, _ in self.attributes:
            if k in Direction.__members__.values():
                return Direction(k)
        return None

    def codecs(self) -> list[Codec]:
        """The formats as codecs, in the m-line's order (unknown dynamic types skipped)."""
        maps: dict[int, Codec] = {}
        for value in self.attributes_named("rtpmap"):
            codec = _parse_rtpmap(value)
            if codec is not None:
                maps[codec.payload_type] = codec
        fmtps: dict[int, str] = {}
        for value in self.attributes_named("fmtp"):
            pt_text, _, params = value.partition(" ")
            if is_digits(pt_text, 3):
                fmtps[int(pt_text)] = params.strip()
        out = []
        for fmt in self.formats:
            if not is_digits(fmt, 3):
                continue
            pt = int(fmt)
            codec = maps.get(pt) or _STATIC.get(pt)
            if codec is not None:
                out.append(replace(codec, payload_type=pt, fmtp=fmtps.get(pt)))
        return out


def _parse_rtpmap(value: str) -> Codec | None:
    pt_text, _, encoding = value.partition(" ")
    parts = encoding.strip().split("/")
    if not is_digits(pt_text, 3) or len(parts) < 2 or not is_digits(parts[1], 9):
        return None
    channels = int(parts[2]) if len(parts) > 2 and is_digits(parts[2], 3) else 1
    pt = int(pt_text)
    if pt > 127:
        return None
    return Codec(pt, parts[0], int(parts[1]), channels)


@dataclass(slots=True)
class SessionDescription:
    origin: Origin
    name: str = "-"
    connection: Connection | None = None
    times: list[str] = field(default_factory=lambda: ["0 0"])
    attributes: list[tuple[str, str | None]] = field(default_factory=list)
    media: list[Media] = field(default_factory=list)
    other: list[tuple[str, str]] = field(default_factory=list)  # i u e p b r z k, in order

    def encode(self) -> bytes:
        lines = ["v=0", f"o={self.origin}", f"s={self.name}"]
        other = sorted(self.other, key=lambda kv: _TYPE_ORDER.index(kv[0]))
        lines += [f"{k}={v}" for k, v in other if _TYPE_ORDER.index(k) < _TYPE_ORDER.index("c")]
        if self.connection is not None:
            lines.append(f"c={self.connection}")
        lines += [f"b={v}" for k, v in other if k == "b"]
        for t in self.times:
            lines.append(f"t={t}")
        lines += [f"{k}={v}" for k, v in other if k in "rzk"]
        lines += [_attr(k, v) for k, v in self.attributes]
        for m in self.media:
            count = f"/{m.port_count}" if m.port_count is not None else ""
            lines.append(f"m={m.media} {m.port}{count} {m.proto} {' '.join(m.formats)}")
            lines += [f"{k}={v}" for k, v in m.other if k == "i"]
            if m.connection is not None:
                lines.append(f"c={m.connection}")
            lines += [f"{k}={v}" for k, v in m.other if k != "i"]
            lines += [_attr(k, v) for k, v in m.attributes]
        return ("\r\n".join(lines) + "\r\n").encode()

    def __bytes__(self) -> bytes:
        return self.encode()

    def audio(self) -> tuple[int, Media] | None:
        """The first audio stream with a non-zero port, and its index."""
        for i, m in enumerate(self.media):
            if m.media == "audio" and m.port != 0:
                return i, m
        return None

    def connection_for(self, media: Media) -> Connection | None:
        return media.connection or self.connection


def _attr(name: str, value: str | None) -> str:
    return f"a={name}" if value is None else f"a={name}:{value}"


_LINE = re.compile(r"([a-z])=(.*)\Z")


def parse_sdp(data: bytes) -> SessionDescription:
    """Parse a session description; raises ``SipParseError`` on anything malformed."""
    if len(data) > _MAX_SDP:
        raise SipParseError("SDP too large")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SipParseError("SDP is not UTF-8") from exc
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    if len(lines) > _MAX_LINES:
        raise SipParseError("SDP has too many lines")
    if not lines or lines[0] != "v=0":
        raise SipParseError("SDP must start with v=0")
    origin: Origin | None = None
    name: str | None = None
    session = SessionDescription(Origin("-", "0", 0, "0.0.0.0"), times=[])
    current: Media | None = None
    for line in lines[1:]:
        match = _LINE.match(line)
        if match is None:
            raise SipParseError("bad SDP line")
        kind, value = match.group(1), match.group(2)
        if kind == "m":
            current = _parse_media(value)
            session.media.append(current)
        elif kind == "a":
            attr_name, colon, attr_value = value.partition(":")
            if not attr_name:
                raise SipParseError("empty SDP attribute")
            item = (attr_name, attr_value if colon else None)
            (current.attributes if current else session.attributes).append(item)
        elif kind == "c":
            conn = _parse_connection(value)
            if current is not None:
                current.connection = conn
            else:
                session.connection = conn
        elif current is not None:
            if kind not in "ibk":
                raise SipParseError(f"SDP {kind}= line not allowed in a media section")
            current.other.append((kind, value))
        elif kind == "o":
            origin = _parse_origin(value)
        elif kind == "s":
            name = value
        elif kind == "t":
            session.times.append(value)
        elif kind in _TYPE_ORDER:
            session.other.append((kind, value))
        else:
            raise SipParseError(f"unknown SDP line type {kind}")
    if origin is None or name is None:
        raise SipParseError("SDP without o= or s=")
    session.origin = origin
    session.name = name
    for m in session.media:
        if session.connection_for(m) is None and m.port != 0:
            raise SipParseError("media without a connection address")
    return session


def _parse_origin(value: str) -> Origin:
    parts = value.split(" ")
    if len(parts) != 6 or not is_digits(parts[2], 20):
        raise SipParseError("bad SDP origin")
    return Origin(parts[0], parts[1], int(parts[2]), parts[5], parts[4], parts[3])


def _parse_connection(value: str) -> Connection:
    parts = value.split(" ")
    if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
        raise SipParseError("bad SDP connection")
    address = parts[2].split("/", 1)[0]  # a multicast TTL or count is not ours to use
    try:
        ipaddress.ip_address(address)
    except ValueError:
        if not re.fullmatch(r"[A-Za-z0-9.\-]+", address):
            raise SipParseError("bad SDP connection address") from None
    return Connection(address, parts[1], parts[0])


def _parse_media(value: str) -> Media:
    parts = value.split(" ")
    if len(parts) < 4:
        raise SipParseError("bad SDP media line")
    port_text, slash, count_text = parts[1].partition("/")
    if not is_digits(port_text, 5) or int(port_text) > 65535:
        raise SipParseError("bad SDP media port")
    count = None
    if slash:
        if not is_digits(count_text, 5):
            raise SipParseError("bad SDP port count")
        count = int(count_text)
    if any(not f for f in parts[3:]):
        raise SipParseError("bad SDP format list")
    return Media(parts[0], int(port_text), parts[2], parts[3:], port_count=count)


# ---- offer / answer ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NegotiatedAudio:
    """What the RTP endpoint needs from a completed offer/answer exchange."""

    remote_address: str
    remote_port: int
    remote_rtcp_port: int
    codec: Codec  # the one we send (and expect) for audio
    telephone_event: Codec | None  # RFC 4733 payload type, if both sides have it
    ptime: int  # ms per packet the peer wants to receive
    send: bool  # we may send media
    receive: bool  # the peer will send media
    remote_direction: Direction

    @property
    def held_by_remote(self) -> bool:
        """The peer put the call on hold: it offered sendonly (music on hold) or inactive."""
        return not self.remote_direction.receives


def _rtcp_port(media: Media) -> int:
    value = media.attribute("rtcp")
    if value:
        port = value.split(" ", 1)[0]
        if is_digits(port, 5) and 0 < int(port) <= 65535:
            return int(port)
    return media.port + 1


def _ptime(media: Media, default: int) -> int:
    value = media.attribute("ptime")
    if value and is_digits(value, 4) and 0 < int(value) <= 1000:
        return int(value)
    return default


def _effective_direction(session: SessionDescription, media: Media) -> Direction:
    direction = media.direction
    if direction is None:
        for k, _ in session.attributes:
            if k in Direction.__members__.values():
                direction = Direction(k)
        direction = direction or Direction.SENDRECV
    conn = session.connection_for(media)
    if conn is not None and conn.is_null and direction.sends:
        # RFC 2543 hold (RFC 3264 §8.4 asks answerers to understand it).
        return Direction.SENDONLY if direction is Direction.SENDRECV else Direction.INACTIVE
    return direction


@dataclass(slots=True)
class AudioSession:
    """Our side of one audio stream's offer/answer, across the initial exchange and re-INVITEs.

    ``address`` and ``port`` are where our RTP endpoint listens. ``codecs`` are in our order of
    preference; ``telephone_event`` is offered with payload type 101 when true."""

    address: str
    port: int
    session_id: str
    codecs: tuple[Codec, ...] = (PCMU, PCMA)
    telephone_event: bool = True
    ptime: int = 20
    username: str = "telex"
    version: int = 0
    _last_body: bytes | None = None
    _last_offer: SessionDescription | None = None

    def _describe(self, media: list[Media]) -> SessionDescription:
        addr_type = "IP6" if ":" in self.address else "IP4"
        session = SessionDescription(
            Origin(self.username, self.session_id, self.version, self.address, addr_type),
            connection=Connection(self.address, addr_type),
            media=media,
        )
        # RFC 3264 §8: the version rises only when the description changes.
        body = session.encode()
        if self._last_body is not None and body != self._last_body:
            self.version += 1
            session.origin = replace(session.origin, version=self.version)
            body = session.encode()
        self._last_body = body
        return session

    def _audio_media(self, codecs: list[Codec], direction: Direction, ptime: int) -> Media:
        attributes: list[tuple[str, str | None]] = []
        for codec in codecs:
            attributes.append(("rtpmap", f"{codec.payload_type} {codec.name}/{codec.clock_rate}"))
            if codec.fmtp:
                attributes.append(("fmtp", f"{codec.payload_type} {codec.fmtp}"))
        attributes.append(("ptime", str(ptime)))
        attributes.append((direction.value, None))
        return Media("audio", self.port, "RTP/AVP", [str(c.payload_type) for c in codecs], None, attributes)

    def offer(self, direction: Direction = Direction.SENDRECV) -> SessionDescription:
        codecs = list(self.codecs)
        if self.telephone_event:
            codecs.append(TELEPHONE_EVENT)
        offer = self._describe([self._audio_media(codecs, direction, self.ptime)])
        self._last_offer = offer
        return offer

    def accept_answer(self, answer: SessionDescription) -> NegotiatedAudio:
        """The UAC side: what the answer to our last offer settled."""
        offer = self._last_offer
        if offer is None:
            raise SdpNegotiationError("no offer outstanding")
        if len(answer.media) != len(offer.media):
            raise SdpNegotiationError("the answer does not have the offer's m-lines")
        found = answer.audio()
        if found is None:
            raise SdpNegotiationError("the answer refused the audio stream")
        _, media = found
        offered = offer.media[0].codecs()
        codec = next(
            (
                c
                for c in media.codecs()
                if any(c.same_format(o) for o in offered) and c.name.lower() != "telephone-event"
            ),
            None,
        )
        if codec is None:
            raise SdpNegotiationError("the answer chose no codec we offered")
        event = next((c for c in media.codecs() if c.name.lower() == "telephone-event"), None)
        ours = offer.media[0].direction or Direction.SENDRECV
        theirs = _effective_direction(answer, media)
        conn = answer.connection_for(media)
        assert conn is not None  # parse_sdp guarantees one for a non-zero port
        return NegotiatedAudio(
            remote_address=conn.address,
            remote_port=media.port,
            remote_rtcp_port=_rtcp_port(media),
            codec=codec,
            telephone_event=event,
            ptime=_ptime(media, self.ptime),
            send=ours.sends and theirs.receives,
            receive=ours.receives and theirs.sends,
            remote_direction=theirs,
        )

    def can_answer(self, offer: SessionDescription) -> bool:
        """Whether ``answer`` would find an audio stream to accept (without building one)."""
        return self._choose(offer) is not None

    def _choose(self, offer: SessionDescription) -> tuple[int, Media, Codec, Codec | None] | None:
        for i, m in enumerate(offer.media):
            if m.media != "audio" or m.port == 0 or "RTP/AVP" not in m.proto.upper():
                continue
            offered = m.codecs()
            codec = next((o for o in offered if any(o.same_format(c) for c in self.codecs)), None)
            if codec is None:
                continue
            event = None
            if self.telephone_event:
                event = next(
                    (
                        o
                        for o in offered
                        if o.name.lower() == "telephone-event" and o.clock_rate == codec.clock_rate
                    ),
                    None,
                )
            return i, m, codec, event
        return None

    def answer(
        self, offer: SessionDescription, direction: Direction = Direction.SENDRECV
    ) -> tuple[SessionDescription, NegotiatedAudio]:
        """The UAS side (or a re-INVITE's): accept the first audio stream we can serve.

        ``direction`` is what we want (sendonly to hold them); the answer's direction is the
        intersection with the mirror of the offer's (RFC 3264 §6.1)."""
        chosen = self._choose(offer)
        if chosen is None:
            raise SdpNegotiationError("no audio stream with PCMU or PCMA")
        index, offered_media, codec, event = chosen
        theirs = _effective_direction(offer, offered_media)
        ours = _intersect(direction, theirs.mirrored())
        media: list[Media] = []
        ptime = _ptime(offered_media, self.ptime)
        for i, m in enumerate(offer.media):
            if i == index:
                codecs = [codec] + ([event] if event else [])
                media.append(self._audio_media(codecs, ours, ptime))
            else:
                media.append(Media(m.media, 0, m.proto, m.formats[:1] or ["0"]))
        answer = self._describe(media)
        conn = offer.connection_for(offered_media)
        assert conn is not None
        negotiated = NegotiatedAudio(
            remote_address=conn.address,
            remote_port=offered_media.port,
            remote_rtcp_port=_rtcp_port(offered_media),
            codec=codec,
            telephone_event=event,
            ptime=ptime,
            send=ours.sends,
            receive=ours.receives,
            remote_direction=theirs,
        )
        return answer, negotiated


def _intersect(want: Direction, allowed: Direction) -> Direction:
    sends = want.sends and allowed.sends
    receives = want.receives and allowed.receives
    if sends and receives:
        return Direction.SENDRECV
    if sends:
        return Direction.SENDONLY
    if receives:
        return Direction.RECVONLY
    return Direction.INACTIVE
