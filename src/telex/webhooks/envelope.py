"""Event Grid and CloudEvents 1.0 envelopes for events delivered to customer webhooks.

    EventRecord ──► event_grid_event() ──► {"id","topic","subject","eventType","eventTime",
         │                                  "data","dataVersion","metadataVersion"}
         └────────► cloud_event()      ──► {"specversion","id","source","type","subject",
                                            "time","datacontenttype","data"}
    [events] ──► encode(schema, batched) ──► Body(bytes, content type)

The record is what the delivery consumer hands over: a domain event already named the ACS way
(``Microsoft.Communication.ChatMessageReceived``) with its subject and ``data``. This module only
renders it, the way Event Grid does (push-events-sms.md §5.1–5.2):

* **Event Grid schema**: always a JSON array, ``application/json``, even for one event; every
  event carries ``metadataVersion: "1"`` and its ``dataVersion``; ``topic`` is the resource path.
* **CloudEvents 1.0, structured mode**: one event is the body itself
  (``application/cloudevents+json``); a batch is a JSON array
  (``application/cloudevents-batch+json``). The mapping from Event Grid is topic→source,
  eventType→type, eventTime→time.

Times are RFC 3339 in UTC with a ``Z`` and microseconds when the instant has any. JSON is
compact and UTF-8 (non-ASCII stays as is), so the bytes that are signed are the bytes sent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

__all__ = [
    "CLOUDEVENTS_BATCH_CONTENT_TYPE",
    "CLOUDEVENTS_CONTENT_TYPE",
    "EVENT_GRID_CONTENT_TYPE",
    "Body",
    "EventRecord",
    "Schema",
    "cloud_event",
    "delivery_headers",
    "encode",
    "event_grid_event",
    "rfc3339",
]

EVENT_GRID_CONTENT_TYPE = "application/json"
CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
CLOUDEVENTS_BATCH_CONTENT_TYPE = "application/cloudevents-batch+json; charset=utf-8"

# The schema version of Event Grid's own envelope fields; Event Grid documents exactly "1".
_METADATA_VERSION = "1"


class Schema(Enum):
    """The delivery schema a subscription chose (ACS calls them EventGridSchema and CloudEventSchemaV1_0)."""

    EVENT_GRID = "EventGridSchema"
    CLOUD_EVENTS = "CloudEventSchemaV1_0"


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One event as a webhook receives it, independent of the schema.

    ``type`` is the ACS name (``Microsoft.Communication.SMSReceived``); ``subject`` is the ACS
    subject path (``/phonenumber/15555550100``, ``thread/{id}/sender/{raw}/recipient/{raw}``);
    ``time`` is when it happened, in epoch seconds; ``topic`` is the resource path Event Grid puts
    in ``topic`` and CloudEvents in ``source``.
    """

    id: str
    type: str
    subject: str
    data: Mapping[str, Any]
    time: float
    topic: str
    data_version: str = "1.0"
    extensions: Mapping[str, str] = field(default_factory=dict)


def rfc3339(epoch: float) -> str:
    """``2026-01-01T00:00:00Z``, or ``2026-01-01T00:00:00.250000Z`` when there are sub-seconds."""
    moment = datetime.fromtimestamp(epoch, UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def event_grid_event(record: EventRecord) -> dict[str, Any]:
    """The record in the Event Grid event schema (push-events-sms.md §5.1)."""
    return {
        "id": record.id,
        "topic": record.topic,
        "subject": record.subject,
        "eventType": record.type,
        "eventTime": rfc3339(record.time),
        "data": dict(record.data),
        "dataVersion": record.data_version,
        "metadataVersion": _METADATA_VERSION,
    }


def cloud_event(record: EventRecord) -> dict[str, Any]:
    """The record as a structured-mode CloudEvents 1.0 event (push-events-sms.md §5.2).

    ``extensions`` become top-level attributes; CloudEvents allows only lowercase ASCII letters
    and digits in their names, so anything else is refused here rather than at the receiver.
    """
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": record.id,
        "source": record.topic,
        "type": record.type,
        "subject": record.subject,
        "time": rfc3339(record.time),
        "datacontenttype": "application/json",
        "data": dict(record.data),
    }
    for name, value in record.extensions.items():
        if not name or not all(c.isascii() and (c.islower() or c.isdigit()) for c in name) or name in event:
            raise ValueError(f"invalid CloudEvents extension attribute name {name!r}")
        event[name] = value
    return event


@dataclass(frozen=True, slots=True)
class Body:
    """A request body ready to sign and send."""

    content: bytes
    content_type: str
    count: int


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def encode(records: Sequence[EventRecord], schema: Schema, *, batched: bool = False) -> Body:
    """Render ``records`` as one request body.

    Event Grid always sends an array. CloudEvents sends one event in structured mode unless
    ``batched`` (the subscription asked for batches), in which case any number go in an array.
    """
    if not records:
        raise ValueError("nothing to encode")
    if schema is Schema.EVENT_GRID:
        return Body(_dumps([event_grid_event(r) for r in records]), EVENT_GRID_CONTENT_TYPE, len(records))
    if batched:
        return Body(_dumps([cloud_event(r) for r in records]), CLOUDEVENTS_BATCH_CONTENT_TYPE, len(records))
    if len(records) != 1:
        raise ValueError("a CloudEvents structured body holds exactly one event; use batched=True")
    return Body(_dumps(cloud_event(records[0])), CLOUDEVENTS_CONTENT_TYPE, 1)


def delivery_headers(
    schema: Schema,
    *,
    subscription_name: str,
    delivery_count: int,
    data_version: str = "1.0",
    origin: str | None = None,
) -> dict[str, str]:
    """The headers Event Grid puts on a delivery (besides Content-Type and the signature).

    Event Grid schema: ``aeg-event-type: Notification``, the subscription name, the delivery count
    (0 on the first attempt), and the data and metadata versions (§5.1). CloudEvents: once the
    receiver consented to ``origin`` in the abuse-protection handshake, every delivery names it
    in ``WebHook-Request-Origin`` (§5.3).
    """
    if schema is Schema.EVENT_GRID:
        return {
            "aeg-event-type": "Notification",
            "aeg-subscription-name": subscription_name,
            "aeg-delivery-count": str(delivery_count),
            "aeg-data-version": data_version,
            "aeg-metadata-version": _METADATA_VERSION,
        }
    return {"WebHook-Request-Origin": origin} if origin else {}
