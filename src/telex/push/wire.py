"""Wire models of the push registration API (Telex's own: ACS's registrar is not public)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

__all__ = [
    "ApplicationServerKeyModel",
    "PushSubscriptionModel",
    "RegistrationModel",
    "RegistrationPage",
    "RegistrationRequest",
]


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")


class PushKeysModel(_Request):
    p256dh: str = Field(min_length=1, max_length=200)
    auth: str = Field(min_length=1, max_length=100)


class PushSubscriptionModel(_Request):
    """``PushSubscription.toJSON()`` as a browser gives it."""

    endpoint: str = Field(min_length=1, max_length=2048)
    keys: PushKeysModel


class RegistrationRequest(_Request):
    platform: Literal["fcm", "apns", "wns", "webpush"]
    # FCM registration token or installation id, APNs device token (hex), WNS channel URI.
    token: str | None = Field(default=None, min_length=1, max_length=4096)
    pushSubscription: PushSubscriptionModel | None = None
    apnsPushType: Literal["alert", "voip"] = "alert"
    apnsEnvironment: Literal["production", "sandbox"] = "production"
    fcmTargetKind: Literal["token", "fid"] = "token"
    ttlSeconds: StrictInt | None = Field(default=None, ge=60, le=365 * 86400)


class RegistrationModel(BaseModel):
    id: str
    platform: str
    apnsPushType: str | None = None
    apnsEnvironment: str | None = None
    fcmTargetKind: str | None = None
    createdOn: str
    expiresOn: str


class RegistrationPage(BaseModel):
    value: list[RegistrationModel]
    nextLink: str | None = None


class ApplicationServerKeyModel(BaseModel):
    applicationServerKey: str
