"""Web Push end to end in a real browser (push-events-sms.md §1.6): Debian's firefox-esr, offline,
subscribes through the demo's "Notify me" to a loopback push service that speaks Mozilla's push
protocol; the tab is closed; an incoming call to that user makes Telex send a Web Push; Firefox's
service worker (the SDK's push-sw.js) decrypts it, rings, and keeps it for the app to read.

The push service is ours (about sixty lines): a WebSocket endpoint in Mozilla's dialect
(``hello``, ``register``, ``notification``, ``ack``), which Firefox is pointed at by preference,
and the RFC 8030 push resource Telex POSTs to, which checks the VAPID key the subscription was
made with and forwards the encrypted body over the WebSocket. Firefox acknowledges a message
with code 100 once its service worker got it decrypted.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from websockets.asyncio.server import ServerConnection, serve

from telex.push import VapidKey
from tests.browser.conftest import Console
from tests.browser.demo import sign_in, wait_true
from tests.browser.test_firefox import Firefox, _needs_firefox
from tests.support.live import LiveServer
from tests.support.signing import HmacSigner
from tests.webhooks import receiver as loopback

pytestmark = pytest.mark.browser

__all__ = ["_needs_firefox"]


@dataclass
class MozillaPushService:
    """Mozilla's push service, as Firefox talks to it, on loopback."""

    http_port: int = 0
    ws_port: int = 0
    channels: dict[str, tuple[ServerConnection, str, str]] = field(default_factory=dict)
    pushes: list[dict[str, str]] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)  # message types from Firefox, for failures
    acks: list[dict[str, Any]] = field(default_factory=list)

    async def socket(self, ws: ServerConnection) -> None:
        async for raw in ws:
            message = json.loads(raw)
            kind = message.get("messageType")
            self.seen.append(str(kind))
            if kind == "hello":
                uaid = message.get("uaid") or uuid.uuid4().hex
                reply = {
                    "messageType": "hello",
                    "status": 200,
                    "use_webpush": True,
                    "uaid": uaid,
                    "broadcasts": {},
                }
                await ws.send(json.dumps(reply))
            elif kind == "register":
                token = uuid.uuid4().hex
                self.channels[token] = (ws, message["channelID"], str(message.get("key") or ""))
                await ws.send(json.dumps({
                    "messageType": "register", "status": 200, "channelID": message["channelID"],
                    "pushEndpoint": f"http://127.0.0.1:{self.http_port}/wpush/v2/{token}",
                }))  # fmt: skip
            elif kind == "unregister":
                await ws.send(json.dumps({"messageType": "unregister", "status": 200,
                                          "channelID": message["channelID"]}))  # fmt: skip
            elif kind == "ack":
                self.acks.extend(message.get("updates", []))
            elif message == {} or kind == "ping":
                await ws.send("{}")

    async def push_resource(self, request: web.Request) -> web.Response:
        token = request.path.rsplit("/", 1)[-1]
        if token not in self.channels:
            return web.Response(status=410)
        ws, channel, key = self.channels[token]
        fields = dict(
            p.strip().split("=", 1) for p in request.headers.get("Authorization", "")[6:].split(",")
        )
        if fields.get("k", "").rstrip("=") != key.rstrip("="):  # Firefox reports the key padded
            return web.Response(status=403, text="not the key this subscription was made with")
        body = await request.read()
        version = uuid.uuid4().hex
        self.pushes.append(
            {k: request.headers.get(k, "") for k in ("TTL", "Urgency", "Topic", "Content-Encoding")}
        )
        await ws.send(json.dumps({
            "messageType": "notification", "channelID": channel, "version": version,
            "data": base64.urlsafe_b64encode(body).rstrip(b"=").decode(),
            "headers": {"encoding": request.headers.get("Content-Encoding", "aes128gcm")},
        }))  # fmt: skip
        return web.Response(
            status=201, headers={"Location": f"http://127.0.0.1:{self.http_port}/m/{version}"}
        )


@pytest.fixture
async def push_service() -> AsyncIterator[MozillaPushService]:
    service = MozillaPushService()
    async with (
        serve(service.socket, "127.0.0.1", 0, subprotocols=["push-notification"]) as ws_server,  # type: ignore[list-item]
        loopback.serve(service.push_resource) as http_port,
    ):
        service.http_port = http_port
        service.ws_port = ws_server.sockets[0].getsockname()[1]
        yield service


def _prefs(service: MozillaPushService) -> dict[str, Any]:
    return {
        "dom.push.enabled": True,
        "dom.push.connection.enabled": True,
        "dom.push.serverURL": f"ws://127.0.0.1:{service.ws_port}/",
        "dom.push.testing.allowInsecureServerURL": True,
        "dom.push.testing.ignorePermission": True,
        "permissions.default.desktop-notification": 1,
        "notification.prompt.testing": True,
        "notification.prompt.testing.allow": True,
        "alerts.useSystemBackend": False,
    }


@pytest.fixture
def server(tmp_path: Path) -> LiveServer:
    (tmp_path / "vapid.pem").write_bytes(VapidKey.generate().private_pem())
    config = tmp_path / "telex.toml"
    config.write_text(
        '[outbound]\nallow_http = true\nallowed = ["127.0.0.1"]\n'
        f'[push.webpush]\nvapid_key_file = "{tmp_path / "vapid.pem"}"\nsubject = "mailto:ops@telex.test"\n'
        'endpoint_hosts = ["127.0.0.1"]\n[push]\npoll_seconds = 0.2\n[demo]\nsign_ins_per_ip_per_minute = 0\n'
    )
    return LiveServer(tmp_path / "data", extra_args=["--config", str(config), "--demo"])


async def test_a_closed_firefox_tab_rings(
    server: LiveServer, push_service: MozillaPushService, console: Console
) -> None:
    live = await asyncio.to_thread(server.start)
    firefox = Firefox(console, prefs=_prefs(push_service))
    try:
        await firefox.start()
        bob = await firefox.new_page("Bob", shared=True)
        bob_id = await sign_in(bob, live.http_url, "Bob")  # type: ignore[arg-type]
        await bob.wait_for_selector("#notify-me")
        # Firefox's push service starts only once a page asked for it; a subscribe() sent before
        # it is up is lost (push-events-sms.md §1.6), so give it a few seconds first.
        await asyncio.sleep(8)
        await bob.click("#notify-me")
        try:
            await wait_true(
                bob, "document.querySelector('#notify-me').textContent === 'Notifications on'", timeout=60
            )
        except TimeoutError:
            error = await bob.text_content("#error-text")
            raise AssertionError(
                f"not subscribed: error {error!r}, push service saw {push_service.seen}"
            ) from None
        signer = HmacSigner(base64.b64decode(live.access_key))
        async with httpx.AsyncClient(base_url=live.http_url, auth=signer, timeout=10) as admin:
            (registration,) = (await admin.get(f"/push/users/{bob_id}/registrations")).json()["value"]
            assert registration["platform"] == "webpush"
            await bob.close()  # the tab is closed: Bob has no live connection any more
            r = await admin.post(
                "/identities?api-version=2023-10-01", json={"createTokenWithScopes": ["voip"]}
            )
            alice = {"authorization": f"Bearer {r.json()['accessToken']['token']}"}
            # The server learns of the closed socket a moment later; a call placed before that
            # finds Bob still online and (rightly) pushes nothing: Alice then tries again.
            for _ in range(5):
                call = await admin.post(
                    "/calling/calls", json={"targets": [{"rawId": bob_id}], "displayName": "Alice"},
                    headers=alice, auth=None,
                )  # fmt: skip
                assert call.status_code == 201, call.text
                call_id, leg = call.json()["call"]["callId"], call.json()["participantId"]
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(3):
                        while not push_service.pushes:
                            await asyncio.sleep(0.05)
                if push_service.pushes:
                    break
                await admin.post(
                    f"/calling/calls/{call_id}/participants/{leg}/:hangUp", headers=alice, auth=None
                )
        try:
            async with asyncio.timeout(30):  # Firefox acknowledges once its service worker has it
                while not any(a.get("code") == 100 for a in push_service.acks):
                    await asyncio.sleep(0.1)
        except TimeoutError:
            raise AssertionError(f"pushes {push_service.pushes}, acks {push_service.acks}") from None
        push = push_service.pushes[0]
        assert (
            push["Urgency"] == "high"
            and 0 < int(push["TTL"]) <= 60
            and push["Content-Encoding"] == "aes128gcm"
        )
        # The app, opened again, finds what the service worker decrypted while it was closed.
        again = await firefox.new_page("Bob again", shared=True)
        await again.goto(live.http_url + "/")
        latest = await again.evaluate("import('/sdk/telex.js').then((m) => m.latestPush())")
        assert latest["type"] == "incomingCall" and latest["callId"] == call_id
        assert latest["callerDisplayName"] == "Alice"
        titles = await again.evaluate(
            "navigator.serviceWorker.getRegistration('/sdk/')"
            ".then((r) => r.getNotifications()).then((ns) => ns.map((n) => n.title))"
        )
        assert titles == ["Alice is calling"]
    finally:
        await firefox.close()
        await asyncio.to_thread(live.stop)
