"""Every push provider on loopback at once, and the settings that point a node at them.

FCM (OAuth token endpoint and messages:send), APNs (HTTP/2 over TLS with a test CA), WNS (token
endpoint and channels) and a Web Push service, each the loopback service of this directory that
checks what the real one checks; credentials are written to files as an operator would.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from telex.core.clock import SystemClock
from telex.push import VapidKey
from tests.push.apns_service import ApnsService, apns_server
from tests.push.fcm_service import FcmService
from tests.push.webpush_service import Browser, PushService
from tests.push.wns_service import WnsService
from tests.webhooks.certs import LocalCA
from tests.webhooks.receiver import serve

__all__ = ["BUNDLE", "World", "providers"]

TEAM, KID, BUNDLE = "ABCDE12345", "KEY1234567", "com.example.telex"
WNS_ID, WNS_SECRET = "ms-app://s-1-15-2-1", "wns-secret"


@dataclass
class World:
    fcm: FcmService
    apns: ApnsService
    wns: WnsService
    webpush: PushService
    vapid: VapidKey
    settings: dict[str, Any]
    browsers: dict[str, Browser] = field(default_factory=dict)

    def web_subscription(self, token: str) -> dict[str, Any]:
        """A browser's PushSubscription at the loopback push service."""
        browser = Browser(self.vapid.public_key)
        self.webpush.browsers[token] = browser
        self.browsers[token] = browser
        return {"endpoint": f"{self.webpush.base}/{token}", "keys": browser.keys()}

    def wns_channel(self, token: str) -> str:
        return f"{self.wns.base}/w/?token={token}"


@contextlib.asynccontextmanager
async def providers(directory: Path) -> AsyncIterator[World]:
    clock = SystemClock()
    ca = LocalCA(directory)
    signing = ec.generate_private_key(ec.SECP256R1())
    fcm = FcmService(clock)
    apns = ApnsService(clock, TEAM, {KID: signing.public_key()}, BUNDLE)
    wns = WnsService(clock, client_id=WNS_ID, secret=WNS_SECRET, scope="notify.windows.com")
    webpush = PushService(clock)
    vapid = VapidKey.generate()
    async with (
        serve(fcm.handle) as fcm_port,
        serve(wns.handle) as wns_port,
        serve(webpush.handle) as push_port,
        apns_server(apns, ca.server_context("127.0.0.1", alpn=["h2"])) as apns_port,
    ):
        fcm.base = f"http://127.0.0.1:{fcm_port}"
        wns.base = f"http://127.0.0.1:{wns_port}"
        webpush.port, webpush.base = push_port, f"http://127.0.0.1:{push_port}/wpush/v2"
        files = {
            "fcm.json": json.dumps(fcm.service_account()),
            "apns.p8": signing.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode(),
            "wns.secret": WNS_SECRET,
            "vapid.pem": vapid.private_pem().decode(),
        }
        for name, text in files.items():
            (directory / name).write_text(text)
        settings = {
            "fcm": {"service_account_file": str(directory / "fcm.json"), "base_url": fcm.base},
            "apns": {
                "key_file": str(directory / "apns.p8"), "key_id": KID, "team_id": TEAM, "bundle_id": BUNDLE,
                "production_url": f"https://127.0.0.1:{apns_port}", "sandbox_url": f"https://127.0.0.1:{apns_port}",
                "ca_file": str(ca.ca_file),
            },
            "wns": {"client_id": WNS_ID, "client_secret_file": str(directory / "wns.secret"),
                    "token_url": f"{wns.base}/token", "channel_hosts": ["127.0.0.1"]},
            "webpush": {"vapid_key_file": str(directory / "vapid.pem"), "subject": "mailto:ops@telex.test",
                        "endpoint_hosts": ["127.0.0.1"]},
            "retry_base_seconds": 0.01, "retry_cap_seconds": 0.05, "poll_seconds": 0.1,
        }  # fmt: skip
        yield World(fcm, apns, wns, webpush, vapid, settings)
