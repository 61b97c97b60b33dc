"""Log events to a subscription's records: the catalogue, the filter, and the recipients.

    DomainEvent ─► catalogue rendering? ─no─► nothing (positions still advance)
                        │ yes: wanted types = rendering.types ∩ filter
                        ├─ a wanted type is per recipient ─► audience of the topic at the event's
                        │                                    position, minus the actor (cached)
                        └─► render ─► filter (type, subject) ─► EventRecords with stable ids

Audiences are cached per topic (``AudienceCache``); events are rendered in log order, which the
cache relies on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from telex.events.consumer import AudienceCache
from telex.events.log import EventLog
from telex.events.model import DomainEvent
from telex.subscriptions.model import DeliveryFilter
from telex.webhooks.catalogue import Catalogue, event_id
from telex.webhooks.envelope import EventRecord

__all__ = ["Rendered", "SubscriptionRenderer"]


@dataclass(frozen=True, slots=True)
class Rendered:
    """One log event's records for a subscription (possibly none)."""

    position: int
    time: float
    records: list[EventRecord]


class SubscriptionRenderer:
    def __init__(self, catalogue: Catalogue, filter_: DeliveryFilter, log: EventLog, topic: str) -> None:
        self._catalogue = catalogue
        self._filter = filter_
        self._log = log
        self._topic = topic
        self._audiences = AudienceCache(log)

    def _wanted(self, event: DomainEvent) -> tuple[frozenset[str], bool]:
        rendering = self._catalogue.get(event.type)
        if rendering is None:
            return frozenset(), False
        wanted = self._filter.wants(rendering.types)
        return wanted, bool(wanted & rendering.per_recipient)

    async def render(self, events: Sequence[DomainEvent]) -> list[Rendered]:
        """Records for each of ``events`` (in log order, which this method relies on)."""
        out: list[Rendered] = []
        for event in events:
            self._audiences.observe(event)
            wanted, per_recipient = self._wanted(event)
            if not wanted:
                out.append(Rendered(event.position, event.time, []))
                continue
            recipients: list[str] = []
            if per_recipient:
                recipients = sorted(await self._audiences.recipients(event))
            rendering = self._catalogue.get(event.type)
            assert rendering is not None
            records = [
                EventRecord(
                    id=event_id(event.id, acs.key),
                    type=acs.type,
                    subject=acs.subject,
                    data=acs.data,
                    time=event.time,
                    topic=self._topic,
                )
                for acs in rendering.render(event, recipients)
                if self._filter.matches(acs)
            ]
            out.append(Rendered(event.position, event.time, records))
        return out
