"""Ownership handshakes (push-events-sms.md §5.3): every transition of both state machines, and
the receiver-side helpers answering the sender's requests."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.eventgrid import EventGridEvent, SystemEventNames

from telex.webhooks import (
    AbuseProtection,
    EventGridValidation,
    HandshakeState,
    receiver_reply_event_grid,
    receiver_reply_options,
)

NOW = 1_767_225_600.0
TOPIC = "/subscriptions/0/resourceGroups/rg/providers/Microsoft.Communication/communicationServices/t"


def eg() -> EventGridValidation:
    return EventGridValidation(
        topic=TOPIC,
        subscription_name="SUB1",
        validation_url_base="https://telex.example/validate?id=SUB1",
        now=NOW,
    )


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def test_event_grid_request_is_a_validation_event() -> None:
    v = eg()
    request = v.request()
    assert request.method == "POST"
    assert request.headers["aeg-event-type"] == "SubscriptionValidation"
    assert request.headers["Content-Type"] == "application/json"
    (raw,) = json.loads(request.body)
    parsed = EventGridEvent.from_dict(raw)
    assert parsed.event_type == SystemEventNames.EventGridSubscriptionValidationEventName
    assert parsed.data == {"validationCode": v.code, "validationUrl": v.validation_url}
    query = parse_qs(urlsplit(v.validation_url).query)
    assert query["id"] == ["SUB1"] and len(query["token"][0]) >= 32
    assert v.state is HandshakeState.PENDING and v.next_timer() is None


def test_event_grid_echo_succeeds() -> None:
    v = eg()
    reply = receiver_reply_event_grid(v.request().body)
    assert reply is not None
    assert v.receive_response(200, reply, NOW + 1) is HandshakeState.SUCCEEDED
    # Later input changes nothing.
    assert v.receive_response(500, b"", NOW + 2) is HandshakeState.SUCCEEDED
    assert v.receive_failure("timeout") is HandshakeState.SUCCEEDED
    assert not v.manual_validation(token_of(v.validation_url), NOW + 3)


def test_event_grid_echo_is_read_case_insensitively() -> None:
    v = eg()
    body = json.dumps({"ValidationResponse": v.code}).encode()
    assert v.receive_response(200, body, NOW) is HandshakeState.SUCCEEDED


@pytest.mark.parametrize(
    ("status", "body", "state"),
    [
        (200, b'{"validationResponse": "WRONG"}', HandshakeState.FAILED),
        (400, b"", HandshakeState.FAILED),
        (500, b"", HandshakeState.FAILED),
        (302, b"", HandshakeState.FAILED),
        (200, b"", HandshakeState.AWAITING_MANUAL_ACTION),
        (202, b"not json", HandshakeState.AWAITING_MANUAL_ACTION),
        (200, b"[1, 2]", HandshakeState.AWAITING_MANUAL_ACTION),
        (200, b'{"validationResponse": 42}', HandshakeState.AWAITING_MANUAL_ACTION),
    ],
)
def test_event_grid_replies(status: int, body: bytes, state: HandshakeState) -> None:
    v = eg()
    assert v.receive_response(status, body, NOW) is state
    assert (v.failure is not None) == (state is HandshakeState.FAILED)


def test_event_grid_no_response_fails() -> None:
    v = eg()
    assert v.receive_failure("TimedOut") is HandshakeState.FAILED
    assert v.failure == "TimedOut"


def test_event_grid_manual_validation_within_ten_minutes() -> None:
    v = eg()
    v.receive_response(200, b"", NOW)
    assert v.next_timer() == NOW + 600
    assert not v.manual_validation("guess", NOW + 10)
    assert v.state is HandshakeState.AWAITING_MANUAL_ACTION
    assert v.handle_timer(NOW + 599) is HandshakeState.AWAITING_MANUAL_ACTION
    assert v.manual_validation(token_of(v.validation_url), NOW + 599)
    assert v.state is HandshakeState.SUCCEEDED and v.next_timer() is None


def test_event_grid_manual_window_expires() -> None:
    v = eg()
    v.receive_response(200, b"", NOW)
    assert v.handle_timer(NOW + 600) is HandshakeState.FAILED
    assert not v.manual_validation(token_of(v.validation_url), NOW + 601)
    w = eg()
    w.receive_response(200, b"", NOW)
    assert not w.manual_validation(token_of(w.validation_url), NOW + 600)  # late, even without the timer
    assert w.state is HandshakeState.FAILED


def test_manual_validation_only_while_awaiting() -> None:
    v = eg()
    assert not v.manual_validation(token_of(v.validation_url), NOW)  # no reply yet
    assert v.state is HandshakeState.PENDING


def ce(**kwargs: object) -> AbuseProtection:
    return AbuseProtection(origin="events.telex.example", now=NOW, **kwargs)  # type: ignore[arg-type]


def test_cloudevents_request_is_options_with_origin() -> None:
    request = ce(requested_rate=120, callback_url_base="https://telex.example/cb?s=1").request()
    assert request.method == "OPTIONS" and request.body == b""
    assert request.headers["WebHook-Request-Origin"] == "events.telex.example"
    assert request.headers["WebHook-Request-Rate"] == "120"
    assert request.headers["WebHook-Request-Callback"].startswith("https://telex.example/cb?s=1&token=")
    assert ce().request().headers == {"WebHook-Request-Origin": "events.telex.example"}


@pytest.mark.parametrize(
    ("status", "headers", "state", "rate"),
    [
        (200, {"WebHook-Allowed-Origin": "events.telex.example", "WebHook-Allowed-Rate": "120"},
         HandshakeState.SUCCEEDED, 120),
        (200, {"webhook-allowed-origin": "EVENTS.telex.example", "webhook-allowed-rate": "*"},
         HandshakeState.SUCCEEDED, None),
        (204, {"WebHook-Allowed-Origin": "*"}, HandshakeState.SUCCEEDED, 60),
        (200, {"WebHook-Allowed-Origin": "*", "WebHook-Allowed-Rate": "lots"}, HandshakeState.SUCCEEDED, 60),
        (200, {"WebHook-Allowed-Origin": "other.example"}, HandshakeState.FAILED, None),
        (200, {}, HandshakeState.FAILED, None),  # a status alone is not consent
        (405, {"Allow": "POST"}, HandshakeState.FAILED, None),
        (403, {"WebHook-Allowed-Origin": "*"}, HandshakeState.FAILED, None),
    ],
)  # fmt: skip
def test_cloudevents_replies(
    status: int, headers: dict[str, str], state: HandshakeState, rate: int | None
) -> None:
    v = ce(requested_rate=60)
    assert v.receive_response(status, headers, NOW) is state
    if state is HandshakeState.SUCCEEDED:
        assert v.allowed_rate == rate


def test_cloudevents_callback_consent() -> None:
    v = ce(callback_url_base="https://telex.example/cb")
    assert v.callback_url is not None
    assert v.receive_response(200, {}, NOW) is HandshakeState.AWAITING_MANUAL_ACTION
    assert not v.callback("nope", NOW + 1)
    assert v.callback(token_of(v.callback_url), NOW + 1)
    assert v.state is HandshakeState.SUCCEEDED
    late = ce(callback_url_base="https://telex.example/cb")
    late.receive_response(200, {}, NOW)
    assert late.handle_timer(NOW + 600) is HandshakeState.FAILED


def test_receiver_helpers() -> None:
    assert receiver_reply_event_grid(b'[{"eventType": "Microsoft.Communication.SMSReceived"}]') is None
    assert receiver_reply_event_grid(b"{}") is None and receiver_reply_event_grid(b"\xff") is None
    v = ce(requested_rate=10)
    consent = receiver_reply_options(v.request().headers, allowed_origins=frozenset({"events.telex.example"}))
    assert consent == {"WebHook-Allowed-Origin": "events.telex.example", "WebHook-Allowed-Rate": "*",
                       "Allow": "POST, OPTIONS"}  # fmt: skip
    assert v.receive_response(200, consent, NOW) is HandshakeState.SUCCEEDED
    assert receiver_reply_options(v.request().headers, allowed_origins=frozenset({"x"})) is None
    assert receiver_reply_options({}, allowed_origins=frozenset({"x"})) is None
    limited = receiver_reply_options(
        v.request().headers, allowed_origins=frozenset({"events.telex.example"}), rate=30
    )
    assert limited is not None and limited["WebHook-Allowed-Rate"] == "30"
