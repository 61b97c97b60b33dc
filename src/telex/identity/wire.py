"""Wire models of the identity API (api-version 2023-10-01, acs-wire.md §3.1)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from telex.identity.scopes import Scope

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


# The service checks these rules too; stating them here puts them in the OpenAPI document.
Minutes = Annotated[StrictInt, Field(ge=60, le=1440, description="Token lifetime, 60–1440 (default 1440)")]


class CreateIdentityRequest(_Request):
    createTokenWithScopes: list[Scope] | None = Field(default=None, max_length=5)
    expiresInMinutes: Minutes | None = None


class IssueTokenRequest(_Request):
    scopes: list[Scope] = Field(min_length=1, max_length=5)
    expiresInMinutes: Minutes | None = None


class CommunicationIdentityModel(BaseModel):
    id: str


class AccessTokenModel(BaseModel):
    token: str
    expiresOn: str


class CreateIdentityResponse(BaseModel):
    identity: CommunicationIdentityModel
    accessToken: AccessTokenModel | None = None
