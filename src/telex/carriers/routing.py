"""Which carrier serves a number: one carrier per number range.

    exact numbers a carrier lists ─► longest prefix a carrier lists ─► the simulated carrier

Outbound SMS use the carrier of the sending number (ours); inbound messages arrive from the
carrier that serves the receiving number. ``notify`` tells a carrier's connection that queued
messages wait (the SMS service's ``Dispatch``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from telex.core.errors import TelexError
from telex.telephony.numbers import E164, describe, parse_e164

__all__ = ["CarrierRouter", "expand_numbers"]

MAX_SPAN = 100_000


def expand_numbers(entries: Iterable[str]) -> list[E164]:
    """``"+14255550100"`` and spans ``"+14255550100-+14255550199"`` as numbers (every one must be
    valid E.164; raises ``ValueError``)."""
    out: list[E164] = []
    for entry in entries:
        first, sep, last = entry.partition("-")
        if not sep:
            out.append(_number(entry))
            continue
        a, b = _number(first), _number(last)
        if len(a) != len(b) or int(b[1:]) < int(a[1:]) or int(b[1:]) - int(a[1:]) >= MAX_SPAN:
            raise ValueError(f"{entry!r}: a span is two numbers of one length, at most {MAX_SPAN} apart")
        width = len(a) - 1
        out.extend(_number(f"+{n:0{width}d}") for n in range(int(a[1:]), int(b[1:]) + 1))
    return out


def _number(text: str) -> E164:
    try:
        number = parse_e164(text.strip())
    except TelexError as exc:
        raise ValueError(f"{text!r} is not a valid E.164 number") from exc
    info = describe(number)
    if info.acs_type is None or info.region is None:
        raise ValueError(f"{text!r} is not a geographic, mobile or toll-free number of a country")
    return number


class CarrierRouter:
    def __init__(self, default: str) -> None:
        self.default = default
        self._numbers: dict[str, str] = {}
        self._prefixes: list[tuple[str, str]] = []
        self._notify: dict[str, Callable[[], None]] = {}

    def add(self, carrier: str, numbers: Iterable[str], prefixes: Iterable[str] = ()) -> None:
        for number in numbers:
            self._numbers.setdefault(number, carrier)
        self._prefixes += [(p, carrier) for p in prefixes]
        self._prefixes.sort(key=lambda item: -len(item[0]))

    def attach(self, carrier: str, notify: Callable[[], None]) -> None:
        self._notify[carrier] = notify

    def carrier_for(self, number: str) -> str:
        found = self._numbers.get(number)
        if found is not None:
            return found
        for prefix, carrier in self._prefixes:
            if number.startswith(prefix):
                return carrier
        return self.default

    def notify(self, carrier: str) -> None:
        wake = self._notify.get(carrier)
        if wake is not None:
            wake()
