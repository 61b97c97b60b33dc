"""The domain event: what happened, said once, rendered by each way out.

Every capability describes its changes as ``DomainEvent``s built by functions in its own
``events`` module (``telex.chat.events``, ``telex.calling.events``). The log stores them as they
are; each way out renders them its own way: the realtime gateway as frames, webhooks as Event
Grid or CloudEvents envelopes, push as provider payloads.

    type      the event's name as the ACS client SDKs name it ("chatMessageReceived")
    version   of the ``data`` shape for that type (renderers may meet older versions in the log)
    topic     decides the audience: the members of the topic when the event was appended
              (a chat thread id, ``call:<id>``, ``call:<id>/<participant>``)
    subject   what the event is about, in Event Grid's form ("thread/<id>/sender/<rawId>")
    data      the payload, JSON-ready
    time      when it happened (epoch seconds); id: unique, stable across redeliveries
    actor     the user who caused it, if any; ``to_actor`` False keeps it from that user (typing)
    durable   False: an ephemeral event (typing) that skips the log and reaches only live sockets
    position  its place in the log, once appended (0 before; ephemeral events keep 0)
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DomainEvent", "new_event_id"]


def new_event_id() -> str:
    return str(uuid.uuid4())


@dataclass(slots=True, eq=False)
class DomainEvent:
    type: str
    topic: str
    data: dict[str, Any]
    time: float
    actor: str | None = None
    subject: str = ""
    version: int = 1
    to_actor: bool = True
    durable: bool = True
    id: str = field(default_factory=new_event_id)
    position: int = 0
    # Topics whose membership the unit that appended this event changed (its first event only).
    audience_changed: tuple[str, ...] = ()

    def reaches(self, user: str) -> bool:
        """Whether a member of the topic receives it (the actor does not, when ``to_actor`` is off)."""
        return self.to_actor or user != self.actor
