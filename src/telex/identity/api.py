"""Identity API routes (management plane, HMAC-signed)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from telex.identity.service import IdentityService
from telex.identity.tokens import IssuedToken
from telex.identity.wire import (
    AccessTokenModel,
    CommunicationIdentityModel,
    CreateIdentityRequest,
    CreateIdentityResponse,
    IssueTokenRequest,
)
from telex.web.auth import HmacAuth
from telex.web.body import body_doc, read_json
from telex.web.errors import ErrorResponse

__all__ = ["identity_router"]

_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorResponse} for s in (400, 401, 404, 413, 415, 429, 500, 503)
}


def _token(issued: IssuedToken) -> AccessTokenModel:
    expires = datetime.fromtimestamp(issued.expires_at, UTC).isoformat()
    return AccessTokenModel(token=issued.token, expiresOn=expires)


def identity_router(service: IdentityService, hmac: HmacAuth) -> APIRouter:
    router = APIRouter(tags=["identity"], dependencies=[Depends(hmac)], responses=_ERRORS)

    @router.post(
        "/identities",
        status_code=201,
        response_model=CreateIdentityResponse,
        response_model_exclude_none=True,
        openapi_extra=body_doc(CreateIdentityRequest, required=False),
    )
    async def create_identity(request: Request) -> CreateIdentityResponse:
        body = await read_json(request, CreateIdentityRequest, allow_empty=True)
        scopes = body.createTokenWithScopes if body else None
        minutes = body.expiresInMinutes if body else None
        if scopes is None and minutes is not None:
            scopes = []  # a lifetime without scopes is a token request with no scopes: 400
        created = await service.create_user(scopes, minutes)
        return CreateIdentityResponse(
            identity=CommunicationIdentityModel(id=created.user),
            accessToken=_token(created.token) if created.token else None,
        )

    @router.delete("/identities/{user_id}", status_code=204, response_class=Response)
    async def delete_identity(user_id: str) -> Response:
        await service.delete_user(service.parse_user(user_id))
        return Response(status_code=204)

    @router.post(
        "/identities/{user_id}/:issueAccessToken",
        response_model=AccessTokenModel,
        openapi_extra=body_doc(IssueTokenRequest),
    )
    async def issue_access_token(user_id: str, request: Request) -> AccessTokenModel:
        user = service.parse_user(user_id)
        body = await read_json(request, IssueTokenRequest)
        assert body is not None
        return _token(await service.issue_token(user, body.scopes, body.expiresInMinutes))

    @router.post("/identities/{user_id}/:revokeAccessTokens", status_code=204, response_class=Response)
    async def revoke_access_tokens(user_id: str) -> Response:
        await service.revoke_tokens(service.parse_user(user_id))
        return Response(status_code=204)

    return router
