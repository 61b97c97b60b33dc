"""Fixtures for event subscriptions: a node whose webhooks may reach a loopback receiver, with
Event Grid's retry schedule compressed to milliseconds, and a receiver that plays the customer's
endpoint (handshakes, planned failures, a record of every delivery)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from telex.app import Node, build_app
from telex.core.clock import SystemClock
from telex.webhooks import Resolver, receiver_reply_event_grid, receiver_reply_options
from tests.conftest import make_settings
from tests.support.signing import HmacSigner
from tests.support.users import MakeUser, User
from tests.webhooks.conftest import dns
from tests.webhooks.receiver import serve

__all__ = ["dns"]

OPEN_CHAT = {
    "threads_per_user_per_10s": 0,
    "messages_per_thread_per_10s": 0,
    "messages_per_thread_per_minute": 0,
}
# Event Grid's schedule divided by 1000: 10 ms, 30 ms, 60 ms, 300 ms …
FAST_RETRIES = [0.01, 0.03, 0.06, 0.3, 0.6, 1.8]
ORIGIN = "eventgrid.azure.net"


def settings_for(tmp_path: Path, database: str = "", **events: Any) -> Any:
    return make_settings(
        tmp_path,
        database=database,
        chat=OPEN_CHAT,
        outbound={"allow_http": True, "allowed": ["127.0.0.1"], "response_timeout_seconds": 2.0},
        events={
            "retry_schedule_seconds": FAST_RETRIES, "retry_jitter": 0, "poll_seconds": 0.2,
            "cursor_flush_seconds": 0, "lease_seconds": 3, **events,
        },
    )  # fmt: skip


async def open_node(tmp_path: Path, resolver: Resolver | None = None, **events: Any) -> Node:
    return await Node.open(settings_for(tmp_path, **events), SystemClock(), resolver)


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes

    @property
    def events(self) -> list[dict[str, Any]]:
        parsed = json.loads(self.body)
        return parsed if isinstance(parsed, list) else [parsed]


@dataclass
class Receiver:
    """A customer's endpoint. ``plan`` answers the next deliveries (a status, or "stall": never
    answer); ``validation`` is "echo", "manual" (200 without the code) or a status to refuse with."""

    plan: list[int | str] = field(default_factory=list)
    validation: str | int = "echo"
    consent: bool = True
    deliveries: list[Delivery] = field(default_factory=list)
    accepted: list[Delivery] = field(default_factory=list)
    handshakes: list[Delivery] = field(default_factory=list)
    validation_url: str | None = None
    port: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)  # ends every stall

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/events"

    def events(self, type_: str | None = None) -> list[dict[str, Any]]:
        out = [e for d in self.accepted for e in d.events]
        return [e for e in out if type_ is None or e.get("eventType", e.get("type")) == type_]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = dict(request.headers)
        if request.method == "OPTIONS":
            self.handshakes.append(Delivery(headers, body))
            consent = receiver_reply_options(request.headers, allowed_origins=frozenset({ORIGIN}))
            if consent and self.consent:
                return web.Response(status=200, headers=consent)
            return web.Response(status=405)
        if request.headers.get("aeg-event-type") == "SubscriptionValidation":
            self.handshakes.append(Delivery(headers, body))
            self.validation_url = json.loads(body)[0]["data"]["validationUrl"]
            if self.validation == "echo":
                reply = receiver_reply_event_grid(body)
                return web.Response(body=reply, content_type="application/json")
            if self.validation == "manual":
                return web.Response(status=200, text="ok")
            return web.Response(status=int(self.validation))
        self.deliveries.append(Delivery(headers, body))
        self.changed.set()
        if self.plan:
            step = self.plan.pop(0)
            if step == "stall":
                await self.release.wait()
                return web.Response(status=500)
            return web.Response(status=int(step))
        self.accepted.append(Delivery(headers, body))
        return web.Response(status=200)

    async def wait_for(self, done: Callable[[], bool], timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not done():
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    async with serve(r.handle) as port:
        r.port = port
        try:
            yield r
        finally:
            r.release.set()


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    n = await open_node(tmp_path)
    n.start_background()
    try:
        yield n
    finally:
        await n.close()


@pytest.fixture
async def api(node: Node) -> AsyncIterator[httpx.AsyncClient]:
    """The management API, HMAC-signed like the official SDKs sign."""
    transport = httpx.ASGITransport(app=build_app(node))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://telex.test", auth=HmacSigner(node.keyring.state.primary_key)
    ) as c:
        yield c


@pytest.fixture
def make_user(node: Node) -> MakeUser:
    async def make(*scopes: str) -> User:
        created = await node.identity.create_user(list(scopes or ("chat", "voip")))
        assert created.token is not None
        return User(created.user, created.token.token)

    return make


def subscription_body(url: str, **properties: Any) -> dict[str, Any]:
    destination = {"endpointType": "WebHook", "properties": {"endpointUrl": url}}
    for key in ("maxEventsPerBatch", "preferredBatchSizeInKilobytes"):
        if key in properties:
            destination["properties"][key] = properties.pop(key)  # type: ignore[index]
    return {"properties": {"destination": destination, **properties}}


async def subscribe(api: httpx.AsyncClient, name: str, url: str, **properties: Any) -> dict[str, Any]:
    r = await api.put(
        f"/eventSubscriptions/{name}?api-version=2022-06-15", json=subscription_body(url, **properties)
    )
    assert r.status_code in (200, 201), r.text
    return dict(r.json())


async def secret_of(api: httpx.AsyncClient, name: str) -> str:
    r = await api.post(f"/eventSubscriptions/{name}/:listSecrets")
    assert r.status_code == 200, r.text
    return str(r.json()["signingSecret"])
