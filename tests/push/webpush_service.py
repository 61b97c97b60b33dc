"""A loopback push service (RFC 8030) that checks what a real one checks: the VAPID JWT and key
(RFC 8292 §4), the RFC 8030 headers, the 4,096-byte limit, and that the body decrypts — with
``http_ece``, an implementation independent of ours (RFC 8188/8291)."""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass, field

import http_ece
import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from telex.core.clock import Clock

__all__ = ["Browser", "PushService"]

_TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    text = text.rstrip("=")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Browser:
    """One subscription as a browser holds it: its key pair, auth secret and the server key it
    subscribed with (``applicationServerKey``)."""

    application_server_key: str
    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    def keys(self) -> dict[str, str]:
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        # Firefox reports keys with padding; the client must accept that.
        return {"p256dh": base64.urlsafe_b64encode(point).decode(), "auth": b64url(self.auth)}


@dataclass
class Received:
    token: str
    headers: dict[str, str]
    body: bytes
    plaintext: bytes
    claims: dict[str, object]


class PushService:
    """Tokens with special meanings: ``gone`` 410, ``missing`` 404, ``busy`` 429 with Retry-After,
    ``down`` 503, ``tiny`` accepts at most 100 bytes (413 above)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.browsers: dict[str, Browser] = {}
        self.received: list[Received] = []
        self.refused: list[tuple[int, str]] = []
        self.base = ""  # set by whoever serves it: http://127.0.0.1:<port>/wpush/v2
        self.port = 0

    def _refuse(self, status: int, why: str, headers: dict[str, str] | None = None) -> web.Response:
        self.refused.append((status, why))
        return web.Response(status=status, text=why, headers=headers)

    async def handle(self, request: web.Request) -> web.Response:
        token = request.match_info.get("tail", "").rsplit("/", 1)[-1]
        body = await request.read()
        if request.method != "POST":
            return self._refuse(405, "POST only")
        special = {
            "gone": (410, {}),
            "missing": (404, {}),
            "busy": (429, {"Retry-After": "30"}),
            "down": (503, {}),
        }
        if token in special:
            status, headers = special[token]
            return self._refuse(status, token, headers)
        browser = self.browsers.get(token) or self.browsers.get(token.removeprefix("tiny-"))
        if browser is None:
            return self._refuse(404, "no such subscription")
        # RFC 8292 §3: Authorization: vapid t=<JWT>, k=<key>
        scheme, _, params = request.headers.get("Authorization", "").partition(" ")
        fields = dict(p.strip().split("=", 1) for p in params.split(",") if "=" in p)
        if scheme.lower() != "vapid" or "t" not in fields or "k" not in fields:
            return self._refuse(401, "no VAPID authorization")
        try:
            public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(fields["k"]))
            header = jwt.get_unverified_header(fields["t"])
            claims = jwt.decode(
                fields["t"], public, algorithms=["ES256"], audience=f"http://{request.host}",
                options={"require": ["exp", "aud", "sub"], "verify_exp": False},
            )  # fmt: skip
        except (jwt.PyJWTError, ValueError) as exc:
            return self._refuse(401, f"bad VAPID token: {exc}")
        if header.get("typ") != "JWT" or not self.clock.now() < claims["exp"] <= self.clock.now() + 86400:
            return self._refuse(401, "VAPID exp outside (now, now + 24 h]")
        if not str(claims["sub"]).startswith(("mailto:", "https:")):
            return self._refuse(401, "VAPID sub is not mailto: or https:")
        if fields["k"].rstrip("=") != browser.application_server_key.rstrip("="):
            return self._refuse(403, "not the key this subscription was made with")
        # RFC 8030 §5.2-5.4
        ttl = request.headers.get("TTL", "")
        if not ttl.isdigit():
            return self._refuse(400, "TTL missing")
        if request.headers.get("Urgency", "normal") not in ("very-low", "low", "normal", "high"):
            return self._refuse(400, "bad Urgency")
        if "Topic" in request.headers and not _TOPIC.match(request.headers["Topic"]):
            return self._refuse(400, "bad Topic")
        if request.headers.get("Content-Encoding") != "aes128gcm":
            return self._refuse(400, "not aes128gcm")
        if len(body) > (100 if token.startswith("tiny-") else 4096):
            return self._refuse(413, "payload too large")
        try:
            plaintext = http_ece.decrypt(
                body, private_key=browser.private_key, auth_secret=browser.auth, version="aes128gcm"
            )
        except Exception as exc:  # http_ece raises its own ECEException and cryptography's errors
            return self._refuse(400, f"does not decrypt: {exc!r}")
        self.received.append(Received(token, dict(request.headers), body, plaintext, claims))
        return web.Response(status=201, headers={"Location": f"http://{request.host}/m/{len(self.received)}"})
