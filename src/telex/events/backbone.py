"""The event backbone: where every capability's changes become events, and where they go out.

    service: async with backbone.write() as unit:            (a group-committed write unit)
                 rows ...  unit.emit(event)  unit.join(topic, user)
             ── unit ends ─► EventLog.append (same transaction) ─► group commit ─► durable
                                                                               └─► on commit, in order:
                 every local sink's committed(events)   (this node's hub: no read back from the log)
                 bus.announce(last position)            (other nodes' hubs read the log)

    service: await backbone.ephemeral(event)               (typing: never in the log)
                 every local sink's ephemeral(event) ─► bus.broadcast(event) ─► other nodes' sinks

Publishing happens here, on commit, in one place: services never publish by hand, so nothing is
published that did not commit and nothing committed goes unpublished (the on-commit callback
runs even if the request that made the change has gone away). A sink must not block: it queues,
never awaits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

from telex.bus.base import Bus
from telex.events.log import EventLog
from telex.events.model import DomainEvent
from telex.store.database import Database, WriteConn

__all__ = ["Backbone", "EventSink", "EventUnit", "ephemeral_from_wire", "ephemeral_to_wire"]


class EventSink(Protocol):
    """A way out on this node (the realtime hub; later webhooks and push doorbells)."""

    def committed(self, events: list[DomainEvent]) -> None:
        """Durable events this node just committed, in log order. Must not block."""

    def ephemeral(self, event: DomainEvent) -> None:
        """An ephemeral event from this node or another. Must not block."""

    def advanced(self, position: int) -> None:
        """Another node committed events up to ``position`` (read them from the log)."""


class EventUnit:
    """One write unit: its connection, and the events and membership changes it records."""

    __slots__ = ("_events", "_memberships", "conn")

    def __init__(self, conn: WriteConn) -> None:
        self.conn = conn
        self._events: list[DomainEvent] = []
        # (topic, user) → the unit's joins (True) and leaves (False) of it, in order.
        self._memberships: dict[tuple[str, str], list[bool]] = {}

    def emit(self, event: DomainEvent) -> None:
        """Append ``event`` to the log with this unit's changes (in emission order)."""
        if not event.durable or not event.to_actor:
            raise ValueError("only durable events that reach every member are appended to the log")
        self._events.append(event)

    def join(self, topic: str, user: str) -> None:
        """``user`` becomes a member of ``topic``: it receives this unit's events on."""
        self._memberships.setdefault((topic, user), []).append(True)

    def leave(self, topic: str, user: str) -> None:
        """``user``'s membership of ``topic`` ends with this unit's last event."""
        self._memberships.setdefault((topic, user), []).append(False)

    def membership_changes(
        self,
    ) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]:
        """What the unit's joins and leaves come to, per (topic, user): memberships that begin
        (joined last), end (left first, an existing membership), or cover this unit only (joined,
        then left). Leaving and joining again in one unit changes nothing."""
        begin, end, only = [], [], []
        for pair, ops in self._memberships.items():
            first_join, last_join = ops[0], ops[-1]
            if not first_join and not last_join:
                end.append(pair)
            elif first_join and last_join:
                begin.append(pair)
            elif first_join:
                only.append(pair)
        return begin, end, only

    @property
    def events(self) -> list[DomainEvent]:
        return self._events


def ephemeral_to_wire(event: DomainEvent) -> dict[str, Any]:
    return {
        "type": event.type, "topic": event.topic, "data": event.data, "time": event.time,
        "actor": event.actor, "subject": event.subject, "version": event.version,
        "toActor": event.to_actor, "id": event.id,
    }  # fmt: skip


def ephemeral_from_wire(body: dict[str, Any]) -> DomainEvent:
    return DomainEvent(
        type=str(body["type"]), topic=str(body["topic"]), data=dict(body["data"]), time=float(body["time"]),
        actor=body.get("actor"), subject=str(body.get("subject", "")), version=int(body.get("version", 1)),
        to_actor=bool(body.get("toActor", True)), durable=False, id=str(body["id"]),
    )  # fmt: skip


class Backbone:
    def __init__(self, db: Database, log: EventLog, bus: Bus) -> None:
        self._db = db
        self._log = log
        self._bus = bus
        self._sinks: list[EventSink] = []
        bus.subscribe(self._remote_position, self._remote_ephemeral)

    @property
    def log(self) -> EventLog:
        return self._log

    def add_sink(self, sink: EventSink) -> None:
        self._sinks.append(sink)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[EventUnit]:
        """A write unit (group-committed); its events are published once it is durable."""
        async with self._db.write() as conn:
            unit = EventUnit(conn)
            yield unit
            if unit._events or unit._memberships:
                await self._log.append(conn, unit._events, *unit.membership_changes())
                events = unit._events
                conn.on_commit(lambda: self._committed(events))

    def _committed(self, events: list[DomainEvent]) -> None:
        for sink in self._sinks:
            sink.committed(events)
        self._bus.announce(events[-1].position)

    async def ephemeral(self, event: DomainEvent) -> None:
        """Deliver an ephemeral event to live sockets on every node (no log, no lock)."""
        event.durable = False
        for sink in self._sinks:
            sink.ephemeral(event)
        self._bus.broadcast(ephemeral_to_wire(event))

    def _remote_position(self, position: int) -> None:
        for sink in self._sinks:
            sink.advanced(position)

    def _remote_ephemeral(self, body: dict[str, Any]) -> None:
        try:
            event = ephemeral_from_wire(body)
        except (KeyError, TypeError, ValueError):
            return
        for sink in self._sinks:
            sink.ephemeral(event)
