"""Calling signaling routes (data plane, bearer ``voip``/``voip.join`` token).

Signaling goes *upstream over REST and downstream over the realtime gateway*: a client sends
each command (start, join, accept, SDP, ICE, mute …) as one authenticated request, which the
service commits together with its event; the event reaches the other participants through
``/realtime`` like every other event. So signaling gets the REST boundary's authentication,
validation, error codes and idempotent retries for free, and the gateway stays one-way.

    POST /calling/calls                                   start a 1:1 or direct group call (users,
                                                          or phone numbers through the PSTN gateway)
    POST /calling/groups/{groupId}/:join                  join (or start) a group call
    GET  /calling/calls/{callId}                          the call, for its participants
    POST /calling/calls/{callId}/participants/{pid}/:accept | :decline | :hangUp | :hold | :resume
                                                     /:setMediaState | :signal | :openDataChannel
                                                     /:keepAlive  (every keepAliveIntervalSeconds)
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from telex.calling.events import call_payload
from telex.calling.machine import Call, LegState
from telex.calling.service import CALL_SCOPES, CallingService, PhoneDialer
from telex.calling.wire import (
    AcceptRequest,
    CallModel,
    DataChannelRequest,
    HangUpRequest,
    JoinedModel,
    JoinGroupRequest,
    MediaStateRequest,
    SignalRequest,
    StartCallRequest,
)
from telex.chat.wire import IdentifierModel
from telex.core.errors import ErrorCode, TelexError
from telex.identity import Principal
from telex.web.auth import BearerAuth
from telex.web.body import body_doc, read_json
from telex.web.errors import ErrorResponse
from telex.web.lean import LeanRoutes, hot_route

__all__ = ["calling_router"]

_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorResponse} for s in (400, 401, 403, 404, 409, 413, 415, 429, 500, 503)
}
_LEG = "/calling/calls/{call_id}/participants/{participant_id}"


async def _check_phones(pstn: PhoneDialer, caller: IdentifierModel | None, phones: list[str]) -> str:
    """The caller id for calls to ``phones`` (``alternateCallerId``): 400 without one, 403 for
    one the resource may not call from, or for a destination no trunk may call."""
    raw = caller.raw() if caller is not None else ""
    if not raw.startswith("4:+"):
        raise TelexError(ErrorCode.VALIDATION_FAILED, "Calls to phone numbers need alternateCallerId.")
    for target in phones:
        await pstn.check_outbound(raw[2:], target[2:])
    return raw[2:]


def calling_router(
    service: CallingService, bearer: BearerAuth, lean: LeanRoutes, pstn: PhoneDialer | None = None
) -> APIRouter:
    """``pstn``: the gateway phone-number targets are dialled through (None: 501 for them)."""
    router = APIRouter(tags=["calling"], responses=_ERRORS)
    authenticate = bearer.require(*sorted(CALL_SCOPES))
    auth = Depends(authenticate)

    @router.post(
        "/calling/calls", status_code=201, response_model=JoinedModel,
        openapi_extra=body_doc(StartCallRequest),
    )  # fmt: skip
    async def start_call(request: Request, principal: Principal = auth) -> dict[str, Any]:
        body = await read_json(request, StartCallRequest)
        assert body is not None
        targets = [t.raw() for t in body.targets]
        # Without a PSTN gateway phone numbers are not callable targets (400, as before).
        phones = [t for t in targets if t.startswith("4:")] if pstn is not None else []
        caller_id = await _check_phones(pstn, body.alternateCallerId, phones) if pstn and phones else ""
        joined = await service.start_call(
            principal, targets, video=body.video, display_name=body.displayName, phone=bool(phones)
        )
        if pstn is not None and phones:
            for leg in joined.call.legs:
                if leg.user_id.startswith("4:") and leg.state is LegState.RINGING:
                    await pstn.dial(joined.call.id, leg.id, leg.user_id[2:], caller_id)
        return joined.payload()

    @router.post(
        "/calling/groups/{group_id}/:join", response_model=JoinedModel,
        openapi_extra=body_doc(JoinGroupRequest, required=False),
    )  # fmt: skip
    async def join_group(group_id: str, request: Request, principal: Principal = auth) -> dict[str, Any]:
        body = await read_json(request, JoinGroupRequest, allow_empty=True) or JoinGroupRequest()
        joined = await service.join_group(
            principal, group_id, video=body.video, display_name=body.displayName
        )
        return joined.payload()

    @router.get("/calling/calls/{call_id}", response_model=CallModel, response_model_exclude_none=True)
    async def get_call(call_id: str, principal: Principal = auth) -> dict[str, Any]:
        return call_payload(await service.get_call(principal, call_id))

    @router.post(
        _LEG + "/:accept", response_model=JoinedModel,
        openapi_extra=body_doc(AcceptRequest, required=False),
    )  # fmt: skip
    async def accept(
        call_id: str, participant_id: str, request: Request, principal: Principal = auth
    ) -> dict[str, Any]:
        body = await read_json(request, AcceptRequest, allow_empty=True) or AcceptRequest()
        return (await service.accept(principal, call_id, participant_id, video=body.video)).payload()

    def _call(call: Call) -> dict[str, Any]:
        return call_payload(call)

    @router.post(_LEG + "/:decline", response_model=CallModel, response_model_exclude_none=True)
    async def decline(call_id: str, participant_id: str, principal: Principal = auth) -> dict[str, Any]:
        return _call(await service.decline(principal, call_id, participant_id))

    @router.post(
        _LEG + "/:hangUp", response_model=CallModel, response_model_exclude_none=True,
        openapi_extra=body_doc(HangUpRequest, required=False),
    )  # fmt: skip
    async def hang_up(
        call_id: str, participant_id: str, request: Request, principal: Principal = auth
    ) -> dict[str, Any]:
        body = await read_json(request, HangUpRequest, allow_empty=True) or HangUpRequest()
        call = await service.hang_up(principal, call_id, participant_id, for_everyone=body.forEveryone)
        return _call(call)

    @router.post(_LEG + "/:hold", response_model=CallModel, response_model_exclude_none=True)
    async def hold(call_id: str, participant_id: str, principal: Principal = auth) -> dict[str, Any]:
        return _call(await service.hold(principal, call_id, participant_id))

    @router.post(_LEG + "/:resume", response_model=CallModel, response_model_exclude_none=True)
    async def resume(call_id: str, participant_id: str, principal: Principal = auth) -> dict[str, Any]:
        return _call(await service.resume(principal, call_id, participant_id))

    @router.post(
        _LEG + "/:setMediaState", response_model=CallModel, response_model_exclude_none=True,
        openapi_extra=body_doc(MediaStateRequest),
    )  # fmt: skip
    async def set_media_state(
        call_id: str, participant_id: str, request: Request, principal: Principal = auth
    ) -> dict[str, Any]:
        body = await read_json(request, MediaStateRequest)
        assert body is not None
        call = await service.set_media(
            principal, call_id, participant_id,
            muted=body.isMuted, video=body.isVideoOn, screen_sharing=body.isScreenSharing,
        )  # fmt: skip
        return _call(call)

    # Hot routes (web/lean.py): one handler serves both ways in; it authenticates by itself.
    @hot_route(
        router, lean, "POST", _LEG + "/:signal",
        status_code=204, response_class=Response, openapi_extra=body_doc(SignalRequest),
    )  # fmt: skip
    async def signal(request: Request, call_id: str, participant_id: str) -> Response:
        principal = await authenticate(request)
        body = await read_json(request, SignalRequest)
        assert body is not None
        candidate = body.candidate.model_dump() if body.candidate is not None else None
        await service.signal(
            principal, call_id, participant_id, to=body.to, type_=body.type, sdp=body.sdp,
            candidate=candidate,
        )  # fmt: skip
        return Response(status_code=204)

    @hot_route(router, lean, "POST", _LEG + "/:keepAlive", status_code=204, response_class=Response)
    async def keep_alive(request: Request, call_id: str, participant_id: str) -> Response:
        principal = await authenticate(request)
        await service.keep_alive(principal, call_id, participant_id)
        return Response(status_code=204)

    @router.post(
        _LEG + "/:openDataChannel", status_code=204, response_class=Response,
        openapi_extra=body_doc(DataChannelRequest),
    )  # fmt: skip
    async def open_data_channel(
        call_id: str, participant_id: str, request: Request, principal: Principal = auth
    ) -> Response:
        body = await read_json(request, DataChannelRequest)
        assert body is not None
        await service.open_data_channel(
            principal, call_id, participant_id, channel_id=body.channelId,
            reliability=body.reliability, priority=body.priority, recipients=body.participants,
        )  # fmt: skip
        return Response(status_code=204)

    return router
