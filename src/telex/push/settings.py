"""Settings of push notifications (the ``[push]`` section and its providers).

Every provider is optional and off until its credentials are configured; secrets come from files
named here (never from the configuration itself). A device may only register for a provider
that is on.
"""

from __future__ import annotations

from pydantic import Field

from telex.core.settings import StrictSettings
from telex.push.apns import PRODUCTION, SANDBOX
from telex.push.fcm import FCM_BASE_URL
from telex.push.webpush import KNOWN_PUSH_SERVICES

__all__ = ["ApnsSettings", "FcmSettings", "PushSettings", "WebPushSettings", "WnsSettings"]


class FcmSettings(StrictSettings):
    # The Firebase project's service-account key (JSON); empty: FCM is off.
    service_account_file: str = ""
    base_url: str = FCM_BASE_URL


class ApnsSettings(StrictSettings):
    # The token-signing key (.p8) from the Apple developer account; empty: APNs is off.
    key_file: str = ""
    key_id: str = ""
    team_id: str = ""
    bundle_id: str = ""
    production_url: str = PRODUCTION
    sandbox_url: str = SANDBOX
    # Extra certificate authorities (PEM) to trust for APNs; empty: the system's.
    ca_file: str = ""


class WnsSettings(StrictSettings):
    # A Store app's Package SID (or a Windows App SDK app's Entra client id); empty: WNS is off.
    client_id: str = ""
    client_secret_file: str = ""
    token_url: str = "https://login.live.com/accesstoken.srf"  # noqa: S105 - a URL, not a secret
    scope: str = "notify.windows.com"
    # Hosts (and their subdomains) a channel URI may point at.
    channel_hosts: tuple[str, ...] = ("notify.windows.com",)


class WebPushSettings(StrictSettings):
    # The VAPID key (PEM, or the base64url private scalar web-push tools print); empty: off.
    vapid_key_file: str = ""
    # The operator's contact, mailto: or https: (RFC 8292 §2.1).
    subject: str = ""
    # Hosts (and their subdomains) a subscription endpoint may point at: the browsers' services.
    endpoint_hosts: tuple[str, ...] = KNOWN_PUSH_SERVICES


class PushSettings(StrictSettings):
    """Pushes to users with no live connection (docs/push.md)."""

    # Run the push consumer on this node (a lease keeps it to one node at a time).
    enabled: bool = True
    # A registration lives this long unless the device registers again (which renews it).
    registration_ttl_seconds: int = Field(default=30 * 86400, ge=60, le=365 * 86400)
    max_registrations_per_user: int = Field(default=20, ge=1, le=1000)
    # Payloads carry ids only; with this on, chat pushes also carry the message text.
    include_message_text: bool = False
    # How long a chat push may wait for an offline device (calls last as long as they ring).
    chat_ttl_seconds: int = Field(default=86400, ge=0, le=28 * 86400)
    # A push the provider asks to retry (429, 5xx) is tried this many times in all, with
    # exponential backoff and jitter between retry_base_seconds and retry_cap_seconds.
    max_attempts: int = Field(default=5, ge=1, le=20)
    retry_base_seconds: float = Field(default=1.0, gt=0, le=60)
    retry_cap_seconds: float = Field(default=300.0, gt=0, le=3600)
    # Pushes in flight at once on this node.
    concurrency: int = Field(default=64, ge=1, le=4096)
    lease_seconds: float = Field(default=15.0, ge=0.1, le=600)
    poll_seconds: float = Field(default=1.0, gt=0, le=60)
    # With a Redis bus, how often each node publishes who is connected to it.
    presence_refresh_seconds: float = Field(default=2.0, gt=0, le=60)
    fcm: FcmSettings = FcmSettings()
    apns: ApnsSettings = ApnsSettings()
    wns: WnsSettings = WnsSettings()
    webpush: WebPushSettings = WebPushSettings()
