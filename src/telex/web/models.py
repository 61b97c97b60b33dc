"""Wire models of the identity API (api-version 2023-10-01, acs-wire.md §3.1)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictInt

__all__ = [
    "AccessTokenModel",
    "CommunicationIdentityModel",
    "CreateIdentityRequest",
    "CreateIdentityResponse",
    "IssueTokenRequest",
]


class _Request(BaseModel):
    # Unknown fields are ignored, as ACS does, so newer SDKs keep working; known fields are strict.
    model_config = ConfigDict(extra="ignore")


class CreateIdentityRequest(_Request):
    createTokenWithScopes: list[str] | None = Field(default=None, max_length=5)
    expiresInMinutes: StrictInt | None = None


class IssueTokenRequest(_Request):
    scopes: list[str] = Field(max_length=5)
    expiresInMinutes: StrictInt | None = None


class CommunicationIdentityModel(BaseModel):
    id: str


class AccessTokenModel(BaseModel):
    token: str
    expiresOn: str


class CreateIdentityResponse(BaseModel):
    identity: CommunicationIdentityModel
    accessToken: AccessTokenModel | None = None
