"""Ownership handshakes before the first delivery to a webhook, sans-I/O.

Event Grid schema (push-events-sms.md §5.3, learn.microsoft.com/azure/event-grid/
end-point-validation-event-grid-events-schema)::

    request() ─► POST [SubscriptionValidationEvent{validationCode, validationUrl}]
                 aeg-event-type: SubscriptionValidation
    receive_response(200, {"validationResponse": code}) ─► SUCCEEDED
    receive_response(2xx, anything else)                ─► AWAITING_MANUAL_ACTION
          └─ manual_validation(token) within 10 min     ─► SUCCEEDED   (the owner GETs validationUrl)
          └─ handle_timer(now) after 10 min             ─► FAILED
    a wrong echo, a non-2xx status, no response         ─► FAILED

CloudEvents schema: the abuse-protection handshake of the CloudEvents HTTP webhook spec §4
(Event Grid uses it for CloudEvents subscriptions)::

    request() ─► OPTIONS, WebHook-Request-Origin: <origin> [, WebHook-Request-Rate, -Callback]
    receive_response(2xx, WebHook-Allowed-Origin: <origin>|*, WebHook-Allowed-Rate: n|*) ─► SUCCEEDED
    receive_response(2xx, no consent) with a callback offered ─► AWAITING_MANUAL_ACTION
          └─ callback(token) within the window ─► SUCCEEDED, else FAILED
    anything else (405, no header, another origin)            ─► FAILED

A status code alone is never consent, and the handshake proves only that the endpoint agrees to
receive; it authenticates nothing ("the handshake is not authentication", security.md §2.5). The
objects here produce requests and read replies; the caller sends them through the SSRF-safe
sender, serves the validation and callback URLs, and persists the state. The ``receiver_*``
functions are the other side, for Telex's own bot framework and for tests.
"""

from __future__ import annotations

import hmac
import json
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from telex.webhooks.envelope import EVENT_GRID_CONTENT_TYPE, rfc3339

__all__ = [
    "VALIDATION_EVENT_TYPE",
    "AbuseProtection",
    "EventGridValidation",
    "HandshakeState",
    "OutboundRequest",
    "receiver_reply_event_grid",
    "receiver_reply_options",
]

VALIDATION_EVENT_TYPE = "Microsoft.EventGrid.SubscriptionValidationEvent"
# Event Grid keeps a subscription in AwaitingManualAction this long before it fails.
MANUAL_WINDOW = 600.0


class HandshakeState(Enum):
    """Named like Event Grid's provisioning states."""

    PENDING = "Pending"
    AWAITING_MANUAL_ACTION = "AwaitingManualAction"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


@dataclass(frozen=True, slots=True)
class OutboundRequest:
    """A request for the subscription's URL: the caller sends it with the outbound sender."""

    method: str
    headers: dict[str, str]
    body: bytes = b""


def _with_token(base: str, token: str) -> str:
    parts = urlsplit(base)
    query = [*parse_qsl(parts.query, keep_blank_values=True), ("token", token)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


class _Handshake:
    def __init__(self, now: float, window: float) -> None:
        self.state = HandshakeState.PENDING
        self.failure: str | None = None
        self._window = window
        self._deadline: float | None = None
        self._token = secrets.token_urlsafe(24)
        self._started = now

    def _fail(self, why: str) -> HandshakeState:
        self.state, self.failure, self._deadline = HandshakeState.FAILED, why, None
        return self.state

    def _succeed(self) -> HandshakeState:
        self.state, self._deadline = HandshakeState.SUCCEEDED, None
        return self.state

    def _await_manual(self, now: float) -> HandshakeState:
        self.state, self._deadline = HandshakeState.AWAITING_MANUAL_ACTION, now + self._window
        return self.state

    def _manual(self, token: str, now: float) -> bool:
        if self.state is not HandshakeState.AWAITING_MANUAL_ACTION or self._deadline is None:
            return False
        if now >= self._deadline:
            self._fail("manual validation came too late")
            return False
        if not hmac.compare_digest(token.encode(), self._token.encode()):
            return False
        self._succeed()
        return True

    def receive_failure(self, why: str) -> HandshakeState:
        """The request got no HTTP response (timeout, refused destination, connection error)."""
        if self.state is HandshakeState.PENDING:
            self._fail(why)
        return self.state

    def next_timer(self) -> float | None:
        """When ``handle_timer`` must run next (the end of the manual window), if ever."""
        return self._deadline

    def handle_timer(self, now: float) -> HandshakeState:
        if self._deadline is not None and now >= self._deadline:
            self._fail("no manual validation within the window")
        return self.state


class EventGridValidation(_Handshake):
    """The SubscriptionValidationEvent handshake for one Event Grid schema subscription.

    ``validation_url_base`` is the URL of the route that will call ``manual_validation``; a random
    token is appended to it as ``token=…`` and only that token validates.
    """

    def __init__(
        self,
        *,
        topic: str,
        subscription_name: str,
        validation_url_base: str,
        now: float,
        window: float = MANUAL_WINDOW,
    ) -> None:
        super().__init__(now, window)
        self.code = str(uuid.uuid4()).upper()
        self.validation_url = _with_token(validation_url_base, self._token)
        self._event_id = str(uuid.uuid4())
        self._topic = topic
        self._subscription_name = subscription_name

    def event(self) -> dict[str, Any]:
        return {
            "id": self._event_id,
            "topic": self._topic,
            "subject": "",
            "data": {"validationCode": self.code, "validationUrl": self.validation_url},
            "eventType": VALIDATION_EVENT_TYPE,
            "eventTime": rfc3339(self._started),
            "metadataVersion": "1",
            "dataVersion": "1",
        }

    def request(self) -> OutboundRequest:
        body = json.dumps([self.event()], separators=(",", ":")).encode()
        headers = {
            "Content-Type": EVENT_GRID_CONTENT_TYPE,
            "aeg-event-type": "SubscriptionValidation",
            "aeg-subscription-name": self._subscription_name,
            "aeg-delivery-count": "0",
            "aeg-data-version": "1",
            "aeg-metadata-version": "1",
        }
        return OutboundRequest("POST", headers, body)

    def receive_response(self, status: int, body: bytes, now: float) -> HandshakeState:
        if self.state is not HandshakeState.PENDING:
            return self.state
        if not 200 <= status <= 299:
            return self._fail(f"validation request answered {status}")
        echo = _validation_response(body)
        if echo is None:
            return self._await_manual(now)
        if hmac.compare_digest(echo.encode(), self.code.encode()):
            return self._succeed()
        return self._fail("validationResponse does not match the validationCode")

    def manual_validation(self, token: str, now: float) -> bool:
        """The owner opened ``validation_url``: True if that validated the subscription."""
        return self._manual(token, now)


def _validation_response(body: bytes) -> str | None:
    try:
        reply = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(reply, dict):
        return None
    for key, value in reply.items():
        # .NET receivers often serialise the property as "ValidationResponse".
        if key.lower() == "validationresponse" and isinstance(value, str):
            return value
    return None


class AbuseProtection(_Handshake):
    """The CloudEvents webhook validation handshake (HTTP OPTIONS) for one subscription.

    ``origin`` is the name Telex delivers as (the receiver consents to it). When
    ``callback_url_base`` is given, the receiver may consent later by calling the callback URL
    (``callback``); ``requested_rate`` asks for a number of requests per minute.
    """

    def __init__(
        self,
        *,
        origin: str,
        now: float,
        requested_rate: int | None = None,
        callback_url_base: str | None = None,
        window: float = MANUAL_WINDOW,
    ) -> None:
        super().__init__(now, window)
        self.origin = origin
        self.requested_rate = requested_rate
        self.callback_url = _with_token(callback_url_base, self._token) if callback_url_base else None
        # Requests per minute the receiver allows; None once it answered "*" (no limit).
        self.allowed_rate: int | None = None

    def request(self) -> OutboundRequest:
        headers = {"WebHook-Request-Origin": self.origin}
        if self.requested_rate is not None:
            headers["WebHook-Request-Rate"] = str(self.requested_rate)
        if self.callback_url is not None:
            headers["WebHook-Request-Callback"] = self.callback_url
        return OutboundRequest("OPTIONS", headers)

    def receive_response(self, status: int, headers: Mapping[str, str], now: float) -> HandshakeState:
        if self.state is not HandshakeState.PENDING:
            return self.state
        if not 200 <= status <= 299:
            return self._fail(f"validation request answered {status}")
        allowed = _header(headers, "webhook-allowed-origin")
        if allowed is None:
            if self.callback_url is not None:
                return self._await_manual(now)
            return self._fail("no WebHook-Allowed-Origin in the reply")
        if allowed.strip() != "*" and allowed.strip().lower() != self.origin.lower():
            return self._fail("WebHook-Allowed-Origin names another origin")
        rate = (_header(headers, "webhook-allowed-rate") or "").strip()
        if rate == "*":
            self.allowed_rate = None
        elif rate.isdigit() and int(rate) > 0:
            self.allowed_rate = int(rate)
        else:
            # Missing or unreadable: hold to what was asked for.
            self.allowed_rate = self.requested_rate
        return self._succeed()

    def callback(self, token: str, now: float) -> bool:
        """The receiver called ``callback_url``: True if that granted consent."""
        return self._manual(token, now)


def receiver_reply_event_grid(body: bytes) -> bytes | None:
    """Receiver side: the reply body that completes a validation request, or None if ``body`` is
    not one (then it is a normal delivery)."""
    try:
        events = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(events, list):
        return None
    for event in events:
        if isinstance(event, dict) and event.get("eventType") == VALIDATION_EVENT_TYPE:
            data = event.get("data")
            if isinstance(data, dict) and isinstance(data.get("validationCode"), str):
                return json.dumps({"validationResponse": data["validationCode"]}).encode()
    return None


def receiver_reply_options(
    headers: Mapping[str, str], *, allowed_origins: frozenset[str], rate: int | None = None
) -> dict[str, str] | None:
    """Receiver side: the consent headers for an abuse-protection OPTIONS request from one of
    ``allowed_origins``, or None to refuse (answer 405 or 403 then)."""
    origin = _header(headers, "webhook-request-origin")
    if origin is None or origin.lower() not in {o.lower() for o in allowed_origins}:
        return None
    return {
        "WebHook-Allowed-Origin": origin,
        "WebHook-Allowed-Rate": "*" if rate is None else str(rate),
        "Allow": "POST, OPTIONS",
    }
