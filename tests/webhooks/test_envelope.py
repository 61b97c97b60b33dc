"""Envelopes: the official Azure parsers read what we render, field for field (push-events-sms.md
§5.1–5.2), and the body is the exact JSON that gets signed."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from azure.core.messaging import CloudEvent
from azure.eventgrid import EventGridEvent, SystemEventNames

from telex.webhooks import EventRecord, Schema, cloud_event, delivery_headers, encode, event_grid_event
from telex.webhooks.envelope import rfc3339

TOPIC = "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Communication/communicationServices/telex"
T0 = datetime(2026, 3, 1, 12, 30, 5, 250000, tzinfo=UTC).timestamp()


def chat_record(i: int = 0, time: float = T0) -> EventRecord:
    return EventRecord(
        id=f"ev-{i}",
        type=SystemEventNames.AcsChatMessageReceivedEventName,
        subject="thread/19:x@thread.v2/sender/8:acs:a/recipient/8:acs:b",
        data={"messageBody": "héllo ✓", "messageId": str(i), "threadId": "19:x@thread.v2", "metadata": {}},
        time=time,
        topic=TOPIC,
    )


def sms_record() -> EventRecord:
    return EventRecord(
        id="Incoming_20260301",
        type=SystemEventNames.AcsSmsReceivedEventName,
        subject="/phonenumber/15555550100",
        data={"messageId": "Incoming_1", "from": "15555550111", "to": "15555550100", "message": "STOP",
              "receivedTimestamp": "2026-03-01T12:30:05Z", "segmentCount": 1},
        time=datetime(2026, 3, 1, 12, 30, 5, tzinfo=UTC).timestamp(),
        topic=TOPIC,
    )  # fmt: skip


def test_event_names_are_the_sdks() -> None:
    assert chat_record().type == "Microsoft.Communication.ChatMessageReceived"
    assert sms_record().type == "Microsoft.Communication.SMSReceived"


def test_rfc3339_in_utc() -> None:
    assert rfc3339(datetime(2020, 9, 18, 0, 27, 47, tzinfo=UTC).timestamp()) == "2020-09-18T00:27:47Z"
    assert rfc3339(T0) == "2026-03-01T12:30:05.250000Z"


def test_event_grid_fields_exactly() -> None:
    event = event_grid_event(sms_record())
    assert list(event) == ["id", "topic", "subject", "eventType", "eventTime", "data", "dataVersion",
                           "metadataVersion"]  # fmt: skip
    assert event["eventTime"] == "2026-03-01T12:30:05Z"
    assert event["dataVersion"] == "1.0"
    assert event["metadataVersion"] == "1"


@pytest.mark.parametrize("record", [chat_record(), sms_record()], ids=["chat", "sms"])
def test_azure_eventgrid_parses_event_grid_events(record: EventRecord) -> None:
    body = encode([record], Schema.EVENT_GRID)
    assert body.content_type == "application/json"
    (raw,) = json.loads(body.content)  # an array even for one event
    parsed = EventGridEvent.from_dict(raw)
    assert parsed.id == record.id
    assert parsed.event_type == record.type
    assert parsed.subject == record.subject
    assert parsed.topic == TOPIC
    assert parsed.data == record.data
    assert parsed.data_version == "1.0"
    assert parsed.metadata_version == "1"
    assert parsed.event_time == datetime.fromtimestamp(record.time, UTC)
    assert EventGridEvent.from_json(json.dumps(raw)).id == record.id


@pytest.mark.parametrize("record", [chat_record(), sms_record()], ids=["chat", "sms"])
def test_azure_core_parses_cloud_events(record: EventRecord) -> None:
    body = encode([record], Schema.CLOUD_EVENTS)
    assert body.content_type == "application/cloudevents+json; charset=utf-8"
    raw = json.loads(body.content)  # structured mode: the event itself
    assert raw["specversion"] == "1.0"
    assert raw["datacontenttype"] == "application/json"
    parsed: CloudEvent[object] = CloudEvent.from_dict(raw)
    assert parsed.id == record.id
    assert parsed.source == TOPIC
    assert parsed.type == record.type
    assert parsed.subject == record.subject
    assert parsed.data == record.data
    assert parsed.specversion == "1.0"
    assert parsed.datacontenttype == "application/json"
    assert parsed.time == datetime.fromtimestamp(record.time, UTC)
    assert not parsed.extensions  # nothing unknown at the top level


def test_batches_are_json_arrays_the_parsers_read() -> None:
    records = [chat_record(i, T0 + i) for i in range(5)]
    eg = encode(records, Schema.EVENT_GRID)
    assert eg.count == 5
    assert [EventGridEvent.from_dict(e).id for e in json.loads(eg.content)] == [r.id for r in records]
    ce = encode(records, Schema.CLOUD_EVENTS, batched=True)
    assert ce.content_type == "application/cloudevents-batch+json; charset=utf-8"
    assert [CloudEvent.from_dict(e).id for e in json.loads(ce.content)] == [r.id for r in records]


def test_a_structured_cloud_event_holds_one_event() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        encode([chat_record(1), chat_record(2)], Schema.CLOUD_EVENTS)
    with pytest.raises(ValueError, match="nothing"):
        encode([], Schema.EVENT_GRID)


def test_body_is_compact_utf8() -> None:
    content = encode([chat_record()], Schema.EVENT_GRID).content
    assert "héllo ✓".encode() in content
    assert b": " not in content and b", " not in content


def test_cloud_event_extensions() -> None:
    record = EventRecord("e", "T", "s", {}, T0, TOPIC, extensions={"traceparent": "00-ab-cd-01"})
    event = cloud_event(record)
    assert event["traceparent"] == "00-ab-cd-01"
    assert CloudEvent.from_dict(event).extensions == {"traceparent": "00-ab-cd-01"}
    for bad in ("Trace", "trace-id", "", "source"):
        with pytest.raises(ValueError, match="extension"):
            cloud_event(EventRecord("e", "T", "s", {}, T0, TOPIC, extensions={bad: "x"}))


def test_delivery_headers() -> None:
    assert delivery_headers(Schema.EVENT_GRID, subscription_name="SUB1", delivery_count=3) == {
        "aeg-event-type": "Notification",
        "aeg-subscription-name": "SUB1",
        "aeg-delivery-count": "3",
        "aeg-data-version": "1.0",
        "aeg-metadata-version": "1",
    }
    assert delivery_headers(
        Schema.CLOUD_EVENTS, subscription_name="s", delivery_count=0, origin="telex.example"
    ) == {"WebHook-Request-Origin": "telex.example"}
    assert delivery_headers(Schema.CLOUD_EVENTS, subscription_name="s", delivery_count=0) == {}
