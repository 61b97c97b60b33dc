"""The ownership handshake of a new (or moved) subscription, run through the SSRF-safe sender.

    Event Grid schema ─► POST SubscriptionValidationEvent ─► echo: Succeeded
                                                          └► 2xx, no echo: AwaitingManualAction
                                                             (the owner opens validationUrl in time)
    CloudEvents       ─► OPTIONS + WebHook-Request-Origin ─► WebHook-Allowed-Origin: Succeeded
                                                           └► no consent, callback offered:
                                                              AwaitingManualAction
    anything else ─► HandshakeFailed (the subscription is not created or not moved)

The protocol objects are ``telex.webhooks.validation``'s (sans-I/O); this module sends their
requests and reads the replies. The validation link carries a random token; only its SHA-256 is
kept, so a copy of the database cannot validate someone else's subscription.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from telex.core.errors import ErrorCode, TelexError
from telex.subscriptions.model import ProvisioningState
from telex.webhooks.envelope import Schema
from telex.webhooks.outbound import DeliveryFailed, DestinationRefused, OutboundSender
from telex.webhooks.validation import AbuseProtection, EventGridValidation, HandshakeState

__all__ = ["HandshakeResult", "run_handshake", "token_hash", "token_matches"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HandshakeResult:
    state: ProvisioningState
    validation_hash: str | None = None
    validation_deadline: float | None = None
    allowed_rate: int | None = None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str, expected_hash: str | None) -> bool:
    return expected_hash is not None and hmac.compare_digest(token_hash(token), expected_hash)


def _token_of(url: str | None) -> str:
    tokens = parse_qs(urlsplit(url or "").query).get("token", [])
    if len(tokens) != 1:
        raise RuntimeError("a validation link carries exactly one token")
    return tokens[0]


def _failed(url: str, why: str) -> TelexError:
    parts = urlsplit(url)
    return TelexError(
        ErrorCode.VALIDATION_FAILED,
        f"Webhook validation handshake failed for {parts.scheme}://{parts.netloc}{parts.path}: {why}.",
    )


async def run_handshake(
    sender: OutboundSender,
    *,
    url: str,
    schema: Schema,
    name: str,
    topic: str,
    origin: str,
    validation_base: str,
    now: float,
    window: float,
) -> HandshakeResult:
    """Ask ``url`` whether it wants the subscription's events. Raises ``TelexError``
    (``ValidationFailed``, 400) when the URL is not allowed or the endpoint does not consent."""
    handshake: EventGridValidation | AbuseProtection
    if schema is Schema.EVENT_GRID:
        handshake = EventGridValidation(
            topic=topic, subscription_name=name, validation_url_base=validation_base, now=now, window=window
        )
    else:
        handshake = AbuseProtection(origin=origin, now=now, callback_url_base=validation_base, window=window)
    request = handshake.request()
    try:
        reply = await sender.send(request.method, url, headers=request.headers, content=request.body)
    except DestinationRefused as exc:
        log.info("webhook URL refused for %s: %s %s", name, exc.reason.value, exc.detail)
        raise TelexError(ErrorCode.VALIDATION_FAILED, exc.message) from exc
    except DeliveryFailed as exc:
        handshake.receive_failure(exc.failure.value)
    else:
        if isinstance(handshake, EventGridValidation):
            handshake.receive_response(reply.status, reply.body, now)
        else:
            handshake.receive_response(reply.status, reply.headers, now)
    if handshake.state is HandshakeState.SUCCEEDED:
        rate = handshake.allowed_rate if isinstance(handshake, AbuseProtection) else None
        return HandshakeResult(ProvisioningState.SUCCEEDED, allowed_rate=rate)
    if handshake.state is HandshakeState.AWAITING_MANUAL_ACTION:
        link = (
            handshake.validation_url if isinstance(handshake, EventGridValidation) else handshake.callback_url
        )
        return HandshakeResult(
            ProvisioningState.AWAITING_MANUAL_ACTION,
            validation_hash=token_hash(_token_of(link)),
            validation_deadline=handshake.next_timer(),
        )
    raise _failed(url, handshake.failure or "no consent")
