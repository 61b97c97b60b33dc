"""The event backbone: typed domain events, the durable log, publishing on commit.

capability ─► Backbone.write() unit: rows + emit(DomainEvent) + join/leave(topic, user)
              ─► group commit ─► EventLog (durable) ─► sinks on this node, bus to the others
ways out (realtime hub; webhooks, push) render DomainEvents; audiences come from topics.
"""

from telex.events.audience import Audience, Interval, TopicScopes, visible
from telex.events.backbone import Backbone, EventSink, EventUnit
from telex.events.log import EventLog
from telex.events.model import DomainEvent

__all__ = [
    "Audience",
    "Backbone",
    "DomainEvent",
    "EventLog",
    "EventSink",
    "EventUnit",
    "Interval",
    "TopicScopes",
    "visible",
]
