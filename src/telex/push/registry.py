"""Device registrations: what a device hands Telex so that it can be woken, checked on the way in.

    fcm      a registration token or a Firebase Installation ID        (Android, Firebase apps)
    apns     a hex device token, the push type (alert | voip: PushKit) and the environment
    wns      a channel URI on notify.windows.com
    webpush  a browser's PushSubscription: endpoint + p256dh + auth

A registration belongs to one user and expires unless the device registers again. Device tokens
are addresses of an app installation, not of a person: when another user registers the same
token (someone else signed in on that phone), the earlier user's registration is dropped, so
their calls stop ringing a phone that is no longer theirs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from telex.core.errors import ErrorCode, TelexError
from telex.push.webpush import WebPushSubscription

__all__ = ["DeviceSpec", "Platform", "Registration", "token_hash", "validate_device"]

_MAX_TOKEN = 4096
_MAX_URI = 2048


class Platform(StrEnum):
    FCM = "fcm"
    APNS = "apns"
    WNS = "wns"
    WEBPUSH = "webpush"


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """A device as a registration request describes it (before it is checked)."""

    platform: Platform
    token: str = ""
    subscription: dict[str, Any] | None = None
    apns_push_type: str = "alert"
    apns_environment: str = "production"
    fcm_target_kind: str = "token"


@dataclass(frozen=True, slots=True)
class Registration:
    id: str
    user: str
    platform: Platform
    token: str  # FCM token, APNs hex token, WNS channel URI, or the Web Push endpoint
    options: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    expires_at: float = 0.0

    @property
    def voip(self) -> bool:
        return self.platform is Platform.APNS and self.options.get("pushType") == "voip"

    def web_push(self) -> WebPushSubscription:
        return WebPushSubscription.from_json({"endpoint": self.token, "keys": self.options.get("keys", {})})


def token_hash(platform: Platform, token: str) -> str:
    return hashlib.sha256(f"{platform.value}\n{token}".encode()).hexdigest()


def _bad(message: str) -> TelexError:
    return TelexError(ErrorCode.VALIDATION_FAILED, message)


def _url_allowed(url: str, hosts: tuple[str, ...], allow_http: bool) -> bool:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().rstrip(".")
    if parts.scheme not in (("https", "http") if allow_http else ("https",)):
        return False
    if not host or parts.username or parts.password:
        return False
    return any(host == h or host.endswith("." + h) for h in hosts)


def validate_device(
    spec: DeviceSpec, *, channel_hosts: tuple[str, ...], endpoint_hosts: tuple[str, ...], allow_http: bool
) -> tuple[str, dict[str, Any]]:
    """The token to store and the options, or ``ValidationFailed`` naming the problem.

    Endpoints and channel URIs are chosen by the device, so they must name the browsers' push
    services or WNS (and go out under the outbound address policy anyway)."""
    if spec.platform is Platform.WEBPUSH:
        if spec.subscription is None:
            raise _bad("A webpush registration needs pushSubscription (endpoint and keys).")
        try:
            parsed = WebPushSubscription.from_json(spec.subscription)
        except ValueError as exc:
            raise _bad(f"pushSubscription: {exc}.") from exc
        if len(parsed.endpoint) > _MAX_URI or not _url_allowed(parsed.endpoint, endpoint_hosts, allow_http):
            raise _bad("pushSubscription.endpoint is not on a known push service.")
        keys = spec.subscription["keys"]
        return parsed.endpoint, {"keys": {"p256dh": str(keys["p256dh"]), "auth": str(keys["auth"])}}
    token = spec.token
    if not token or len(token) > _MAX_TOKEN or any(c.isspace() for c in token):
        raise _bad("token is required: 1–4096 characters without spaces.")
    if spec.platform is Platform.APNS:
        if len(token) < 64 or len(token) % 2 or not all(c in "0123456789abcdefABCDEF" for c in token):
            raise _bad("An APNs device token is hexadecimal (64 digits or more).")
        return token.lower(), {"pushType": spec.apns_push_type, "environment": spec.apns_environment}
    if spec.platform is Platform.WNS:
        if len(token) > _MAX_URI or not _url_allowed(token, channel_hosts, allow_http):
            raise _bad("A WNS channel URI is an https URL on notify.windows.com.")
        return token, {}
    return token, {"targetKind": spec.fcm_target_kind}
