"""Apple Push Notification service over HTTP/2 with token-based auth (push-events-sms.md §3).

    .p8 key ─► provider JWT {alg ES256, kid} {iss: team, iat} ─► reused 40 min (APNs: 20–60 min)
    call  ─► apns-push-type: voip, apns-topic: <bundle>.voip, priority 10, expiration 0
    chat  ─► apns-push-type: alert, apns-topic: <bundle>, priority 10, expiration now+ttl,
             apns-collapse-id: the thread
    POST https://api.push.apple.com/3/device/<hex token>  (HTTP/2 only)
         ─► 200 + apns-id · {"reason"} ─► PushResult (Unregistered/BadDeviceToken: gone, ...)

The client is httpx with ``http2=True`` (the ``h2`` extra) rather than ``aioapns``: the research
found aioapns tears its connection down on a success response that ends with an empty DATA
frame, and an httpx client is a JWT cache, a header table and an error table.

Apple's rules this follows: a provider token older than an hour is refused
(``ExpiredProviderToken``) and one refreshed more often than every 20 minutes is throttled
(``TooManyProviderTokenUpdates``); VoIP pushes go to the ``.voip`` topic, must be reported to
CallKit by the app at once, and so are sent only for incoming calls, with expiration 0 ("now or
never"); a background push (content-available) must use priority 5. Payloads are at most
4,096 bytes, VoIP 5,120.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from telex.core.clock import Clock, SystemClock
from telex.push.result import Outcome, PushResult

__all__ = [
    "PRODUCTION",
    "SANDBOX",
    "ApnsClient",
    "ApnsKey",
    "ApnsNotification",
    "ProviderToken",
    "background_notification",
    "call_notification",
    "chat_notification",
    "read_error",
]

PRODUCTION = "https://api.push.apple.com"
SANDBOX = "https://api.sandbox.push.apple.com"
_MIN_TOKEN_AGE, _MAX_TOKEN_AGE = 20 * 60, 60 * 60

_GONE = frozenset({"Unregistered", "BadDeviceToken", "ExpiredToken"})
_RETRY = frozenset(
    {"TooManyRequests", "TooManyProviderTokenUpdates", "IdleTimeout", "InternalServerError",
     "ServiceUnavailable", "Shutdown", "ExpiredProviderToken"}
)  # fmt: skip
_MISCONFIGURED = frozenset(
    {"TopicDisallowed", "BadCertificate", "BadCertificateEnvironment", "Forbidden", "InvalidProviderToken",
     "MissingProviderToken", "UnrelatedKeyIdInToken", "BadEnvironmentKeyIdInToken", "BadTopic"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ApnsKey:
    """A token-signing key from the developer account: the .p8 file, its Key ID and the Team ID."""

    key_id: str
    team_id: str
    private_key_pem: str = field(repr=False)

    def __post_init__(self) -> None:
        key = serialization.load_pem_private_key(self.private_key_pem.encode(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
            raise ValueError("an APNs key is a P-256 key (.p8)")


class ProviderToken:
    """The provider JWT, made again once it is ``refresh_after`` seconds old (20–60 min)."""

    def __init__(self, key: ApnsKey, clock: Clock, *, refresh_after: float = 40 * 60) -> None:
        if not _MIN_TOKEN_AGE <= refresh_after < _MAX_TOKEN_AGE:
            raise ValueError("APNs wants a provider token renewed after 20 and before 60 minutes")
        self._key = key
        self._clock = clock
        self._refresh_after = refresh_after
        self._token: str | None = None
        self._issued = 0.0
        self.issued_count = 0

    def get(self) -> str:
        now = self._clock.now()
        if self._token is None or now - self._issued >= self._refresh_after:
            self._issued = now
            self._token = jwt.encode(
                {"iss": self._key.team_id, "iat": int(now)},
                self._key.private_key_pem,
                algorithm="ES256",
                headers={"kid": self._key.key_id},
            )
            self.issued_count += 1
        return self._token

    def expired(self, token: str) -> None:
        """APNs said ``ExpiredProviderToken`` for ``token``: the next ``get`` makes a new one."""
        if token == self._token:
            self._token = None


@dataclass(frozen=True, slots=True)
class ApnsNotification:
    payload: Mapping[str, Any]
    push_type: str
    priority: int
    expiration: int
    collapse_id: str | None = None
    topic_suffix: str = ""

    @property
    def limit(self) -> int:
        return 5120 if self.push_type == "voip" else 4096


def _collapse_id(key: str) -> str:
    # apns-collapse-id is at most 64 bytes; a longer key is replaced by its digest.
    return key if len(key.encode()) <= 64 else hashlib.sha256(key.encode()).hexdigest()


def call_notification(data: Mapping[str, Any], *, call_id: str) -> ApnsNotification:
    """A PushKit VoIP push for an incoming call: immediate, never stored (expiration 0)."""
    return ApnsNotification(
        {"aps": {}, **data}, "voip", 10, 0, collapse_id=_collapse_id(call_id), topic_suffix=".voip"
    )


def chat_notification(
    title: str,
    body: str,
    *,
    thread_id: str,
    now: float,
    data: Mapping[str, Any] | None = None,
    ttl: int = 86400,
    badge: int | None = None,
) -> ApnsNotification:
    """A visible alert for a chat message, grouped and collapsed by thread, kept ``ttl`` seconds."""
    aps: dict[str, Any] = {
        "alert": {"title": title, "body": body},
        "sound": "default",
        "thread-id": thread_id,
    }
    if badge is not None:
        aps["badge"] = badge
    return ApnsNotification(
        {"aps": aps, **(data or {})}, "alert", 10, int(now) + ttl, collapse_id=_collapse_id(thread_id)
    )


def background_notification(data: Mapping[str, Any], *, now: float, ttl: int = 3600) -> ApnsNotification:
    """A silent content-available push (e.g. "call ended"); Apple requires priority 5 for it."""
    return ApnsNotification({"aps": {"content-available": 1}, **data}, "background", 5, int(now) + ttl)


def read_error(status: int, body: bytes) -> PushResult:
    """Map an APNs error reply (``{"reason": ...}``) to what to do (push-events-sms.md §3.1)."""
    try:
        reason = str(json.loads(body).get("reason", ""))
    except (ValueError, AttributeError):
        reason = ""
    reason = reason or f"HTTP {status}"
    if reason in _GONE or status == 410:
        return PushResult(Outcome.GONE, reason, status)
    if reason in _RETRY or status == 429 or status >= 500:
        return PushResult(Outcome.RETRY, reason, status)
    if reason in _MISCONFIGURED or status == 403:
        return PushResult(Outcome.MISCONFIGURED, reason, status)
    return PushResult(Outcome.DROPPED, reason, status)


class ApnsClient:
    """Sends to APNs for one app (``bundle_id``) and one environment (``PRODUCTION``/``SANDBOX``).

    A device token belongs to one environment (a sandbox token sent to production is a
    ``BadDeviceToken``), so store the environment with each token and keep one client per
    environment. ``client`` must be an ``httpx.AsyncClient(http2=True)``.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        key: ApnsKey,
        bundle_id: str,
        *,
        base_url: str = PRODUCTION,
        clock: Clock | None = None,
    ) -> None:
        self._client = client
        self._bundle_id = bundle_id
        self._base_url = base_url.rstrip("/")
        self.tokens = ProviderToken(key, clock or SystemClock())

    def _headers(self, token: str, notification: ApnsNotification) -> dict[str, str]:
        headers = {
            "authorization": f"bearer {token}",
            "apns-push-type": notification.push_type,
            "apns-topic": self._bundle_id + notification.topic_suffix,
            "apns-priority": str(notification.priority),
            "apns-expiration": str(notification.expiration),
            "apns-id": str(uuid.uuid4()),
        }
        if notification.collapse_id is not None:
            headers["apns-collapse-id"] = notification.collapse_id
        return headers

    async def send(self, device_token: str, notification: ApnsNotification) -> PushResult:
        # The token goes into the URL path: only hex may pass (and APNs would refuse the rest).
        if (
            not device_token
            or len(device_token) % 2
            or not all(c in "0123456789abcdefABCDEF" for c in device_token)
        ):
            return PushResult(Outcome.GONE, "BadDeviceToken")
        body = json.dumps(dict(notification.payload), separators=(",", ":"), ensure_ascii=False).encode()
        if len(body) > notification.limit:
            return PushResult(Outcome.DROPPED, "PayloadTooLarge")
        url = f"{self._base_url}/3/device/{device_token}"
        for attempt in (1, 2):
            token = self.tokens.get()
            try:
                response = await self._client.post(
                    url, headers=self._headers(token, notification), content=body
                )
            except httpx.HTTPError as exc:
                return PushResult(Outcome.RETRY, f"APNs unreachable: {type(exc).__name__}")
            if response.status_code == 200:
                return PushResult(Outcome.DELIVERED, status=200, message_id=response.headers.get("apns-id"))
            result = read_error(response.status_code, response.content)
            if result.reason == "ExpiredProviderToken" and attempt == 1:
                self.tokens.expired(token)
                continue
            return result
        raise AssertionError("unreachable")
