"""Push registration routes.

data plane (user token, any chat or voip scope) — one's own devices:
    POST   /push/registrations                       register (201) or renew (200) a device
    GET    /push/registrations                       list
    DELETE /push/registrations/{registrationId}
management plane (HMAC) — any user's devices, for the trusted service:
    POST   /push/users/{userId}/registrations
    GET    /push/users/{userId}/registrations
    DELETE /push/users/{userId}/registrations        all of them
    DELETE /push/users/{userId}/registrations/{registrationId}
public:
    GET    /push/webpush/applicationServerKey        the VAPID public key pages subscribe with
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from telex.core.clock import iso_time
from telex.core.errors import ErrorCode, TelexError
from telex.identity import Principal, Scope
from telex.push.registry import DeviceSpec, Platform, Registration
from telex.push.service import PushRegistrationService
from telex.push.wire import (
    ApplicationServerKeyModel,
    RegistrationModel,
    RegistrationPage,
    RegistrationRequest,
)
from telex.web.auth import BearerAuth, HmacAuth
from telex.web.body import body_doc, read_json
from telex.web.errors import ErrorResponse

__all__ = ["push_router"]

_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorResponse} for s in (400, 401, 403, 404, 413, 415, 500, 503)
}
_OWN = "/push/registrations"
_ANY = "/push/users/{user_id}/registrations"


def _model(reg: Registration) -> RegistrationModel:
    out = RegistrationModel(
        id=reg.id,
        platform=reg.platform.value,
        createdOn=iso_time(reg.created_at),
        expiresOn=iso_time(reg.expires_at),
    )
    if reg.platform is Platform.APNS:
        out.apnsPushType = str(reg.options.get("pushType"))
        out.apnsEnvironment = str(reg.options.get("environment"))
    if reg.platform is Platform.FCM:
        out.fcmTargetKind = str(reg.options.get("targetKind"))
    return out


def _spec(body: RegistrationRequest) -> DeviceSpec:
    return DeviceSpec(
        platform=Platform(body.platform),
        token=body.token or "",
        subscription=body.pushSubscription.model_dump() if body.pushSubscription is not None else None,
        apns_push_type=body.apnsPushType,
        apns_environment=body.apnsEnvironment,
        fcm_target_kind=body.fcmTargetKind,
    )


def push_router(
    service: PushRegistrationService,
    bearer: BearerAuth,
    hmac: HmacAuth,
    parse_user: Callable[[str], str],
    application_server_key: str | None,
) -> APIRouter:
    router = APIRouter(tags=["push"], responses=_ERRORS)
    user = Depends(bearer.require(*Scope))
    signed = [Depends(hmac)]

    async def _register(owner: str, request: Request, response: Response) -> RegistrationModel:
        body = await read_json(request, RegistrationRequest)
        assert body is not None
        reg, created = await service.register(owner, _spec(body), body.ttlSeconds)
        response.status_code = 201 if created else 200
        return _model(reg)

    created: dict[int | str, dict[str, Any]] = {
        201: {"model": RegistrationModel, "description": "Registered"}
    }

    @router.post(
        _OWN, response_model=RegistrationModel, responses=created, openapi_extra=body_doc(RegistrationRequest)
    )
    async def register_own(
        request: Request, response: Response, principal: Principal = user
    ) -> RegistrationModel:
        return await _register(principal.user_id, request, response)

    @router.get(_OWN, response_model=RegistrationPage)
    async def list_own(principal: Principal = user) -> RegistrationPage:
        return RegistrationPage(value=[_model(r) for r in await service.registrations(principal.user_id)])

    @router.delete(_OWN + "/{registration_id}", status_code=204, response_class=Response)
    async def delete_own(registration_id: str, principal: Principal = user) -> Response:
        await service.unregister(principal.user_id, registration_id)
        return Response(status_code=204)

    @router.post(
        _ANY, dependencies=signed, response_model=RegistrationModel, responses=created,
        openapi_extra=body_doc(RegistrationRequest),
    )  # fmt: skip
    async def register_for(user_id: str, request: Request, response: Response) -> RegistrationModel:
        return await _register(parse_user(user_id), request, response)

    @router.get(_ANY, dependencies=signed, response_model=RegistrationPage)
    async def list_for(user_id: str) -> RegistrationPage:
        return RegistrationPage(value=[_model(r) for r in await service.registrations(parse_user(user_id))])

    @router.delete(_ANY, dependencies=signed, status_code=204, response_class=Response)
    async def delete_all_for(user_id: str) -> Response:
        await service.unregister_all(parse_user(user_id))
        return Response(status_code=204)

    @router.delete(_ANY + "/{registration_id}", dependencies=signed, status_code=204, response_class=Response)
    async def delete_for(user_id: str, registration_id: str) -> Response:
        await service.unregister(parse_user(user_id), registration_id)
        return Response(status_code=204)

    @router.get("/push/webpush/applicationServerKey", response_model=ApplicationServerKeyModel)
    async def vapid_key() -> ApplicationServerKeyModel:
        """The server's VAPID public key: ``PushManager.subscribe({applicationServerKey})``."""
        if application_server_key is None:
            raise TelexError(ErrorCode.NOT_FOUND, "Web Push is not configured here.")
        return ApplicationServerKeyModel(applicationServerKey=application_server_key)

    return router
