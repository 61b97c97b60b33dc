"""Call Automation fixtures: a node served on loopback (HTTP, TURN), the official SDK pointed at
it, a loopback callback receiver (which can play dead for a while) that also serves play
sources, users, and the ``IncomingCall`` events the node emits (the domain event, until Event
Grid subscriptions deliver it)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from telex.app import Node
from telex.automation.events import INCOMING_CALL
from telex.automation.media.dtmf import tones_pcm
from telex.core.clock import SystemClock
from telex.events.model import DomainEvent
from tests.calling.conftest import user_maker
from tests.conftest import make_settings
from tests.support.live import free_port
from tests.support.serve import running
from tests.support.users import MakeUser
from tests.support.wav import wav_bytes

# Callbacks and play sources go to loopback receivers over plain http.
OUTBOUND = {"allow_http": True, "allowed": ["127.0.0.1"]}
AUTOMATION = {
    "callback_retry_compression": 1000.0,
    "max_media_sessions": 8,
}


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def events(self) -> list[dict[str, Any]]:
        return list(json.loads(self.body))


@dataclass
class Receiver:
    """POSTs to /cb/<name> are recorded; GET /audio/<name> serves ``files``."""

    base: str = ""
    deliveries: list[Delivery] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    fail_with: int | None = None  # answer every POST with this status while set
    slow: dict[str, float] = field(default_factory=dict)  # name → seconds before answering
    attempts: list[tuple[str, str]] = field(default_factory=list)  # (name, webhook-id) of every POST
    fetches: int = 0
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    def url(self, name: str = "main") -> str:
        return f"{self.base}/cb/{name}"

    def audio(self, name: str) -> str:
        return f"{self.base}/audio/{name}"

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        return [e for d in self.deliveries if name is None or d.path.endswith(f"/{name}") for e in d.events]

    def types(self, connection: str | None = None, name: str | None = None) -> list[str]:
        return [
            e["type"].removeprefix("Microsoft.Communication.")
            for e in self.events(name)
            if connection is None or e["data"]["callConnectionId"] == connection
        ]

    async def wait(self, predicate: Callable[[Receiver], bool], timeout: float = 20) -> None:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: predicate(self))

    async def wait_type(self, type_: str, connection: str | None = None, count: int = 1) -> dict[str, Any]:
        await self.wait(lambda r: r.types(connection).count(type_) >= count)
        return [
            e
            for e in self.events()
            if e["type"].endswith("." + type_)
            and (connection is None or e["data"]["callConnectionId"] == connection)
        ][count - 1]

    async def _post(self, request: web.Request) -> web.Response:
        body = await request.read()
        name = request.match_info["name"]
        self.attempts.append((name, request.headers.get("webhook-id", "")))
        async with self._changed:
            self._changed.notify_all()
        if name in self.slow:
            await asyncio.sleep(self.slow[name])
        if self.fail_with is not None:
            return web.Response(status=self.fail_with)
        self.deliveries.append(Delivery(request.path, dict(request.headers), body))
        async with self._changed:
            self._changed.notify_all()
        return web.Response(status=200)

    async def _get(self, request: web.Request) -> web.Response:
        self.fetches += 1
        data = self.files.get(request.match_info["name"])
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="audio/wav")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/cb/{name}", rec._post)
    app.router.add_get("/audio/{name}", rec._get)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    site = web.SockSite(runner, sock)
    await site.start()
    rec.base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        yield rec
    finally:
        await runner.cleanup()


class IncomingCalls:
    """The node's ``IncomingCall`` events (a backbone sink), as a subscription would deliver them."""

    def __init__(self) -> None:
        self.events: list[DomainEvent] = []
        self._cond = asyncio.Condition()

    def committed(self, events: list[DomainEvent]) -> None:
        new = [e for e in events if e.type == INCOMING_CALL]
        if new:
            self.events += new
            asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._cond:
            self._cond.notify_all()

    def advanced(self, position: int) -> None:
        return None

    def ephemeral(self, event: DomainEvent) -> None:
        return None

    async def next_for(self, user: str, timeout: float = 10) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            return next((e.data for e in self.events if e.data["to"]["rawId"] == user), None)

        async with asyncio.timeout(timeout), self._cond:
            await self._cond.wait_for(lambda: found() is not None)
        data = found()
        assert data is not None
        self.events = [e for e in self.events if e.data is not data]
        return data


@dataclass
class World:
    node: Node
    url: str
    key: bytes
    make_user: MakeUser
    incoming: IncomingCalls
    receiver: Receiver

    def sdk(self) -> Any:
        from azure.communication.callautomation import CallAutomationClient
        from azure.core.credentials import AzureKeyCredential

        return CallAutomationClient(self.url, AzureKeyCredential(_b64(self.key)), retry_total=0)


def _b64(key: bytes) -> str:
    import base64

    return base64.b64encode(key).decode()


async def open_world(tmp_path: Path, receiver: Receiver, **automation: Any) -> tuple[Node, Any]:
    turn = {"port": free_port(socket.SOCK_DGRAM), "tls_port": 0, "allow_loopback_peers": True, "tcp": False}
    settings = make_settings(
        tmp_path,
        turn=turn,
        outbound=OUTBOUND,
        automation={**AUTOMATION, **automation},
        calling={"max_participants": 6},
    )
    return await Node.open(settings, SystemClock()), None


@pytest.fixture
async def world(tmp_path: Path, receiver: Receiver) -> AsyncIterator[World]:
    node, _ = await open_world(tmp_path, receiver)
    incoming = IncomingCalls()
    node.backbone.add_sink(incoming)
    receiver.files["prompt.wav"] = wav_bytes(bytes(2 * 16000 // 2) + tones_pcm("5") + bytes(2 * 8000))
    try:
        async with running(node, turn=True) as url:
            key = node.keyring.state.primary_key
            yield World(node, url, key, user_maker(url, key), incoming, receiver)
    finally:
        await node.close()


@dataclass
class Phone:
    """A calling client without media: the calling REST API with a user's token."""

    url: str
    user: Any
    call_id: str = ""
    participant_id: str = ""

    def _client(self) -> Any:
        import httpx

        return httpx.AsyncClient(base_url=self.url, headers=self.user.headers, timeout=10)

    async def call(self, *targets: str) -> dict[str, Any]:
        async with self._client() as c:
            r = await c.post(
                "/calling/calls", json={"targets": [{"communicationUser": {"id": t}} for t in targets]}
            )
        assert r.status_code == 201, r.text
        body = r.json()
        self.call_id, self.participant_id = body["call"]["callId"], body["participantId"]
        return dict(body)

    async def state(self) -> dict[str, Any]:
        async with self._client() as c:
            r = await c.get(f"/calling/calls/{self.call_id}")
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def ringing_leg(self, call_id: str) -> str:
        """This user's ringing participant in ``call_id`` (it was invited)."""
        self.call_id = call_id
        state = await self.state()
        leg = next(
            p
            for p in state["participants"]
            if p["identifier"]["rawId"] == self.user.id and p["state"] == "ringing"
        )
        return str(leg["participantId"])

    async def act(
        self, action: str, participant: str | None = None, body: dict[str, Any] | None = None
    ) -> int:
        pid = participant or self.participant_id
        async with self._client() as c:
            r = await c.post(f"/calling/calls/{self.call_id}/participants/{pid}/:{action}", json=body or {})
        return r.status_code

    async def answer(self, call_id: str) -> str:
        pid = await self.ringing_leg(call_id)
        assert await self.act("accept", pid) == 200
        self.participant_id = pid
        return pid


@pytest.fixture
async def api_world(tmp_path: Path, receiver: Receiver) -> AsyncIterator[World]:
    """A node whose applications have no server-side media (max_media_sessions = 0): call
    control only, no aiortc, fast."""
    settings = make_settings(
        tmp_path,
        turn={"enabled": False},
        outbound=OUTBOUND,
        automation={**AUTOMATION, "max_media_sessions": 0},
        calling={"max_participants": 6},
    )
    node = await Node.open(settings, SystemClock())
    incoming = IncomingCalls()
    node.backbone.add_sink(incoming)
    try:
        async with running(node) as url:
            key = node.keyring.state.primary_key
            yield World(node, url, key, user_maker(url, key), incoming, receiver)
    finally:
        await node.close()
