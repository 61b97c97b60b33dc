"""RFC 4733 telephone events (DTMF) in RTP: the payload, a sender and a receiver.

Payload (RFC 4733 §2.3)::

    |     event     |E|R| volume    |          duration             |

One key press is one *event*: every packet of it carries the event's start time as its RTP
timestamp, a ``duration`` that grows in timestamp units, M=1 on the first packet only
(§2.5.1.2), and E=1 on the last, which is sent three times (§2.5.1.4) so one loss does not leave
the digit hanging.

    sender:   start ─► [M] d=160 ─► d=320 ─► ... ─► [E] d=N ×3 ─► gap (audio) ─► next digit
    receiver: (ssrc, timestamp) new ─► DtmfStarted;  first E=1 ─► DtmfEnded;  repeats ignored;
              no packet for ``timeout`` seconds ─► DtmfEnded (all end packets lost)

Peers differ (shared/reference sip.md §3.4): the end packet is repeated with the same sequence
number (SIPp's pcaps) or new ones (pjsua), DTMF may ride its own SSRC or the audio's, and the
duration may grow by 160 or 320 per packet. Keying on (SSRC, timestamp) covers all of them.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from telex.rtp.packet import ts_delta

__all__ = [
    "DIGITS",
    "DtmfEnded",
    "DtmfEvent",
    "DtmfReceiver",
    "DtmfSender",
    "DtmfStarted",
    "TelephoneEvent",
    "event_code",
]

# Events 0-9, then * # A B C D (RFC 4733 §3.2 Table 7).
DIGITS = "0123456789*#ABCD"
_PAYLOAD = struct.Struct("!BBH")


def event_code(digit: str) -> int:
    code = DIGITS.find(digit.upper())
    if len(digit) != 1 or code < 0:
        raise ValueError(f"not a DTMF digit: {digit!r}")
    return code


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    event: int
    end: bool
    volume: int  # 0-63, in -dBm0
    duration: int  # timestamp units

    def encode(self) -> bytes:
        return _PAYLOAD.pack(
            self.event, (0x80 if self.end else 0) | (self.volume & 0x3F), self.duration & 0xFFFF
        )

    @classmethod
    def decode(cls, payload: bytes) -> TelephoneEvent | None:
        if len(payload) < 4:
            return None
        event, flags, duration = _PAYLOAD.unpack_from(payload)
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)

    @property
    def digit(self) -> str | None:
        return DIGITS[self.event] if self.event < len(DIGITS) else None


# ---- sending ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Outgoing:
    event: int
    samples: int  # total length in timestamp units
    gap: int = 0  # packet intervals of audio after the event, before the next one
    sent: int = 0  # duration reported so far
    ends_sent: int = 0
    timestamp: int | None = None


@dataclass(slots=True)
class DtmfSender:
    """Turns digits into RFC 4733 payloads, one per packet interval.

    The RTP session asks ``next_payload(timestamp)`` at every packet time while ``active``;
    the answer is (payload, marker, event timestamp), or None in the pause after an event (the
    session sends audio then). Digits queue up; the session suppresses audio while an event is
    being sent (§2.5.1.1 allows either). The pause matters to gateways that play the events
    as tones further on: two presses of one key with no gap would be heard as one."""

    step: int = 160  # timestamp units per packet (20 ms at 8 kHz)
    volume: int = 10
    queue: list[_Outgoing] = field(default_factory=list)

    def send(self, digits: str, duration_ms: int = 100, clock_rate: int = 8000, gap_ms: int = 0) -> None:
        """Queue ``digits``, each ``duration_ms`` long then ``gap_ms`` of audio. A duration
        longer than the 16-bit field holds (8.19 s at 8 kHz) is cut there rather than sent in
        segments (§2.5.2.3): no key press lasts that long."""
        samples = max(self.step, min(0xFFFF, duration_ms * clock_rate // 1000))
        gap = -(-gap_ms * clock_rate // 1000 // self.step) if gap_ms > 0 else 0  # whole packets, up
        for digit in digits:
            self.queue.append(_Outgoing(event_code(digit), samples, gap))

    @property
    def active(self) -> bool:
        return bool(self.queue)

    def next_payload(self, timestamp: int) -> tuple[bytes, bool, int] | None:
        if not self.queue:
            return None
        current = self.queue[0]
        if current.ends_sent >= 3:  # the event is over: its pause
            current.gap -= 1
            if current.gap <= 0:
                self.queue.pop(0)
            return None
        first = current.timestamp is None
        if current.timestamp is None:
            current.timestamp = timestamp
        if current.sent < current.samples:
            current.sent = min(current.samples, current.sent + self.step)
            end = current.sent >= current.samples
        else:
            end = True
        if end:
            current.ends_sent += 1
            if current.ends_sent >= 3 and current.gap <= 0:
                self.queue.pop(0)
        payload = TelephoneEvent(current.event, end, self.volume, current.sent).encode()
        return payload, first, current.timestamp


# ---- receiving --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DtmfStarted:
    digit: str
    ssrc: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class DtmfEnded:
    digit: str
    ssrc: int
    timestamp: int
    duration_ms: int


DtmfEvent = DtmfStarted | DtmfEnded


@dataclass(slots=True)
class _Incoming:
    digit: str
    duration: int
    last_seen: float
    ended: bool = False


@dataclass(slots=True)
class DtmfReceiver:
    """Decodes telephone-event packets into key-down and key-up events, once each."""

    clock_rate: int = 8000
    timeout: float = 1.0  # no packet for this long and no end seen: the digit is over
    _events: dict[tuple[int, int], _Incoming] = field(default_factory=dict)
    _finished: list[tuple[int, int]] = field(default_factory=list)

    def receive(self, ssrc: int, timestamp: int, payload: bytes, now: float) -> list[DtmfEvent]:
        event = TelephoneEvent.decode(payload)
        if event is None or event.digit is None:
            return []
        key = (ssrc, timestamp)
        out: list[DtmfEvent] = []
        current = self._events.get(key)
        if current is None:
            if key in self._finished:
                return []  # a late repeat of an end packet we already reported
            out.extend(self._close_others(ssrc, timestamp))
            current = _Incoming(event.digit, event.duration, now)
            self._events[key] = current
            out.append(DtmfStarted(event.digit, ssrc, timestamp))
        current.last_seen = now
        current.duration = max(current.duration, event.duration)
        if event.end and not current.ended:
            out.append(self._finish(key, current))
        return out

    def _close_others(self, ssrc: int, timestamp: int) -> list[DtmfEvent]:
        """A new event on a source ends any older one still open there (its ends were lost)."""
        out: list[DtmfEvent] = []
        for key, current in list(self._events.items()):
            if key[0] == ssrc and ts_delta(timestamp, key[1]) > 0 and not current.ended:
                out.append(self._finish(key, current))
        return out

    def _finish(self, key: tuple[int, int], current: _Incoming) -> DtmfEnded:
        current.ended = True
        del self._events[key]
        self._finished.append(key)
        del self._finished[:-16]  # remember only the last few, for de-duplication
        return DtmfEnded(current.digit, key[0], key[1], current.duration * 1000 // self.clock_rate)

    def next_timer(self) -> float | None:
        times = [c.last_seen + self.timeout for c in self._events.values()]
        return min(times) if times else None

    def handle_timer(self, now: float) -> list[DtmfEvent]:
        return [
            self._finish(key, current)
            for key, current in list(self._events.items())
            if current.last_seen + self.timeout <= now
        ]
