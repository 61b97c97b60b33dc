"""The durable event log: every state change appends events in the transaction that makes it."""

from telex.events.log import Event, EventLog

__all__ = ["Event", "EventLog"]
