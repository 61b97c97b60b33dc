"""Call Automation's Event Grid events: ``IncomingCall`` (with its signed
``incomingCallContext``, so an application can answer from the event) and
``RecordingFileStatusUpdated``. The domain events carry ACS's data and subject already; each
renders once, to the resource's subscriptions.

With Call Automation on, these replace calling's own ``IncomingCall`` rendering (which has no
context to answer with): one ringing participant gives exactly one ``IncomingCall``."""

from __future__ import annotations

from collections.abc import Sequence

from telex.automation.events import INCOMING_CALL, RECORDING_FILE_STATUS
from telex.events.model import DomainEvent
from telex.webhooks.catalogue import NAMESPACE, AcsEvent, Rendering

__all__ = ["RENDERINGS"]


def _as(domain_type: str, acs_type: str) -> Rendering:
    def render(event: DomainEvent, _: Sequence[str]) -> list[AcsEvent]:
        return [AcsEvent(acs_type, event.subject, dict(event.data), acs_type)]

    return Rendering(domain_type, frozenset({acs_type}), frozenset(), render)


RENDERINGS: tuple[Rendering, ...] = (
    _as(INCOMING_CALL, NAMESPACE + "IncomingCall"),
    _as(RECORDING_FILE_STATUS, NAMESPACE + "RecordingFileStatusUpdated"),
)
