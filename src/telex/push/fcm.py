"""Firebase Cloud Messaging, HTTP v1 API (push-events-sms.md §2).

    service account JSON ─► JWT {iss: client_email, scope: firebase.messaging, aud: token_uri}
                          ─► POST token_uri (grant_type=jwt-bearer) ─► access token, cached ~55 min
    build_message(kind) ─► POST {base}/v1/projects/{project}/messages:send  Authorization: Bearer
                        ─► 200 {"name"} · error.details[FcmError].errorCode ─► PushResult

Plain httpx and PyJWT rather than ``firebase-admin``: that SDK pulls in gRPC and the Cloud
storage clients (~60 MB), hard-codes the endpoint, and is synchronous; the protocol is one token
grant and one POST. ``token_uri`` and ``base_url`` come from configuration, so a loopback service
stands in for Google in tests.

Calls go out as **data** messages at ``android.priority: HIGH`` with a short ``ttl``, so the app
wakes and shows its own full-screen call UI; chat goes as a **notification** message at
``NORMAL`` priority that the system shows even while the app is not running, with the thread as
``collapse_key`` and notification ``tag``. FCM cannot carry iOS PushKit VoIP pushes: iOS calls go
through ``telex.push.apns``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import httpx
import jwt

from telex.core.clock import Clock, SystemClock
from telex.push.result import Outcome, PushKind, PushResult
from telex.push.tokens import TokenCache

__all__ = [
    "FCM_BASE_URL",
    "SCOPE",
    "FcmClient",
    "ServiceAccount",
    "TargetKind",
    "build_message",
    "read_error",
]

FCM_BASE_URL = "https://fcm.googleapis.com"
SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL, not a secret
_FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
_MAX_PAYLOAD = 4096
# Keys FCM reserves in ``data`` (it answers 400 INVALID_ARGUMENT): "from", "message_type", and
# anything starting with "google" or "gcm".
_RESERVED = re.compile(r"^(from|message_type|google.*|gcm.*)$")


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    """The fields of a Google service-account key file that the grant needs."""

    project_id: str
    client_email: str
    private_key: str
    private_key_id: str
    token_uri: str = _GOOGLE_TOKEN_URI

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str | bytes) -> ServiceAccount:
        info = json.loads(data) if isinstance(data, str | bytes) else data
        if info.get("type", "service_account") != "service_account":
            raise ValueError("not a service-account key")
        try:
            return cls(
                project_id=info["project_id"],
                client_email=info["client_email"],
                private_key=info["private_key"],
                private_key_id=info["private_key_id"],
                token_uri=info.get("token_uri", _GOOGLE_TOKEN_URI),
            )
        except KeyError as exc:
            raise ValueError(f"service-account key lacks {exc}") from exc

    def assertion(self, now: float) -> str:
        """The signed JWT for the grant (RFC 7523 §2.1): one hour, audience the token endpoint."""
        iat = int(now)
        claims = {
            "iss": self.client_email,
            "scope": SCOPE,
            "aud": self.token_uri,
            "iat": iat,
            "exp": iat + 3600,
        }
        return jwt.encode(claims, self.private_key, algorithm="RS256", headers={"kid": self.private_key_id})


class TargetKind(Enum):
    """What a device registered with: a registration token or (newer) a Firebase Installation ID."""

    TOKEN = "token"  # noqa: S105 - the JSON field name
    FID = "fid"


def _check_data(data: Mapping[str, str]) -> dict[str, str]:
    for name, value in data.items():
        if not isinstance(value, str):
            raise ValueError(f"FCM data values are strings ({name!r})")
        if _RESERVED.match(name):
            raise ValueError(f"{name!r} is a reserved FCM data key")
    return dict(data)


def build_message(
    kind: PushKind,
    target: str,
    data: Mapping[str, str],
    *,
    target_kind: TargetKind = TargetKind.TOKEN,
    collapse_key: str | None = None,
    title: str | None = None,
    body: str | None = None,
    ttl: int | None = None,
    channel_id: str = "chat",
) -> dict[str, Any]:
    """The ``messages:send`` request body for a call or a chat push.

    Call: data only, ``HIGH``, ``ttl`` 30 s by default (a ring nobody hears in time is useless).
    Chat: a notification (``title``/``body``) plus data, ``NORMAL``, 1 day by default.
    ``collapse_key`` (the call or thread id) lets a newer message replace an undelivered one.
    """
    message: dict[str, Any] = {target_kind.value: target, "data": _check_data(data)}
    android: dict[str, Any]
    if kind is PushKind.CALL:
        android = {"priority": "HIGH", "ttl": f"{30 if ttl is None else ttl}s", "direct_boot_ok": True}
    else:
        android = {"priority": "NORMAL", "ttl": f"{86400 if ttl is None else ttl}s"}
        if title is not None or body is not None:
            message["notification"] = {k: v for k, v in (("title", title), ("body", body)) if v is not None}
            notification: dict[str, str] = {"channel_id": channel_id}
            if collapse_key is not None:
                notification["tag"] = collapse_key
            android["notification"] = notification
    if collapse_key is not None:
        android["collapse_key"] = collapse_key
    message["android"] = android
    request = {"message": message}
    if len(json.dumps(message, separators=(",", ":")).encode()) > _MAX_PAYLOAD:
        raise ValueError(f"an FCM message is at most {_MAX_PAYLOAD} bytes")
    return request


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after", "").strip()
    return float(value) if value.isdigit() else None


def read_error(status: int, body: bytes, headers: Mapping[str, str]) -> PushResult:
    """Map an FCM error to what to do (push-events-sms.md §2.3)."""
    try:
        error = json.loads(body).get("error", {})
    except (ValueError, AttributeError):
        error = {}
    if not isinstance(error, dict):
        error = {}
    code = ""
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and detail.get("@type") == _FCM_ERROR:
            code = str(detail.get("errorCode", ""))
    code = code or str(error.get("status", ""))
    message = str(error.get("message", ""))
    reason = f"{code}: {message}" if code else f"HTTP {status}"
    if code in ("UNREGISTERED", "NOT_FOUND", "SENDER_ID_MISMATCH") or status == 404:
        return PushResult(Outcome.GONE, reason, status)
    if code == "INVALID_ARGUMENT":
        # The same code covers a malformed message and a malformed token; only the latter is
        # the registration's fault (FCM says so in the message).
        gone = "registration token" in message.lower()
        return PushResult(Outcome.GONE if gone else Outcome.DROPPED, reason, status)
    if (
        code in ("QUOTA_EXCEEDED", "RESOURCE_EXHAUSTED", "UNAVAILABLE", "INTERNAL")
        or status == 429
        or status >= 500
    ):
        return PushResult(Outcome.RETRY, reason, status, _retry_after(headers))
    if code in ("THIRD_PARTY_AUTH_ERROR", "PERMISSION_DENIED", "UNAUTHENTICATED") or status in (401, 403):
        return PushResult(Outcome.MISCONFIGURED, reason, status)
    return PushResult(Outcome.DROPPED, reason, status)


class FcmClient:
    """Sends FCM HTTP v1 messages for one Firebase project."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        account: ServiceAccount,
        *,
        base_url: str = FCM_BASE_URL,
        clock: Clock | None = None,
    ) -> None:
        self._client = client
        self._account = account
        self._clock = clock or SystemClock()
        self._url = f"{base_url.rstrip('/')}/v1/projects/{account.project_id}/messages:send"
        self.tokens = TokenCache(self._grant, self._clock)

    async def _grant(self) -> tuple[str, float]:
        form = {"grant_type": _GRANT, "assertion": self._account.assertion(self._clock.now())}
        response = await self._client.post(self._account.token_uri, data=form)
        if response.status_code != 200:
            raise _GrantRefused(response.status_code, response.text[:200])
        reply = response.json()
        return str(reply["access_token"]), float(reply.get("expires_in", 3600))

    async def send(self, message: Mapping[str, Any]) -> PushResult:
        """POST one message (from ``build_message``). A 401 means the cached access token went
        stale early: one fresh token and one more try, then it is a configuration problem."""
        for attempt in (1, 2):
            try:
                token = await self.tokens.get()
                response = await self._client.post(
                    self._url, json=dict(message), headers={"Authorization": f"Bearer {token}"}
                )
            except _GrantRefused as exc:
                outcome = Outcome.RETRY if exc.status >= 500 or exc.status == 429 else Outcome.MISCONFIGURED
                return PushResult(outcome, f"OAuth token grant refused: {exc.status}", exc.status)
            except httpx.HTTPError as exc:
                return PushResult(Outcome.RETRY, f"FCM unreachable: {type(exc).__name__}")
            if response.status_code == 200:
                return PushResult(Outcome.DELIVERED, status=200, message_id=response.json().get("name"))
            result = read_error(response.status_code, response.content, response.headers)
            if response.status_code == 401 and attempt == 1 and "THIRD_PARTY" not in result.reason:
                self.tokens.invalidate(token)
                continue
            return result
        raise AssertionError("unreachable")


class _GrantRefused(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"{status}: {text}")
        self.status = status
