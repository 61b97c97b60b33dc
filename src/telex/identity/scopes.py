"""User-token scopes (acs-wire.md §3.1, security.md §2.1).

``chat.join`` may chat but not create, delete or update threads; ``chat.join.limited`` also may
not add or remove participants; ``voip.join`` may join calls but not start them.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

__all__ = ["Scope", "parse_scopes", "scope_bits"]


class Scope(StrEnum):
    CHAT = "chat"
    VOIP = "voip"
    CHAT_JOIN = "chat.join"
    CHAT_JOIN_LIMITED = "chat.join.limited"
    VOIP_JOIN = "voip.join"


# The ``scp`` claim is a bit mask, as in ACS tokens; ``acsScope`` carries the names and is the
# claim Telex trusts. The bit values are Telex's own (ACS does not document its mask).
_BITS = {
    Scope.CHAT: 1 << 8,
    Scope.VOIP: 1 << 9,
    Scope.CHAT_JOIN: 1 << 10,
    Scope.CHAT_JOIN_LIMITED: 1 << 11,
    Scope.VOIP_JOIN: 1 << 12,
}


def parse_scopes(names: Sequence[str]) -> frozenset[Scope]:
    """The scopes named; raises ``ValueError`` naming the first unknown one."""
    out = set()
    for name in names:
        try:
            out.add(Scope(name))
        except ValueError:
            raise ValueError(f"unknown scope {name!r}") from None
    return frozenset(out)


def scope_bits(scopes: frozenset[Scope]) -> int:
    bits = 0
    for s in scopes:
        bits |= _BITS[s]
    return bits
