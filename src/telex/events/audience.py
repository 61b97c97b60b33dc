"""Who receives an event: the one visibility rule, and which token scopes each topic needs.

The rule, stated once (``EventLog.visible`` is its SQL form; a property test holds the two to
each other):

    a user receives a durable event of topic T at position p
        iff the user has a membership of T with joined_pos <= p and (left_pos is NULL or p <= left_pos)
        and the event reaches the user (``DomainEvent.reaches``: not the actor of a to_actor=False event)

Memberships are intervals of log positions captured in the unit that added or removed the member
(``EventUnit.join``/``leave``), never wall-clock times, so "who was in the thread when this was
said" has one answer on every node and after every restart (security.md §2.3). An ephemeral
event reaches the current members only (left_pos NULL).

Which topics a socket may receive at all depends on its token: chat topics need a chat scope,
call topics a voip scope. Capabilities register their topic families (a prefix and the scopes)
with ``TopicScopes`` in the composition root; nothing here knows chat or calls by name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["Audience", "Interval", "TopicScopes", "visible"]


@dataclass(frozen=True, slots=True)
class Interval:
    user: str
    joined: int
    left: int | None

    def contains(self, position: int) -> bool:
        return self.joined <= position and (self.left is None or position <= self.left)

    @property
    def current(self) -> bool:
        return self.left is None


# The memberships of one topic, past and present.
Audience = list[Interval]


def visible(audience: Iterable[Interval], position: int) -> set[str]:
    """The users whose membership contains ``position`` (before ``DomainEvent.reaches``)."""
    return {m.user for m in audience if m.contains(position)}


class TopicScopes:
    """The token scopes a socket needs for each family of topics (longest prefix wins)."""

    def __init__(self, default: frozenset[str], by_prefix: Mapping[str, frozenset[str]]) -> None:
        self._default = default
        self._prefixes = sorted(by_prefix.items(), key=lambda item: -len(item[0]))
        self._known: dict[str, frozenset[str]] = {}  # asked once per topic, not once per socket

    def needed(self, topic: str) -> frozenset[str]:
        known = self._known.get(topic)
        if known is not None:
            return known
        scopes = next((s for prefix, s in self._prefixes if topic.startswith(prefix)), self._default)
        if len(self._known) >= 10_000:
            self._known.clear()
        self._known[topic] = scopes
        return scopes

    def permits(self, topic: str, scopes: frozenset[str]) -> bool:
        return not scopes.isdisjoint(self.needed(topic))
