"""Relay configuration (network traversal, api-version 2022-03-01-preview, acs-wire.md §3.6).

    POST /networkTraversal/:issueRelayConfiguration
      Authorization: HMAC-SHA256 …   the trusted service asks for any user (or none)
      Authorization: Bearer <token>  a client with a voip or voip.join token asks for itself

Both return ICE servers (Telex's STUN/TURN and any external relays sharing the secret) with a
time-limited TURN REST credential bound to the user.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from telex.core.clock import Clock
from telex.core.errors import ErrorCode, TelexError
from telex.identity import IdentityService, Scope, TokenVerifier
from telex.turn.relayconfig import MAX_TTL, issue_relay_configuration
from telex.turn.settings import TurnSettings
from telex.web.apiversion import ApiVersions
from telex.web.auth import HmacAuth, bearer_token
from telex.web.body import body_doc, read_json, request_hostname
from telex.web.errors import ErrorResponse
from telex.web.lean import LeanRoutes, hot_route

__all__ = ["RELAY_VERSIONS", "relay_router"]

# The network traversal API's versions; the official SDKs (Python 1.1.0b2, JS 1.1.0-beta.1) send
# 2022-03-01-preview.
RELAY_VERSIONS = ApiVersions(
    "network traversal", ("2021-06-21-preview", "2021-10-08-preview", "2022-03-01-preview")
)


class RelayConfigurationRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str | None = Field(default=None, max_length=256)
    routeType: Literal["any", "nearest"] | None = None
    ttl: Annotated[StrictInt, Field(ge=0, le=MAX_TTL)] = MAX_TTL


class IceServer(BaseModel):
    urls: list[str]
    username: str
    credential: str
    routeType: Literal["any", "nearest"]


class RelayConfiguration(BaseModel):
    expiresOn: str
    iceServers: list[IceServer]


_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorResponse} for s in (400, 401, 403, 404, 413, 415, 429, 500, 503)
}
_VOIP = (Scope.VOIP, Scope.VOIP_JOIN)


def relay_router(
    settings: TurnSettings,
    secrets: Callable[[], Sequence[bytes]],
    identity: IdentityService,
    verifier: TokenVerifier,
    hmac: HmacAuth,
    clock: Clock,
    lean: LeanRoutes,
) -> APIRouter:
    router = APIRouter(
        tags=["network traversal"], responses=_ERRORS, dependencies=[Depends(RELAY_VERSIONS.dependency)]
    )

    # A hot route (web/lean.py): clients fetch relay credentials before every call.
    @hot_route(
        router, lean, "POST", "/networkTraversal/:issueRelayConfiguration",
        response_model=RelayConfiguration, openapi_extra=body_doc(RelayConfigurationRequest, required=False),
    )  # fmt: skip
    async def issue(request: Request) -> Response:
        RELAY_VERSIONS.check(request)  # the lean way in skips the router's dependency
        generation: int | None = None
        if request.headers.get("authorization", "").lower().startswith("bearer "):
            principal = await verifier.verify(bearer_token(request), _VOIP)
            body = await read_json(request, RelayConfigurationRequest, allow_empty=True)
            if body and body.id is not None and body.id != principal.user_id:
                raise TelexError(ErrorCode.FORBIDDEN, "A user may only get relay credentials for itself.")
            user: str = principal.user_id
            generation = principal.generation
        else:
            await hmac(request)
            body = await read_json(request, RelayConfigurationRequest, allow_empty=True)
            user = "anonymous"
            if body and body.id is not None:
                user_id = identity.parse_user(body.id)
                generation, live = await verifier.user_state(user_id)
                if not live:
                    raise TelexError(ErrorCode.IDENTITY_NOT_FOUND, "The identity does not exist.")
                user = user_id
        ttl, route_type = (body.ttl, body.routeType or "any") if body else (MAX_TTL, "any")
        host = settings.external_address or request_hostname(request) or "127.0.0.1"
        config = issue_relay_configuration(
            settings, secrets()[0], user, ttl, clock.now(), host, route_type, generation=generation
        )
        return JSONResponse(config)

    return router
