"""The building blocks together, as the delivery consumer will use them (security.md G17 at this
layer): handshake first, then render, sign and send through the pinned sender to a loopback
receiver that verifies with the Standard Webhooks reference package; failures are retried on
Event Grid's schedule (compressed, on a fake clock: no real waiting) with the same webhook-id."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import httpx
import pytest
from aiohttp import web
from standardwebhooks.webhooks import Webhook

from telex.core.clock import FakeClock
from telex.webhooks import (
    AbuseProtection,
    Action,
    DestinationGuard,
    EventGridValidation,
    EventRecord,
    HandshakeState,
    OutboundPolicy,
    OutboundSender,
    RetryPolicy,
    Schema,
    WebhookSecret,
    build_client,
    dead_letter_fields,
    decide,
    delivery_headers,
    encode,
    receiver_reply_event_grid,
    receiver_reply_options,
    signature_headers,
)
from tests.webhooks.loopback_dns import DnsResolver, DnsServer
from tests.webhooks.receiver import serve

TOPIC = "/subscriptions/0/resourceGroups/rg/providers/Microsoft.Communication/communicationServices/telex"
ORIGIN = "events.telex.test"
POLICY = RetryPolicy(jitter=0).compressed(1000)


class Receiver:
    """Fails according to ``plan`` (status codes, or "stall" to never answer), then accepts."""

    def __init__(self, secret: WebhookSecret, plan: list[int | str]) -> None:
        self.secret, self.plan = secret, plan
        self.deliveries: list[dict[str, str]] = []
        self.accepted: list[object] = []
        self.stall = asyncio.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if request.method == "OPTIONS":
            consent = receiver_reply_options(request.headers, allowed_origins=frozenset({ORIGIN}))
            return web.Response(status=200, headers=consent) if consent else web.Response(status=405)
        if request.headers.get("aeg-event-type") == "SubscriptionValidation":
            reply = receiver_reply_event_grid(body)
            return web.Response(body=reply, content_type="application/json")
        headers = dict(request.headers)
        self.deliveries.append(headers)
        Webhook(str(self.secret)).verify(body.decode(), headers)  # raises on a bad signature
        if self.plan:
            step = self.plan.pop(0)
            if step == "stall":
                await self.stall.wait()
                return web.Response(status=500)
            assert isinstance(step, int)
            return web.Response(status=step, headers={"Retry-After": "1"} if step == 429 else {})
        self.accepted.append(json.loads(body))
        return web.Response(status=204)


def record(i: int) -> EventRecord:
    return EventRecord(
        id=f"ev-{i}", type="Microsoft.Communication.SMSReceived", subject="/phonenumber/15555550100",
        data={"messageId": f"Incoming_{i}", "from": "15555550111", "to": "15555550100", "message": "hi"},
        time=time.time(), topic=TOPIC,
    )  # fmt: skip


async def deliver(
    sender: OutboundSender,
    clock: FakeClock,
    url: str,
    records: list[EventRecord],
    schema: Schema,
    secret: WebhookSecret,
    *,
    origin: str | None = None,
    on_attempt: Callable[[int], None] = lambda n: None,
) -> tuple[Action, int, dict[str, object]]:
    """One delivery as the consumer will run it: a stable id, re-signed on every attempt."""
    body = encode(records, schema, batched=len(records) > 1)
    msg_id = "msg_" + records[0].id
    published = clock.now()
    attempts = 0
    while True:
        attempts += 1
        on_attempt(attempts)
        headers = {
            "Content-Type": body.content_type,
            **delivery_headers(schema, subscription_name="SUB1", delivery_count=attempts - 1, origin=origin),
            **signature_headers([secret], msg_id, clock.now(), body.content),
        }
        result, _ = await sender.attempt(url, headers=headers, content=body.content)
        decision = decide(POLICY, result, attempts=attempts, published_at=published, now=clock.now())
        if decision.action is not Action.RETRY:
            extra: dict[str, object] = {}
            if decision.action is Action.DEAD_LETTER:
                extra = dead_letter_fields(
                    decision, published_at=published, last_attempt_at=clock.now(), last_status=result.status
                )
            return decision.action, attempts, extra
        assert decision.retry_at is not None
        clock.advance(decision.retry_at - clock.now())


Setup = tuple[OutboundSender, httpx.AsyncClient, FakeClock]


@pytest.fixture
def setup(dns: DnsServer) -> Setup:
    dns.set("hooks.demo.test", "127.0.0.1")
    policy = OutboundPolicy.from_settings(allow=["127.0.0.1"], allow_http=True, response_timeout=0.5)
    guard = DestinationGuard(policy, DnsResolver(dns))
    client = build_client(guard)
    # Starts at the real time: the reference verifier checks timestamps against the real clock.
    clock = FakeClock(time.time())
    return OutboundSender(client, guard, clock), client, clock


@pytest.mark.parametrize(
    "plan", [[500], [503, 429, 500], [500, "stall", 502, 429, 503]], ids=["k1", "k3", "k5"]
)
async def test_event_grid_subscription_delivered_after_k_failures(
    setup: Setup, plan: list[int | str]
) -> None:
    sender, client, clock = setup
    secret = WebhookSecret.generate()
    receiver = Receiver(secret, list(plan))
    async with serve(receiver.handle) as port, client:
        url = f"http://hooks.demo.test:{port}/api/events"
        # No delivery before the ownership handshake.
        validation = EventGridValidation(
            topic=TOPIC, subscription_name="SUB1", validation_url_base="https://telex.test/v", now=clock.now()
        )
        request = validation.request()
        reply = await sender.send(request.method, url, headers=request.headers, content=request.body)
        assert validation.receive_response(reply.status, reply.body, clock.now()) is HandshakeState.SUCCEEDED

        action, attempts, _ = await deliver(
            sender, clock, url, [record(1)], Schema.EVENT_GRID, secret,
            on_attempt=lambda n: receiver.stall.set() if n > 2 else None,
        )  # fmt: skip
    assert (action, attempts) == (Action.DELIVERED, len(plan) + 1)
    assert {d["webhook-id"] for d in receiver.deliveries} == {"msg_ev-1"}
    assert [d["aeg-delivery-count"] for d in receiver.deliveries] == [str(n) for n in range(len(plan) + 1)]
    assert all(d["aeg-event-type"] == "Notification" for d in receiver.deliveries)
    ((event,),) = receiver.accepted
    assert isinstance(event, dict) and event["eventType"] == "Microsoft.Communication.SMSReceived"


@pytest.mark.parametrize("status", [400, 401, 403, 413])
async def test_not_retried_statuses_dead_letter_at_once(setup: Setup, status: int) -> None:
    sender, client, clock = setup
    secret = WebhookSecret.generate()
    receiver = Receiver(secret, [status])
    async with serve(receiver.handle) as port, client:
        action, attempts, fields = await deliver(
            sender, clock, f"http://hooks.demo.test:{port}/", [record(2)], Schema.EVENT_GRID, secret
        )
    assert (action, attempts) == (Action.DEAD_LETTER, 1)
    assert str(fields["deadLetterReason"]).startswith("UndeliverableDueToHttp")
    assert fields["lastHttpStatusCode"] == status and len(receiver.deliveries) == 1


async def test_cloudevents_batch_after_consent(setup: Setup) -> None:
    sender, client, clock = setup
    secret = WebhookSecret.generate()
    receiver = Receiver(secret, [503])
    async with serve(receiver.handle) as port, client:
        url = f"http://hooks.demo.test:{port}/ce"
        handshake = AbuseProtection(origin=ORIGIN, now=clock.now(), requested_rate=120)
        request = handshake.request()
        reply = await sender.send(request.method, url, headers=request.headers)
        assert (
            handshake.receive_response(reply.status, reply.headers, clock.now()) is HandshakeState.SUCCEEDED
        )
        stranger = AbuseProtection(origin="someone.else.test", now=clock.now())
        reply = await sender.send("OPTIONS", url, headers=stranger.request().headers)
        assert stranger.receive_response(reply.status, reply.headers, clock.now()) is HandshakeState.FAILED

        action, attempts, _ = await deliver(
            sender, clock, url, [record(i) for i in range(3)], Schema.CLOUD_EVENTS, secret, origin=ORIGIN
        )
    assert (action, attempts) == (Action.DELIVERED, 2)
    assert all(d["WebHook-Request-Origin"] == ORIGIN for d in receiver.deliveries)
    assert receiver.deliveries[0]["Content-Type"] == "application/cloudevents-batch+json; charset=utf-8"
    (batch,) = receiver.accepted
    assert isinstance(batch, list) and [e["id"] for e in batch] == ["ev-0", "ev-1", "ev-2"]


async def test_always_failing_endpoint_exhausts_attempts(dns: DnsServer) -> None:
    dns.set("hooks.demo.test", "127.0.0.1")
    guard = DestinationGuard(
        OutboundPolicy.from_settings(allow=["127.0.0.1"], allow_http=True), DnsResolver(dns)
    )
    secret = WebhookSecret.generate()
    receiver = Receiver(secret, [500] * 100)
    clock = FakeClock(time.time())
    async with serve(receiver.handle) as port, build_client(guard) as client:
        sender = OutboundSender(client, guard, clock)
        action, attempts, fields = await deliver(
            sender, clock, f"http://hooks.demo.test:{port}/", [record(3)], Schema.EVENT_GRID, secret
        )
    # Compressed ×1000, the 24 h TTL still ends it first (11 attempts), as in real time.
    assert (action, attempts) == (Action.DEAD_LETTER, 11)
    assert fields["deadLetterReason"] == "TimeToLiveExceeded"
    assert fields["lastDeliveryOutcome"] == "InternalServerError"
