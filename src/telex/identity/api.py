"""Identity API routes (management plane, HMAC-signed; api-versions in ``IDENTITY_VERSIONS``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from telex.core.ratelimit import RateLimiter
from telex.identity.service import IdentityService
from telex.identity.settings import IdentitySettings
from telex.identity.tokens import IssuedToken
from telex.identity.wire import (
    AccessTokenModel,
    CommunicationIdentityModel,
    CreateIdentityRequest,
    CreateIdentityResponse,
    IssueTokenRequest,
)
from telex.web.apiversion import ApiVersions
from telex.web.auth import HmacAuth
from telex.web.body import body_doc, read_json
from telex.web.errors import ErrorResponse
from telex.web.lean import LeanRoutes, hot_route

__all__ = ["IDENTITY_VERSIONS", "identity_router"]

# The identity API's GA versions; the official SDKs (Python 1.5, JS 1.3) send 2023-10-01.
IDENTITY_VERSIONS = ApiVersions("identity", ("2021-03-07", "2022-06-01", "2022-10-01", "2023-10-01"))

_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorResponse} for s in (400, 401, 404, 413, 415, 429, 500, 503)
}


def _token(issued: IssuedToken) -> dict[str, str]:
    """``AccessTokenModel``'s JSON, built directly on the hot route."""
    return {"token": issued.token, "expiresOn": datetime.fromtimestamp(issued.expires_at, UTC).isoformat()}


def identity_router(
    service: IdentityService,
    hmac: HmacAuth,
    lean: LeanRoutes,
    limiter: RateLimiter | None = None,
    settings: IdentitySettings | None = None,
) -> APIRouter:
    """``limiter`` and ``settings``: ACS's per-operation rate limits (none without them)."""
    router = APIRouter(
        tags=["identity"], responses=_ERRORS, dependencies=[Depends(IDENTITY_VERSIONS.dependency)]
    )

    def limit(operation: str, per_30s: str) -> None:
        if limiter is not None and settings is not None:
            limiter.hit(f"identity:{operation}", [(getattr(settings, per_30s), 30.0)])

    # Every route is HMAC-signed: FastAPI checks it for the routes of ``signed``; the hot routes
    # (web/lean.py) check it themselves, first thing.
    signed = APIRouter(dependencies=[Depends(hmac)])

    @hot_route(
        router, lean, "POST", "/identities",
        status_code=201, response_model=CreateIdentityResponse, response_model_exclude_none=True,
        openapi_extra=body_doc(CreateIdentityRequest, required=False),
    )  # fmt: skip
    async def create_identity(request: Request) -> Response:
        IDENTITY_VERSIONS.check(request)  # the lean way in skips the router's dependency
        await hmac(request)
        body = await read_json(request, CreateIdentityRequest, allow_empty=True)
        limit("create", "issue_per_30s")
        scopes = body.createTokenWithScopes if body else None
        minutes = body.expiresInMinutes if body else None
        if scopes is None and minutes is not None:
            scopes = []  # a lifetime without scopes is a token request with no scopes: 400
        created = await service.create_user(scopes, minutes)
        out = CreateIdentityResponse(
            identity=CommunicationIdentityModel(id=created.user),
            accessToken=AccessTokenModel(**_token(created.token)) if created.token else None,
        )
        return JSONResponse(out.model_dump(exclude_none=True), status_code=201)

    @signed.delete("/identities/{user_id}", status_code=204, response_class=Response)
    async def delete_identity(user_id: str) -> Response:
        limit("delete", "revoke_per_30s")
        await service.delete_user(service.parse_user(user_id))
        return Response(status_code=204)

    @hot_route(
        router, lean, "POST", "/identities/{user_id}/:issueAccessToken",
        response_model=AccessTokenModel, openapi_extra=body_doc(IssueTokenRequest),
    )  # fmt: skip
    async def issue_access_token(request: Request, user_id: str) -> Response:
        IDENTITY_VERSIONS.check(request)
        await hmac(request)
        user = service.parse_user(user_id)
        body = await read_json(request, IssueTokenRequest)
        assert body is not None
        limit("issue", "issue_per_30s")
        return JSONResponse(_token(await service.issue_token(user, body.scopes, body.expiresInMinutes)))

    @signed.post("/identities/{user_id}/:revokeAccessTokens", status_code=204, response_class=Response)
    async def revoke_access_tokens(user_id: str) -> Response:
        limit("revoke", "revoke_per_30s")
        await service.revoke_tokens(service.parse_user(user_id))
        return Response(status_code=204)

    router.include_router(signed)
    return router
