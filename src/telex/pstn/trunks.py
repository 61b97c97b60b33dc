"""Which trunk a call uses, and whether it may: sans-I/O (``now`` is an argument).

    inbound INVITE from address A ─► the trunk whose allowed sources hold A (none: dropped)
    outbound call to +D ─────────► the trunk with the longest prefix of D (none: refused)
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

    def for_destination(self, number: str) -> Trunk | None:
        """The trunk that may call ``number`` (longest prefix; the first listed on a tie)."""
        best: tuple[int, Trunk] | None = None
        for trunk in self.trunks:
            for prefix in trunk.settings.prefixes:
                if number.startswith(prefix) and (best is None or len(prefix) > best[0]):
                    best = (len(prefix), trunk)
        return best[1] if best is not None else None

    def route(self, number: str) -> Trunk:
        """``for_destination``, or 403 naming the refusal (no INVITE leaves for it)."""
        trunk = self.for_destination(number)
        if trunk is None:
            raise TelexError(ErrorCode.FORBIDDEN, f"No trunk of this server may call {number}.")
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
