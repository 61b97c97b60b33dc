"""Delivering events to customer webhooks: the building blocks.

    EventRecord ─► envelope (Event Grid | CloudEvents) ─► signing (Standard Webhooks)
               ─► outbound (SSRF-safe send) ─► retry (Event Grid's schedule, dead letters)
    validation: the ownership handshake before the first delivery

The subscription service and the delivery consumer are built on these; nothing here keeps state
between calls except the handshake objects, which the caller persists.
"""

from telex.webhooks.envelope import (
    Body,
    EventRecord,
    Schema,
    cloud_event,
    delivery_headers,
    encode,
    event_grid_event,
)
from telex.webhooks.outbound import (
    AllowEntry,
    DeliveryFailed,
    Destination,
    DestinationGuard,
    DestinationRefused,
    OutboundPolicy,
    OutboundResponse,
    OutboundSender,
    RefusalReason,
    Resolver,
    SystemResolver,
    build_client,
)
from telex.webhooks.retry import (
    Action,
    AttemptResult,
    DeadLetterReason,
    Decision,
    RetryPolicy,
    TransportFailure,
    dead_letter_fields,
    decide,
    parse_retry_after,
)
from telex.webhooks.signing import SignatureError, WebhookSecret, sign, signature_headers, verify
from telex.webhooks.validation import (
    AbuseProtection,
    EventGridValidation,
    HandshakeState,
    OutboundRequest,
    receiver_reply_event_grid,
    receiver_reply_options,
)

__all__ = [
    "AbuseProtection",
    "Action",
    "AllowEntry",
    "AttemptResult",
    "Body",
    "DeadLetterReason",
    "Decision",
    "DeliveryFailed",
    "Destination",
    "DestinationGuard",
    "DestinationRefused",
    "EventGridValidation",
    "EventRecord",
    "HandshakeState",
    "OutboundPolicy",
    "OutboundRequest",
    "OutboundResponse",
    "OutboundSender",
    "RefusalReason",
    "Resolver",
    "RetryPolicy",
    "Schema",
    "SignatureError",
    "SystemResolver",
    "TransportFailure",
    "WebhookSecret",
    "build_client",
    "cloud_event",
    "dead_letter_fields",
    "decide",
    "delivery_headers",
    "encode",
    "event_grid_event",
    "parse_retry_after",
    "receiver_reply_event_grid",
    "receiver_reply_options",
    "sign",
    "signature_headers",
    "verify",
]
