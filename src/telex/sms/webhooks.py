"""SMS's events as Event Grid delivers them: the domain events already carry ACS's type, subject
and data (``sms.events``), so each renders as itself, once per event, to the resource's
subscriptions (no user is a recipient)."""

from __future__ import annotations

from collections.abc import Sequence

from telex.events.model import DomainEvent
from telex.sms.events import DELIVERY_REPORT, RECEIVED
from telex.webhooks.catalogue import AcsEvent, Rendering

__all__ = ["RENDERINGS"]


def _as_is(event: DomainEvent, _: Sequence[str]) -> list[AcsEvent]:
    return [AcsEvent(event.type, event.subject or "", dict(event.data), event.type)]


RENDERINGS: tuple[Rendering, ...] = tuple(
    Rendering(type_, frozenset({type_}), frozenset(), _as_is) for type_ in (DELIVERY_REPORT, RECEIVED)
)
