"""Web Push: encrypted messages to a browser's push service (RFC 8030, RFC 8291, RFC 8292).

    payload ─► encrypt(): aes128gcm (RFC 8188) with a key from ECDH(ephemeral, p256dh) + auth
            ─► vapid_authorization(): ES256 JWT {aud: push service origin, exp, sub}
            ─► POST <endpoint>  TTL, Urgency, Topic, Content-Encoding: aes128gcm
            ─► 201 delivered · 404/410 gone · 413 too large · 429 retry (Retry-After) · 401/403 VAPID

Why our own encryption: the RFC 8291 construction is two HKDF derivations and one AES-GCM call
on ``cryptography``'s primitives, about forty lines. ``pywebpush`` wraps ``http_ece`` with
``requests``/``aiohttp`` (not our httpx client and its SSRF-safe transport) and mutates the
claims dict it is given (push-events-sms.md §1.4); ``http_ece`` carries the obsolete ``aesgcm``
draft beside ``aes128gcm`` and does not enforce the 4,096-byte limit. The tests decrypt what we
produce with ``http_ece`` as an independent implementation.

Limits: a push service must accept a body of 4,096 bytes (RFC 8030 §7.2); the header takes 86
bytes (salt 16, record size 4, key id length 1, key id 65) and the single record adds a delimiter
byte and a 16-byte tag, so a payload is at most 3,993 bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from telex.core.clock import Clock, SystemClock
from telex.core.errors import ErrorCode, TelexError
from telex.push.result import Outcome, PushKind, PushResult

__all__ = [
    "KNOWN_PUSH_SERVICES",
    "MAX_PAYLOAD",
    "Urgency",
    "VapidKey",
    "WebPushClient",
    "WebPushMessage",
    "WebPushSubscription",
    "b64url",
    "encrypt",
    "endpoint_allowed",
    "read_response",
    "topic_for",
    "vapid_authorization",
]

MAX_BODY = 4096
_HEADER = 16 + 4 + 1 + 65
MAX_PAYLOAD = MAX_BODY - _HEADER - 1 - 16  # 3993
_VAPID_LIFETIME = 12 * 3600  # RFC 8292 §2: at most 24 h
_VAPID_REUSE_MARGIN = 3600

# Hosts of the push services browsers use; a subscription endpoint elsewhere is refused at
# registration (the endpoint is client-supplied: push-events-sms.md §1.4).
KNOWN_PUSH_SERVICES = (
    "fcm.googleapis.com",
    "push.services.mozilla.com",
    "notify.windows.com",
    "push.apple.com",
)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    # Browsers differ on padding (Firefox pads the key it reports): accept both.
    text = text.strip().rstrip("=")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _point(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


@dataclass(frozen=True, slots=True)
class WebPushSubscription:
    """A browser's ``PushSubscription``: where to send and the keys to encrypt for."""

    endpoint: str
    p256dh: bytes
    auth: bytes

    def __post_init__(self) -> None:
        if len(self.p256dh) != 65 or self.p256dh[0] != 4:
            raise ValueError("p256dh is an uncompressed P-256 point (65 bytes)")
        if len(self.auth) != 16:
            raise ValueError("auth is 16 bytes")
        try:
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), self.p256dh)
        except ValueError as exc:
            raise ValueError("p256dh is not a point on P-256") from exc

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WebPushSubscription:
        """Read ``PushSubscription.toJSON()``: ``{"endpoint", "keys": {"p256dh", "auth"}}``."""
        try:
            keys = data["keys"]
            return cls(str(data["endpoint"]), _unb64url(keys["p256dh"]), _unb64url(keys["auth"]))
        except (KeyError, TypeError, binascii.Error) as exc:
            raise ValueError("not a push subscription") from exc


def endpoint_allowed(endpoint: str, hosts: tuple[str, ...] = KNOWN_PUSH_SERVICES) -> bool:
    """True if ``endpoint`` is https on one of ``hosts`` or a subdomain of one."""
    parts = urlsplit(endpoint)
    host = (parts.hostname or "").lower().rstrip(".")
    if parts.scheme != "https" or not host or parts.username or parts.password:
        return False
    return any(host == h or host.endswith("." + h) for h in hosts)


def _hkdf(salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def encrypt(
    payload: bytes,
    subscription: WebPushSubscription,
    *,
    salt: bytes | None = None,
    ephemeral: ec.EllipticCurvePrivateKey | None = None,
) -> bytes:
    """The ``aes128gcm`` body for ``payload`` (RFC 8291 §3.4, RFC 8188 §2); one record.

    ``salt`` and ``ephemeral`` are fresh per message; tests pass them to reproduce a vector.
    """
    if len(payload) > MAX_PAYLOAD:
        raise TelexError(ErrorCode.PAYLOAD_TOO_LARGE, f"a Web Push payload is at most {MAX_PAYLOAD} bytes")
    salt = salt if salt is not None else os.urandom(16)
    ephemeral = ephemeral or ec.generate_private_key(ec.SECP256R1())
    as_public = _point(ephemeral.public_key())
    ua_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), subscription.p256dh)
    shared = ephemeral.exchange(ec.ECDH(), ua_key)
    # RFC 8291 §3.3: the auth secret salts the ECDH secret, bound to both public keys.
    ikm = _hkdf(subscription.auth, shared, b"WebPush: info\x00" + subscription.p256dh + as_public, 32)
    cek = _hkdf(salt, ikm, b"Content-Encoding: aes128gcm\x00", 16)
    nonce = _hkdf(salt, ikm, b"Content-Encoding: nonce\x00", 12)
    # One record: the payload, then the 0x02 delimiter of the last record (RFC 8188 §2).
    ciphertext = AESGCM(cek).encrypt(nonce, payload + b"\x02", None)
    header = salt + struct.pack("!IB", MAX_BODY, len(as_public)) + as_public
    return header + ciphertext


class VapidKey:
    """The application server's P-256 key (RFC 8292); its public half is the page's
    ``applicationServerKey``."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise ValueError("a VAPID key is a P-256 key")
        self._key = private_key
        self.public_key = b64url(_point(private_key.public_key()))

    @classmethod
    def generate(cls) -> VapidKey:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def from_pem(cls, pem: bytes) -> VapidKey:
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("a VAPID key is an EC key")
        return cls(key)

    @classmethod
    def from_raw(cls, text: str) -> VapidKey:
        """The base64url 32-byte private scalar most Web Push tools print."""
        return cls(ec.derive_private_key(int.from_bytes(_unb64url(text), "big"), ec.SECP256R1()))

    def private_pem(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def sign(self, claims: Mapping[str, Any]) -> str:
        return jwt.encode(dict(claims), self._key, algorithm="ES256", headers={"typ": "JWT"})


def vapid_authorization(key: VapidKey, endpoint: str, subject: str, now: float) -> str:
    """``vapid t=<JWT>, k=<public key>`` for the push service that owns ``endpoint`` (RFC 8292 §3)."""
    parts = urlsplit(endpoint)
    audience = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
    token = key.sign({"aud": audience, "exp": int(now) + _VAPID_LIFETIME, "sub": subject})
    return f"vapid t={token}, k={key.public_key}"


class Urgency(Enum):
    """RFC 8030 §5.3."""

    VERY_LOW = "very-low"
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"


_TOPIC_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def topic_for(key: str) -> str:
    """A ``Topic`` (RFC 8030 §5.4: ≤ 32 characters of the base64url alphabet) for ``key``: the key
    itself when it fits, else a digest of it, so a later message with the same key replaces an
    undelivered earlier one."""
    if 0 < len(key) <= 32 and set(key) <= _TOPIC_ALPHABET:
        return key
    return b64url(hashlib.sha256(key.encode()).digest())[:32]


@dataclass(frozen=True, slots=True)
class WebPushMessage:
    payload: bytes
    ttl: int
    urgency: Urgency = Urgency.NORMAL
    topic: str | None = None

    def __post_init__(self) -> None:
        if self.ttl < 0:
            raise ValueError("TTL is a number of seconds")
        if self.topic is not None and (
            not 0 < len(self.topic) <= 32 or not set(self.topic) <= _TOPIC_ALPHABET
        ):
            raise ValueError("a Topic is 1–32 characters of the base64url alphabet")
        if len(self.payload) > MAX_PAYLOAD:
            raise TelexError(
                ErrorCode.PAYLOAD_TOO_LARGE, f"a Web Push payload is at most {MAX_PAYLOAD} bytes"
            )

    @classmethod
    def for_kind(
        cls, kind: PushKind, data: Mapping[str, Any], *, key: str, ttl: int | None = None
    ) -> WebPushMessage:
        """A call rings now or never (high urgency, 60 s); a chat message waits up to a day at
        normal urgency. ``key`` (the call or thread id) becomes the ``Topic``, so "call ended"
        replaces an undelivered "ringing"."""
        payload = json.dumps(dict(data), separators=(",", ":")).encode()
        if kind is PushKind.CALL:
            return cls(payload, 60 if ttl is None else ttl, Urgency.HIGH, topic_for(key))
        return cls(payload, 86400 if ttl is None else ttl, Urgency.NORMAL, topic_for(key))


def build_request(
    subscription: WebPushSubscription, message: WebPushMessage, key: VapidKey, subject: str, now: float
) -> tuple[dict[str, str], bytes]:
    """Headers and body of the POST to ``subscription.endpoint``."""
    body = encrypt(message.payload, subscription)
    headers = {
        "Authorization": vapid_authorization(key, subscription.endpoint, subject, now),
        "Content-Encoding": "aes128gcm",
        "Content-Type": "application/octet-stream",
        "TTL": str(message.ttl),
        "Urgency": message.urgency.value,
    }
    if message.topic is not None:
        headers["Topic"] = message.topic
    return headers, body


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after", "").strip()
    return float(value) if value.isdigit() else None


def read_response(status: int, headers: Mapping[str, str]) -> PushResult:
    """What a push service's answer means (RFC 8030 §5–7, RFC 8292 §4.1)."""
    if status in (200, 201, 202):
        return PushResult(Outcome.DELIVERED, status=status, message_id=headers.get("location"))
    if status in (404, 410):
        return PushResult(Outcome.GONE, "subscription expired or unsubscribed", status)
    if status == 413:
        return PushResult(Outcome.DROPPED, "payload too large", status)
    if status == 429 or status >= 500:
        return PushResult(Outcome.RETRY, "push service busy", status, _retry_after(headers))
    if status in (401, 403):
        return PushResult(Outcome.MISCONFIGURED, "VAPID credentials refused", status)
    return PushResult(Outcome.DROPPED, f"push service answered {status}", status)


class WebPushClient:
    """Sends Web Push messages with one VAPID key.

    ``client`` should be the SSRF-safe client (``telex.webhooks.build_client``): the endpoint is
    chosen by the browser, so its host is a user-chosen destination like a webhook URL.
    ``subject`` is the operator's contact, ``mailto:`` or ``https:`` (RFC 8292 §2.1).
    """

    def __init__(
        self, client: httpx.AsyncClient, key: VapidKey, subject: str, clock: Clock | None = None
    ) -> None:
        if not subject.startswith(("mailto:", "https:")):
            raise ValueError("the VAPID subject is a mailto: or https: URI")
        self._client = client
        self._key = key
        self._subject = subject
        self._clock = clock or SystemClock()

    async def send(self, subscription: WebPushSubscription, message: WebPushMessage) -> PushResult:
        headers, body = build_request(subscription, message, self._key, self._subject, self._clock.now())
        try:
            response = await self._client.post(subscription.endpoint, headers=headers, content=body)
        except httpx.HTTPError as exc:
            return PushResult(Outcome.RETRY, f"push service unreachable: {type(exc).__name__}")
        except TelexError as exc:  # the SSRF-safe transport refused the endpoint's address
            outcome = Outcome.RETRY if exc.code is ErrorCode.UNAVAILABLE else Outcome.GONE
            return PushResult(outcome, exc.message)
        return read_response(response.status_code, response.headers)
