"""Checking that a callback comes from Telex: the bearer JWT, and the Standard Webhooks signature.

    POST /callbacks  Authorization: Bearer <JWT>   ─► key from the JWKS (kid), ES256 only,
                                                     iss = Telex's public URL, aud = resource id,
                                                     exp/nbf with 60 s leeway
                     webhook-id/-timestamp/-signature ─► HMAC with the secret derived from the
                                                     access key (telex.automation.callbacks), ±5 min

Either check alone authenticates the sender; a bot normally runs both. The JWKS is fetched from
``/calling/.well-known/acsopenidconfiguration`` once and again when an unknown ``kid`` appears
(a key rotation), at most once a minute.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

import httpx
import jwt

from telex.webhooks.signing import SignatureError, WebhookSecret, verify

__all__ = ["CallbackVerifier", "VerificationFailed", "callback_secret"]


class VerificationFailed(Exception):
    """The callback is not from this Telex resource (the reason is for logs)."""


def callback_secret(access_key: bytes) -> WebhookSecret:
    """The Standard Webhooks secret Telex signs callbacks with, from the resource's access key."""
    return WebhookSecret(hmac.new(access_key, b"telex-call-automation-callbacks", hashlib.sha256).digest())


class CallbackVerifier:
    def __init__(
        self,
        endpoint: str,
        *,
        access_key: bytes | None = None,
        audience: str | None = None,
        http: httpx.AsyncClient | None = None,
        leeway: float = 60.0,
    ) -> None:
        self._endpoint = endpoint.rstrip("/")
        self._secret = callback_secret(access_key) if access_key is not None else None
        self._audience = audience
        self._http = http or httpx.AsyncClient(timeout=10)
        self._leeway = leeway
        self._keys: dict[str, Any] = {}
        self._issuer: str | None = None
        self._fetched = 0.0

    async def _load(self) -> None:
        if time.monotonic() - self._fetched < 60 and self._keys:
            return
        self._fetched = time.monotonic()
        config = (await self._http.get(f"{self._endpoint}/calling/.well-known/acsopenidconfiguration")).json()
        self._issuer = str(config["issuer"])
        # The JWKS is fetched from the endpoint the bot talks to: the issuer's host may be a
        # public name that does not resolve here.
        jwks = (await self._http.get(f"{self._endpoint}/calling/.well-known/acskeys")).json()
        self._keys = {
            k["kid"]: jwt.PyJWK(k, algorithm="ES256").key for k in jwks["keys"] if k.get("alg") == "ES256"
        }

    async def check_token(self, authorization: str | None) -> dict[str, Any]:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise VerificationFailed("no bearer token")
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as exc:
            raise VerificationFailed("malformed token") from exc
        if kid not in self._keys:
            self._fetched = 0.0 if not self._keys else self._fetched
            await self._load()
        key = self._keys.get(str(kid))
        if key is None:
            raise VerificationFailed("unknown key")
        try:
            options: Any = {"verify_aud": self._audience is not None, "require": ["exp", "iss"]}
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=["ES256"], issuer=self._issuer, leeway=self._leeway,
                audience=self._audience, options=options,
            )  # fmt: skip
        except jwt.PyJWTError as exc:
            raise VerificationFailed(f"token: {exc}") from exc
        return claims

    def check_signature(self, headers: Mapping[str, str], body: bytes) -> str:
        if self._secret is None:
            raise VerificationFailed("no access key to check signatures with")
        try:
            return verify([self._secret], headers, body, now=time.time())
        except SignatureError as exc:
            raise VerificationFailed(f"signature: {exc.reason}") from exc

    async def check(self, headers: Mapping[str, str], body: bytes) -> list[dict[str, Any]]:
        """The callback's events if the token (and, with an access key, the signature) verify."""
        lower = {k.lower(): v for k, v in headers.items()}
        await self.check_token(lower.get("authorization"))
        if self._secret is not None:
            self.check_signature(lower, body)
        events = json.loads(body)
        return list(events if isinstance(events, list) else [events])

    async def close(self) -> None:
        await self._http.aclose()
