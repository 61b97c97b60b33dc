"""SMS's domain events, named and shaped as ACS's Event Grid events (push-events-sms.md §5.6).

    Microsoft.Communication.SMSDeliveryReportReceived   a sent message reached its end state
        messageId, from, to, deliveryStatus (Delivered | Failed), deliveryStatusDetails,
        deliveryAttempts [{timestamp, segmentsSucceeded, segmentsFailed}], receivedTimestamp, tag
    Microsoft.Communication.SMSReceived                 a message came in to one of our numbers
        messageId, from, to, message, receivedTimestamp, segmentCount

Both go to the topic ``sms:<our number>`` (no user is a member: ways out that serve the
resource, such as webhooks, take them) with the Event Grid subject ``/phonenumber/<digits>``.
"""

from __future__ import annotations

from typing import Any

from telex.core.clock import iso_time
from telex.events.model import DomainEvent

__all__ = [
    "DELIVERY_REPORT",
    "RECEIVED",
    "SMS_TOPIC_PREFIX",
    "delivery_report",
    "received",
    "sms_subject",
    "sms_topic",
]

SMS_TOPIC_PREFIX = "sms:"
DELIVERY_REPORT = "Microsoft.Communication.SMSDeliveryReportReceived"
RECEIVED = "Microsoft.Communication.SMSReceived"
DELIVERED, FAILED = "Delivered", "Failed"


def sms_topic(number: str) -> str:
    return f"{SMS_TOPIC_PREFIX}{number}"


def sms_subject(number: str) -> str:
    return f"/phonenumber/{number.lstrip('+')}"


def delivery_report(
    message_id: str,
    sender: str,
    recipient: str,
    *,
    delivered: bool,
    details: str,
    segments_delivered: int,
    segments_failed: int,
    attempted_at: float,
    now: float,
    tag: str | None,
) -> DomainEvent:
    data: dict[str, Any] = {
        "messageId": message_id,
        "from": sender,
        "to": recipient,
        "deliveryStatus": DELIVERED if delivered else FAILED,
        "deliveryStatusDetails": details,
        "deliveryAttempts": [
            {
                "timestamp": iso_time(attempted_at),
                "segmentsSucceeded": segments_delivered,
                "segmentsFailed": segments_failed,
            }
        ],
        "receivedTimestamp": iso_time(now),
    }
    if tag is not None:
        data["tag"] = tag
    return DomainEvent(DELIVERY_REPORT, sms_topic(sender), data, now, subject=sms_subject(sender))


def received(
    message_id: str, sender: str, recipient: str, text: str, segments: int, now: float
) -> DomainEvent:
    data = {
        "messageId": message_id,
        "from": sender,
        "to": recipient,
        "message": text,
        "receivedTimestamp": iso_time(now),
        "segmentCount": segments,
    }
    return DomainEvent(RECEIVED, sms_topic(recipient), data, now, subject=sms_subject(recipient))
