"""A loopback Google OAuth token endpoint and FCM HTTP v1 endpoint.

The token endpoint checks the JWT-bearer grant as Google documents it (RS256 signed by the
service account's key, ``kid``, ``iss``, the messaging scope, ``aud`` the token URI, at most one
hour). The send endpoint checks the bearer token and the message as FCM does (exactly one
target, string-only ``data``, no reserved keys, ``android.priority`` and ``ttl`` formats, 4 KB)
and answers errors in FCM's shape. Registration tokens with these prefixes fail: ``unreg-``
(404 UNREGISTERED), ``quota-`` (429 QUOTA_EXCEEDED, Retry-After 30), ``unavail-`` (503),
``internal-`` (500), ``mismatch-`` (403 SENDER_ID_MISMATCH), ``badtoken-`` (400, invalid token),
``thirdparty-`` (401 THIRD_PARTY_AUTH_ERROR).
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from telex.core.clock import Clock

__all__ = ["FcmService"]

PROJECT = "telex-demo"
_FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
_TTL = re.compile(r"^\d+(\.\d{1,9})?s$")
_FAILURES = {
    "unreg-": (404, "NOT_FOUND", "UNREGISTERED", "Requested entity was not found."),
    "quota-": (429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", "Quota exceeded."),
    "unavail-": (503, "UNAVAILABLE", "UNAVAILABLE", "The service is currently unavailable."),
    "internal-": (500, "INTERNAL", "INTERNAL", "Internal error."),
    "mismatch-": (403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH", "SenderId mismatch"),
    "badtoken-": (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT",
                  "The registration token is not a valid FCM registration token"),
    "thirdparty-": (401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR", "Auth error from APNS or Web Push"),
}  # fmt: skip


@functools.cache
def _service_account_key() -> rsa.RSAPrivateKey:
    # 2048-bit RSA keys take a while to make; one serves every test.
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class FcmService:
    def __init__(self, clock: Clock, *, expires_in: int = 3599) -> None:
        self.clock = clock
        self.expires_in = expires_in
        self._key = _service_account_key()
        self.tokens: dict[str, float] = {}
        self.grants: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []
        self.base = ""

    def service_account(self, **overrides: str) -> dict[str, str]:
        pem = self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return {
            "type": "service_account", "project_id": PROJECT, "private_key_id": "kid-0001",
            "private_key": pem, "client_email": f"push@{PROJECT}.iam.gserviceaccount.com", "client_id": "1",
            "token_uri": f"{self.base}/token", **overrides,
        }  # fmt: skip

    def revoke_all(self) -> None:
        self.tokens.clear()

    def _error(
        self, status: int, code: str, message: str, fcm: str | None = None, **headers: str
    ) -> web.Response:
        error: dict[str, Any] = {"code": status, "message": message, "status": code}
        if fcm:
            error["details"] = [{"@type": _FCM_ERROR, "errorCode": fcm}]
        return web.json_response({"error": error}, status=status, headers=headers)

    async def handle(self, request: web.Request) -> web.Response:
        if request.path == "/token" and request.method == "POST":
            return await self._token(request)
        if request.path == f"/v1/projects/{PROJECT}/messages:send" and request.method == "POST":
            return await self._send(request)
        return self._error(404, "NOT_FOUND", "no such method")

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        assertion = str(form.get("assertion", ""))
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(
                assertion,
                self._key.public_key(),
                algorithms=["RS256"],
                audience=f"{self.base}/token",
                # Times are checked below against the test's clock, not the real one.
                options={
                    "require": ["iss", "aud", "iat", "exp", "scope"],
                    "verify_exp": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as exc:
            return web.json_response({"error": "invalid_grant", "error_description": str(exc)}, status=400)
        now = self.clock.now()
        valid = (
            header.get("kid") == "kid-0001"
            and claims["iss"] == f"push@{PROJECT}.iam.gserviceaccount.com"
            and "https://www.googleapis.com/auth/firebase.messaging" in str(claims["scope"]).split()
            and 0 < claims["exp"] - claims["iat"] <= 3600
            and abs(claims["iat"] - now) <= 300
        )
        if not valid:
            return web.json_response({"error": "invalid_grant"}, status=400)
        self.grants.append(claims)
        token = f"ya29.local-{len(self.grants)}"
        self.tokens[token] = now + self.expires_in
        return web.json_response(
            {"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"}
        )

    async def _send(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ")
        if not auth.startswith("Bearer ") or self.tokens.get(token, 0) <= self.clock.now():
            return self._error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        request_body = await request.json()
        message = request_body.get("message", {})
        targets = [k for k in ("token", "fid", "topic", "condition") if k in message]
        if len(targets) != 1:
            return self._error(400, "INVALID_ARGUMENT", "Exactly one target", "INVALID_ARGUMENT")
        for name, value in message.get("data", {}).items():
            if not isinstance(value, str):
                return self._error(400, "INVALID_ARGUMENT", f"Invalid value at 'message.data' {name}")
            if name in ("from", "message_type") or name.startswith(("google", "gcm")):
                return self._error(400, "INVALID_ARGUMENT", f"reserved key {name}", "INVALID_ARGUMENT")
        android = message.get("android", {})
        if android.get("priority", "NORMAL") not in ("NORMAL", "HIGH"):
            return self._error(400, "INVALID_ARGUMENT", "Invalid android.priority", "INVALID_ARGUMENT")
        if "ttl" in android and not _TTL.match(android["ttl"]):
            return self._error(400, "INVALID_ARGUMENT", "Invalid android.ttl", "INVALID_ARGUMENT")
        if len(json.dumps(message).encode()) > 4096 + 512:
            return self._error(400, "INVALID_ARGUMENT", "Message is too big", "INVALID_ARGUMENT")
        target = str(message.get("token") or message.get("fid") or "")
        for prefix, (status, code, fcm, text) in _FAILURES.items():
            if target.startswith(prefix):
                extra = {"Retry-After": "30"} if status == 429 else {}
                return self._error(status, code, text, fcm, **extra)
        self.messages.append(request_body)
        return web.json_response({"name": f"projects/{PROJECT}/messages/0:{len(self.messages)}%31bd1c96"})
