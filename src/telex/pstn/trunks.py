"""Which trunk a call uses, and whether it may: sans-I/O (``now`` is an argument).

    inbound INVITE from address A ─► the trunk whose allowed sources hold A (none: dropped)
    outbound call to +D ─────────► the trunks with a prefix of D, longest first (none: refused)
                                   ─► the first of them that is up (none up: 503)
                                   ─► its limits: calls up at once, calls started per minute

The limits are the toll-fraud guard the issue asks for: a leaked access key cannot run up an
unbounded bill, because every outbound call passes ``admit`` before any INVITE leaves.
"""

from __future__ import annotations

import ipaddress
from collections import deque
from dataclasses import dataclass, field

from telex.core.errors import ErrorCode, TelexError
from telex.pstn.settings import TrunkSettings
from telex.sip import Credentials, Peer

__all__ = ["Trunk", "TrunkRouter"]


@dataclass(eq=False)
class Trunk:
    settings: TrunkSettings
    active: int = 0  # calls up or being set up over it
    up: bool = True  # its OPTIONS keep-alives are answered (health.py)
    failures: int = 0  # keep-alives unanswered (or 5xx) in a row
    _starts: deque[float] = field(default_factory=deque)  # when recent calls started

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def peer(self) -> Peer:
        return Peer(self.settings.transport, self.settings.host, self.settings.port)

    def admit(self, now: float) -> None:
        """Count a new call over this trunk; ``TelexError`` (429/503) when a limit is reached."""
        s = self.settings
        while self._starts and self._starts[0] <= now - 60:
            self._starts.popleft()
        if self.active >= s.max_calls:
            raise TelexError(
                ErrorCode.UNAVAILABLE, f"Trunk {s.name} carries its most calls at once ({s.max_calls}).",
                retry_after=5,
            )  # fmt: skip
        if len(self._starts) >= s.calls_per_minute:
            raise TelexError(
                ErrorCode.TOO_MANY_REQUESTS,
                f"Trunk {s.name} started its most calls this minute ({s.calls_per_minute}).",
                retry_after=max(1, int(self._starts[0] + 60 - now) + 1),
            )
        self._starts.append(now)
        self.active += 1

    def release(self) -> None:
        self.active = max(0, self.active - 1)


class TrunkRouter:
    def __init__(self, trunks: list[TrunkSettings]) -> None:
        self.trunks = [Trunk(t) for t in trunks]
        self._sources = [(net, t) for t in self.trunks for net in t.settings.sources()]

    def for_source(self, host: str) -> Trunk | None:
        """The trunk an address belongs to (None: not a carrier of ours)."""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return None
        return next((t for net, t in self._sources if address in net), None)

    def covering(self, number: str) -> list[Trunk]:
        """The trunks that may call ``number``, longest matching prefix first (the order listed
        on a tie)."""
        ranked: list[tuple[int, int, Trunk]] = []
        for index, trunk in enumerate(self.trunks):
            longest = max((len(p) for p in trunk.settings.prefixes if number.startswith(p)), default=0)
            if longest:
                ranked.append((-longest, index, trunk))
        return [trunk for _, _, trunk in sorted(ranked, key=lambda r: (r[0], r[1]))]

    def for_destination(self, number: str) -> Trunk | None:
        """The trunk that may call ``number`` and is up (longest prefix first), or None."""
        return next((t for t in self.covering(number) if t.up), None)

    def route(self, number: str) -> Trunk:
        """``for_destination``; 403 when no trunk may call the number, 503 when none that may is
        up (no INVITE leaves for either)."""
        covering = self.covering(number)
        if not covering:
            raise TelexError(ErrorCode.FORBIDDEN, f"No trunk of this server may call {number}.")
        trunk = next((t for t in covering if t.up), None)
        if trunk is None:
            names = ", ".join(t.name for t in covering)
            raise TelexError(
                ErrorCode.UNAVAILABLE,
                f"No trunk that may call {number} is up (down: {names}; they do not answer OPTIONS).",
                retry_after=30,
            )
        return trunk

    def credentials(self, realm: str) -> Credentials | None:
        """What we answer a carrier's challenge for ``realm`` with (the sip core's lookup)."""
        for trunk in self.trunks:
            s = trunk.settings
            if s.username and s.realm == realm:
                return Credentials(s.username, s.secret())
        for trunk in self.trunks:
            s = trunk.settings
            if s.username and not s.realm:
                return Credentials(s.username, s.secret())
        return None

    def inbound_password(self, username: str) -> str | None:
        """The password a carrier answers our challenge with (the digest server's lookup)."""
        for trunk in self.trunks:
            s = trunk.settings
            if s.inbound_username and s.inbound_username == username:
                return s.inbound_secret()
        return None

    @property
    def challenges(self) -> bool:
        return any(t.settings.inbound_username for t in self.trunks)
