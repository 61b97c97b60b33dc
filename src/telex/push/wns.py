"""Windows Push Notification Services (push-events-sms.md §4), brief.

    credentials ─► POST token URL (client_credentials) ─► bearer token, cached
    call ─► POST <channel URI>  X-WNS-Type: wns/raw,   application/octet-stream (the app wakes)
    chat ─► POST <channel URI>  X-WNS-Type: wns/toast, text/xml (Windows shows it)
         ─► 200 received · 401 refresh once · 404/410 channel gone · 406 throttled · 413 too large

Two identities exist: a Store (UWP) app authenticates at ``login.live.com`` with its Package SID
and secret (scope ``notify.windows.com``); a Windows App SDK app uses a Microsoft Entra app
registration (``login.microsoftonline.com/<tenant>``, scope ``https://wns.windows.com/.default``),
which supports raw and toast pushes only — what Telex sends anyway. The channel URI comes from
the device, so only https URIs on ``notify.windows.com`` are accepted (``channel_allowed``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit
from xml.sax.saxutils import escape, quoteattr

import httpx

from telex.core.clock import Clock, SystemClock
from telex.push.result import Outcome, PushResult
from telex.push.tokens import TokenCache

__all__ = ["WnsClient", "WnsCredentials", "channel_allowed", "read_response", "toast_xml"]

_MAX_PAYLOAD = 5000  # WNS refuses larger bodies with 413


@dataclass(frozen=True, slots=True)
class WnsCredentials:
    client_id: str
    client_secret: str
    token_url: str
    scope: str

    @classmethod
    def store_app(cls, package_sid: str, secret: str) -> WnsCredentials:
        return cls(package_sid, secret, "https://login.live.com/accesstoken.srf", "notify.windows.com")

    @classmethod
    def entra_app(cls, tenant_id: str, client_id: str, secret: str) -> WnsCredentials:
        return cls(
            client_id,
            secret,
            f"https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token",
            "https://wns.windows.com/.default",
        )


def channel_allowed(uri: str, hosts: tuple[str, ...] = ("notify.windows.com",)) -> bool:
    parts = urlsplit(uri)
    host = (parts.hostname or "").lower().rstrip(".")
    if parts.scheme != "https" or parts.username or parts.password:
        return False
    return any(host == h or host.endswith("." + h) for h in hosts)


def toast_xml(title: str, body: str, *, launch: str = "", scenario: str | None = None) -> bytes:
    """A minimal ToastGeneric toast; ``scenario="incomingCall"`` makes Windows ring-style it."""
    attributes = f" launch={quoteattr(launch)}" if launch else ""
    if scenario:
        attributes += f" scenario={quoteattr(scenario)}"
    return (
        f'<toast{attributes}><visual><binding template="ToastGeneric">'
        f"<text>{escape(title)}</text><text>{escape(body)}</text>"
        "</binding></visual></toast>"
    ).encode()


def read_response(status: int, headers: httpx.Headers) -> PushResult:
    wns_status = headers.get("x-wns-status", "")
    if status == 200:
        return PushResult(Outcome.DELIVERED, wns_status, status, message_id=headers.get("x-wns-msg-id"))
    if status in (404, 410):
        return PushResult(Outcome.GONE, "channel expired or invalid", status)
    if status == 413:
        return PushResult(Outcome.DROPPED, "payload too large", status)
    if status == 406 or status == 429 or status >= 500:
        value = headers.get("retry-after", "").strip()
        return PushResult(
            Outcome.RETRY, wns_status or "throttled", status, float(value) if value.isdigit() else None
        )
    if status in (401, 403):
        return PushResult(Outcome.MISCONFIGURED, "WNS refused the credentials", status)
    return PushResult(Outcome.DROPPED, headers.get("x-wns-error-description", f"HTTP {status}"), status)


class WnsClient:
    def __init__(
        self, client: httpx.AsyncClient, credentials: WnsCredentials, clock: Clock | None = None
    ) -> None:
        self._client = client
        self._credentials = credentials
        self.tokens = TokenCache(self._grant, clock or SystemClock())

    async def _grant(self) -> tuple[str, float]:
        c = self._credentials
        form = {
            "grant_type": "client_credentials",
            "client_id": c.client_id,
            "client_secret": c.client_secret,
            "scope": c.scope,
        }
        response = await self._client.post(c.token_url, data=form)
        if response.status_code != 200:
            raise _GrantRefused(response.status_code)
        reply = response.json()
        return str(reply["access_token"]), float(reply.get("expires_in", 86400))

    async def send_raw(self, channel_uri: str, payload: bytes, *, ttl: int = 60) -> PushResult:
        """A raw notification (calls): the app's background task gets ``payload`` as is."""
        return await self._send(channel_uri, payload, "wns/raw", "application/octet-stream", ttl, None)

    async def send_toast(
        self, channel_uri: str, xml: bytes, *, ttl: int = 86400, tag: str | None = None
    ) -> PushResult:
        """A toast (chat); ``tag`` (≤ 16 characters) replaces an earlier toast with the same tag."""
        return await self._send(channel_uri, xml, "wns/toast", "text/xml", ttl, tag)

    async def _send(
        self, channel_uri: str, payload: bytes, kind: str, content_type: str, ttl: int, tag: str | None
    ) -> PushResult:
        if len(payload) > _MAX_PAYLOAD:
            return PushResult(Outcome.DROPPED, "payload too large")
        headers = {"X-WNS-Type": kind, "Content-Type": content_type, "X-WNS-TTL": str(ttl),
                   "X-WNS-RequestForStatus": "true"}  # fmt: skip
        if tag is not None:
            headers["X-WNS-Tag"] = tag[:16]
        for attempt in (1, 2):
            try:
                token = await self.tokens.get()
                response = await self._client.post(
                    channel_uri, headers={**headers, "Authorization": f"Bearer {token}"}, content=payload
                )
            except _GrantRefused as exc:
                outcome = Outcome.RETRY if exc.status >= 500 else Outcome.MISCONFIGURED
                return PushResult(outcome, f"WNS token grant refused: {exc.status}", exc.status)
            except httpx.HTTPError as exc:
                return PushResult(Outcome.RETRY, f"WNS unreachable: {type(exc).__name__}")
            if response.status_code == 401 and attempt == 1:  # token expired: refresh once
                self.tokens.invalidate(token)
                continue
            return read_response(response.status_code, response.headers)
        raise AssertionError("unreachable")


class _GrantRefused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(str(status))
        self.status = status
