"""Delivering events to customer webhooks: the building blocks.

    DomainEvent ─► catalogue (renderings defined beside each capability) ─► EventRecord
    EventRecord ─► envelope (Event Grid | CloudEvents) ─► signing (Standard Webhooks)
               ─► outbound (SSRF-safe send) ─► retry (Event Grid's schedule, dead letters)
    validation: the ownership handshake before the first delivery

The subscription service and the delivery consumer are built on these; nothing here keeps state
between calls except the handshake objects, which the caller persists.
"""

from telex.webhooks.catalogue import (
    AcsEvent,
    Catalogue,
    Rendering,
    communication_identifier,
    event_id,
    raw_id,
)
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
from telex.webhooks.settings import OutboundSettings
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
    "AcsEvent",
    "Action",
    "AllowEntry",
    "AttemptResult",
    "Body",
    "Catalogue",
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
    "OutboundSettings",
    "RefusalReason",
    "Rendering",
    "Resolver",
    "RetryPolicy",
    "Schema",
    "SignatureError",
    "SystemResolver",
    "TransportFailure",
    "WebhookSecret",
    "build_client",
    "cloud_event",
    "communication_identifier",
    "dead_letter_fields",
    "decide",
    "delivery_headers",
    "encode",
    "event_grid_event",
    "event_id",
    "parse_retry_after",
    "raw_id",
    "receiver_reply_event_grid",
    "receiver_reply_options",
    "sign",
    "signature_headers",
    "verify",
]
