"""The event-type catalogue: how a domain event becomes the ACS Event Grid events a webhook gets.

    DomainEvent ("chatMessageReceived", topic = thread) ─► Rendering (defined beside the capability)
        types          the ACS types it may produce   {ChatMessageReceivedInThread, ChatMessageReceived}
        per_recipient  those produced once per user   {ChatMessageReceived}
        render(event, recipients) ─► [AcsEvent(type, subject, data, key), ...]

Each capability defines its renderings next to its events (``telex.chat.webhooks``,
``telex.calling.webhooks``); the composition root hands them to one ``Catalogue``, so nothing here
knows chat or calls by name. ACS has two levels of events (push-events-sms.md §5.6): a
*thread-level* event is rendered once, a *user-level* event once per recipient. The consumer
computes the recipients only when a subscription wants a per-recipient type: the members of the
event's topic at the event's position (the rule in ``telex.events.audience``), without the user
who caused it. A rendering must be a pure function of its inputs and list recipients in a stable
order, so that rendering the same event again (a retry after a restart, a replay) gives the same
events with the same ids (``event_id``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from telex.events.model import DomainEvent

__all__ = [
    "NAMESPACE",
    "AcsEvent",
    "Catalogue",
    "Rendering",
    "communication_identifier",
    "event_id",
    "raw_id",
]

NAMESPACE = "Microsoft.Communication."
# Event ids are UUIDv5 of the domain event id and the rendering's key in this namespace.
_ID_NAMESPACE = uuid.UUID("6f1d3c2a-54e1-4c4e-9a0e-7d1f3e2b9c10")


@dataclass(frozen=True, slots=True)
class AcsEvent:
    """One Event Grid event rendered from a domain event (before its envelope).

    ``key`` tells the renderings of one domain event apart (the type, the recipient, the added
    participant); with the domain event's id it gives the event's stable id.
    """

    type: str
    subject: str
    data: dict[str, Any]
    key: str


Render = Callable[[DomainEvent, Sequence[str]], list[AcsEvent]]


@dataclass(frozen=True, slots=True)
class Rendering:
    """How one domain event type renders; ``render`` gets the recipients only when asked for a
    per-recipient type (an empty sequence otherwise) and may then skip those types."""

    domain_type: str
    types: frozenset[str]
    per_recipient: frozenset[str]
    render: Render

    def __post_init__(self) -> None:
        if not self.per_recipient <= self.types:
            raise ValueError("per-recipient types must be among the rendering's types")


class Catalogue:
    """Every rendering, by domain event type."""

    def __init__(self, renderings: Iterable[Rendering]) -> None:
        self._by_domain: dict[str, Rendering] = {}
        for rendering in renderings:
            if rendering.domain_type in self._by_domain:
                raise ValueError(f"two renderings for {rendering.domain_type!r}")
            self._by_domain[rendering.domain_type] = rendering
        self.types: frozenset[str] = frozenset(t for r in self._by_domain.values() for t in r.types)

    def get(self, domain_type: str) -> Rendering | None:
        return self._by_domain.get(domain_type)

    def renderings(self) -> list[Rendering]:
        return list(self._by_domain.values())


def event_id(domain_event_id: str, key: str) -> str:
    """The id of one rendering: the same every time the same domain event is rendered."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{domain_event_id}/{key}"))


def raw_id(identifier: Any) -> str:
    """The raw id in an identifier as domain events carry it (``identifier_kind``) or a string."""
    if isinstance(identifier, dict):
        return str(identifier.get("rawId") or identifier.get("communicationUserId") or "")
    return str(identifier or "")


def communication_identifier(raw: str) -> dict[str, Any]:
    """A ``CommunicationIdentifierModel`` as Event Grid writes it: ``rawId`` plus the kind's own
    object (acs-wire.md §1.7)."""
    if raw.startswith("4:"):
        return {"rawId": raw, "phoneNumber": {"value": raw[2:]}}
    if raw.startswith(("8:acs:", "8:spool:", "8:dod-acs:", "8:gcch-acs:")):
        return {"rawId": raw, "communicationUser": {"id": raw}}
    return {"rawId": raw}
