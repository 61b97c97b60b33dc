"""Joining the parts of a concatenated mobile-originated SMS, sans-I/O (``now`` passed in).

Handsets cut a long SMS into parts that share a reference (TS 23.040 §9.2.3.24.1); an SMSC
delivers each as its own ``deliver_sm``, in any order, sometimes twice, and sometimes never the
last one. Parts are grouped by (sender, recipient, reference, total)::

    add(part 2/3) → None    add(part 1/3) → None    add(part 3/3) → "the whole text" (3 parts)
    a group still incomplete ``timeout`` after its first part → expire(now) gives what arrived

The owner decides what an incomplete message becomes (ACS has no "partial" flag: the SMS
service can deliver the joined parts it has, with the count it got). This object holds the parts
in memory only: a service that acknowledges each part to the SMSC before the whole message is
stored should persist parts itself and use this to decide completeness.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from telex.telephony.segments import Concat

__all__ = ["Assembled", "Reassembler"]


@dataclass(frozen=True, slots=True)
class Assembled:
    source: str
    destination: str
    text: str
    parts: int  # how many parts it was made of (the segmentCount of SMSReceived)
    complete: bool


@dataclass
class _Group:
    started: float
    total: int
    parts: dict[int, str] = field(default_factory=dict)


class Reassembler:
    """Groups parts until all arrived or ``timeout`` passed; holds at most ``max_groups`` groups
    (the oldest is given up, incomplete, to make room)."""

    def __init__(self, timeout: float = 300.0, max_groups: int = 10_000) -> None:
        if timeout <= 0 or max_groups < 1:
            raise ValueError("timeout must be positive and max_groups at least 1")
        self._timeout = timeout
        self._max_groups = max_groups
        self._groups: dict[tuple[str, str, int, int], _Group] = {}
        # Groups completed in the last ``timeout``: a part delivered again after its message was
        # complete is recognised (same place, same text) instead of starting a bogus new group.
        self._recent: dict[tuple[str, str, int, int], tuple[float, dict[int, str]]] = {}

    def __len__(self) -> int:
        return len(self._groups)

    def add(self, source: str, destination: str, concat: Concat, text: str, now: float) -> list[Assembled]:
        """Record one part; returns the messages this completed or pushed out (usually 0 or 1)."""
        key = (source, destination, concat.ref, concat.total)
        self._forget(now)
        recent = self._recent.get(key)
        if recent is not None and recent[1].get(concat.seq) == text:
            return []
        out: list[Assembled] = []
        group = self._groups.get(key)
        if group is None:
            if len(self._groups) >= self._max_groups:
                oldest = next(iter(self._groups))  # dicts keep insertion order: the oldest first
                out.append(self._finish(oldest, complete=False))
            group = self._groups[key] = _Group(now, concat.total)
        group.parts.setdefault(concat.seq, text)  # a part delivered twice counts once
        if len(group.parts) == group.total:
            self._recent.pop(key, None)
            self._recent[key] = (now, group.parts)
            out.append(self._finish(key, complete=True))
        return out

    def _forget(self, now: float) -> None:
        while self._recent:
            key, (completed, _) = next(iter(self._recent.items()))
            if completed + self._timeout > now and len(self._recent) <= self._max_groups:
                break
            del self._recent[key]

    def next_timer(self) -> float | None:
        """When the oldest incomplete group expires."""
        first = next(iter(self._groups.values()), None)
        return None if first is None else first.started + self._timeout

    def expire(self, now: float) -> list[Assembled]:
        """Give up groups whose first part is ``timeout`` old: their parts joined in order."""
        self._forget(now)
        out = []
        while self._groups:
            key, group = next(iter(self._groups.items()))
            if group.started + self._timeout > now:
                break
            out.append(self._finish(key, complete=False))
        return out

    def _finish(self, key: tuple[str, str, int, int], *, complete: bool) -> Assembled:
        group = self._groups.pop(key)
        text = "".join(group.parts[seq] for seq in sorted(group.parts))
        return Assembled(key[0], key[1], text, len(group.parts), complete)
