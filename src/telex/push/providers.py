"""One notification, sent the way each provider wants it, to one registration.

    Notification(RING | CANCEL | CHAT, key, data, title, body, ttl)
        fcm      RING/CANCEL: data message, HIGH, ttl      CHAT: notification, NORMAL, collapse key
        apns     voip token:  RING only (PushKit: every VoIP push must ring CallKit)
                 alert token: RING as an alert · CANCEL as a background push (priority 5) · CHAT alert
        wns      RING/CANCEL: raw (the app's background task)   CHAT: toast
        webpush  RING/CANCEL: Urgency high, Topic = the call    CHAT: Urgency normal, Topic = the thread

``key`` (the call or the thread) collapses: FCM's collapse key, APNs' collapse id, WNS's tag,
Web Push's Topic, so a later push about the same call replaces an undelivered earlier one.
Providers without credentials are absent (``platforms``); a combination a provider does not
allow (a cancel to a VoIP token, a chat message to a VoIP token) is not sent at all.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import httpx

from telex.core.clock import Clock
from telex.push.apns import (
    ApnsClient,
    ApnsKey,
    ApnsNotification,
    background_notification,
    call_notification,
    chat_notification,
)
from telex.push.fcm import FcmClient, ServiceAccount, TargetKind, build_message
from telex.push.registry import Platform, Registration
from telex.push.result import PushKind, PushResult
from telex.push.settings import PushSettings
from telex.push.webpush import VapidKey, WebPushClient, WebPushMessage
from telex.push.wns import WnsClient, WnsCredentials, toast_xml

__all__ = ["Notification", "NotificationKind", "Providers"]


class NotificationKind(Enum):
    RING = "ring"  # an incoming call: wake now or never
    CANCEL = "cancel"  # the call stopped ringing (answered, declined, missed, cancelled)
    CHAT = "chat"  # a chat message: show it, even later


@dataclass(frozen=True, slots=True)
class Notification:
    kind: NotificationKind
    key: str  # the call or thread id: collapses pushes about the same thing
    data: Mapping[str, str]  # ids only (and the text, when the operator allows it)
    title: str
    body: str
    ttl: int  # seconds the provider may hold it
    expires_at: float  # after this, retrying is pointless


def _read(path: str) -> str:
    return Path(path).read_text().strip()


class Providers:
    """The configured provider clients; ``send`` renders and sends one notification."""

    def __init__(
        self, settings: PushSettings, outbound: httpx.AsyncClient, clock: Clock, *, timeout: float = 30.0
    ) -> None:
        self._clock = clock
        self._owned: list[httpx.AsyncClient] = []
        self.fcm: FcmClient | None = None
        self.apns: dict[str, ApnsClient] = {}
        self.wns: WnsClient | None = None
        self.webpush: WebPushClient | None = None
        self.vapid_public_key: str | None = None
        if settings.fcm.service_account_file:
            account = ServiceAccount.from_json(Path(settings.fcm.service_account_file).read_bytes())
            plain = httpx.AsyncClient(trust_env=False, timeout=timeout)
            self._owned.append(plain)
            self.fcm = FcmClient(plain, account, base_url=settings.fcm.base_url, clock=clock)
        a = settings.apns
        if a.key_file:
            key = ApnsKey(a.key_id, a.team_id, Path(a.key_file).read_text())
            verify: ssl.SSLContext | bool = True
            if a.ca_file:
                verify = ssl.create_default_context(cafile=a.ca_file)
            h2 = httpx.AsyncClient(http2=True, verify=verify, trust_env=False, timeout=timeout)
            self._owned.append(h2)
            for environment, url in (("production", a.production_url), ("sandbox", a.sandbox_url)):
                self.apns[environment] = ApnsClient(h2, key, a.bundle_id, base_url=url, clock=clock)
        w = settings.wns
        if w.client_id and w.client_secret_file:
            # Channel URIs come from devices: WNS goes through the SSRF-safe client.
            credentials = WnsCredentials(w.client_id, _read(w.client_secret_file), w.token_url, w.scope)
            self.wns = WnsClient(outbound, credentials, clock)
        p = settings.webpush
        if p.vapid_key_file:
            text = _read(p.vapid_key_file)
            vapid = VapidKey.from_pem(text.encode()) if "BEGIN" in text else VapidKey.from_raw(text)
            self.webpush = WebPushClient(outbound, vapid, p.subject, clock)
            self.vapid_public_key = vapid.public_key

    @property
    def platforms(self) -> frozenset[Platform]:
        on = {
            Platform.FCM: self.fcm is not None,
            Platform.APNS: bool(self.apns),
            Platform.WNS: self.wns is not None,
            Platform.WEBPUSH: self.webpush is not None,
        }
        return frozenset(p for p, enabled in on.items() if enabled)

    async def close(self) -> None:
        for client in self._owned:
            await client.aclose()

    async def send(self, reg: Registration, n: Notification) -> PushResult | None:
        """Send ``n`` to ``reg``; None when this combination is not sent on that platform."""
        if reg.platform is Platform.FCM and self.fcm is not None:
            return await self._fcm(self.fcm, reg, n)
        if reg.platform is Platform.APNS and self.apns:
            return await self._apns(reg, n)
        if reg.platform is Platform.WNS and self.wns is not None:
            return await self._wns(self.wns, reg, n)
        if reg.platform is Platform.WEBPUSH and self.webpush is not None:
            kind = PushKind.CHAT if n.kind is NotificationKind.CHAT else PushKind.CALL
            message = WebPushMessage.for_kind(kind, dict(n.data), key=n.key, ttl=n.ttl)
            return await self.webpush.send(reg.web_push(), message)
        return None

    async def _fcm(self, fcm: FcmClient, reg: Registration, n: Notification) -> PushResult:
        target = TargetKind(reg.options.get("targetKind", "token"))
        if n.kind is NotificationKind.CHAT:
            message = build_message(
                PushKind.CHAT, reg.token, n.data, target_kind=target, collapse_key=n.key, title=n.title,
                body=n.body, ttl=n.ttl,
            )  # fmt: skip
        else:
            message = build_message(
                PushKind.CALL, reg.token, n.data, target_kind=target, collapse_key=n.key, ttl=n.ttl
            )
        return await fcm.send(message)

    async def _apns(self, reg: Registration, n: Notification) -> PushResult | None:
        client = self.apns.get(str(reg.options.get("environment", "production")))
        if client is None:
            return None
        now = self._clock.now()
        notification: ApnsNotification
        if reg.voip:
            if n.kind is not NotificationKind.RING:
                return None  # a VoIP push must report a call to CallKit: never for anything else
            notification = call_notification(dict(n.data), call_id=n.key)
        elif n.kind is NotificationKind.CANCEL:
            notification = background_notification(dict(n.data), now=now, ttl=max(n.ttl, 1))
        else:
            notification = chat_notification(
                n.title, n.body, thread_id=n.key, now=now, data=dict(n.data), ttl=n.ttl
            )
        return await client.send(reg.token, notification)

    async def _wns(self, wns: WnsClient, reg: Registration, n: Notification) -> PushResult:
        if n.kind is NotificationKind.CHAT:
            launch = json.dumps(dict(n.data), separators=(",", ":"))
            xml = toast_xml(n.title, n.body, launch=launch)
            return await wns.send_toast(reg.token, xml, ttl=n.ttl, tag=n.key[-16:])
        payload = json.dumps(dict(n.data), separators=(",", ":")).encode()
        return await wns.send_raw(reg.token, payload, ttl=n.ttl)
