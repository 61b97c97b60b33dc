"""Call Automation routes (management plane, HMAC-signed; acs-wire.md §3.7).

    POST /calling/callConnections                    201  create            R
    POST /calling/callConnections:answer|:connect    200                    R
    POST /calling/callConnections:reject|:redirect   204                    R
    GET|DELETE /calling/callConnections/{id}         200 | 204
    POST …/{id}:terminate 204 · :transferToParticipant 202                  R
    GET  …/{id}/participants[/{rawId}]               200
    POST …/{id}/participants:add|:remove|:cancelAddParticipant 202 · :mute 200     R
    POST …/{id}:play|:recognize|:cancelAllMediaOperations|:sendDtmfTones 202
    POST …/{id}:hold|:unhold|:start/stopContinuousDtmfRecognition 200
    POST …/{id}:startTranscription … :startMediaStreaming …              501 (no AI service)
    POST /calling/recordings 200 · GET|DELETE /calling/recordings/{id} · :pause|:resume 202
    GET|DELETE /calling/recordings/{id}/content · GET …/metadata     (downloads, HMAC-signed)
    GET /calling/.well-known/acsopenidconfiguration | acskeys       (public: callback JWT keys)

R: repeatable (``Repeatability-Request-ID``; ``repeatability``). Routes with a literal suffix
(``{id}:play``) are registered before ``{id}`` so the parameter never swallows the action.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel

from telex.automation.keys import CallbackSigner
from telex.automation.media_ops import MediaOps
from telex.automation.repeatability import Repeatability, RepeatabilityError, fingerprint
from telex.automation.service import AutomationService, not_implemented
from telex.automation.wire import (
    AddParticipantRequest,
    AnswerCallRequest,
    CancelAddParticipantRequest,
    ConnectRequest,
    ContinuousDtmfRequest,
    CreateCallRequest,
    HoldRequest,
    MuteParticipantsRequest,
    PlayRequest,
    RecognizeRequest,
    RedirectCallRequest,
    RejectCallRequest,
    RemoveParticipantRequest,
    SendDtmfTonesRequest,
    StartRecordingRequest,
    TransferToParticipantRequest,
    UnholdRequest,
)
from telex.web.auth import HmacAuth
from telex.web.body import body_doc, read_json
from telex.web.errors import ErrorResponse, error_response

__all__ = ["automation_router"]

M = TypeVar("M", bound=BaseModel)
_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorResponse} for s in (400, 401, 404, 409, 412, 413, 415, 500, 501, 503)
}
_CC = "/calling/callConnections"
_ONE = _CC + "/{connection_id}"
Result = tuple[int, dict[str, Any] | None]


def automation_router(
    service: AutomationService,
    media: MediaOps,
    hmac: HmacAuth,
    repeat: Repeatability,
    signer: CallbackSigner,
) -> APIRouter:
    router = APIRouter(tags=["call automation"], responses=_ERRORS)
    signed = APIRouter(dependencies=[Depends(hmac)])

    async def body(request: Request, model: type[M]) -> M:
        parsed = await read_json(request, model)
        assert parsed is not None
        return parsed

    async def repeatable(request: Request, action: Callable[[], Awaitable[Result]]) -> Response:
        raw = await request.body()
        request_id = request.headers.get("repeatability-request-id")
        first_sent = request.headers.get("repeatability-first-sent")
        headers = {"repeatability-result": "accepted"} if request_id or first_sent else {}
        try:
            outcome = await repeat.run(
                request_id, first_sent, fingerprint(request.method, request.url.path, raw), action
            )
        except RepeatabilityError as exc:
            response = error_response(exc)
            response.headers["repeatability-result"] = "rejected"
            return response
        if outcome.body is None:
            return Response(status_code=outcome.status, headers=headers)
        return JSONResponse(outcome.body, status_code=outcome.status, headers=headers)

    def doc(model: type[BaseModel]) -> dict[str, Any]:
        return body_doc(model)

    # calls ----------------------------------------------------------------------------------------------
    @signed.post(_CC + ":answer", openapi_extra=doc(AnswerCallRequest))
    async def answer(request: Request) -> Response:
        async def run() -> Result:
            return 200, await service.answer(await body(request, AnswerCallRequest))

        return await repeatable(request, run)

    @signed.post(_CC + ":reject", status_code=204, openapi_extra=doc(RejectCallRequest))
    async def reject(request: Request) -> Response:
        async def run() -> Result:
            await service.reject(await body(request, RejectCallRequest))
            return 204, None

        return await repeatable(request, run)

    @signed.post(_CC + ":redirect", status_code=204, openapi_extra=doc(RedirectCallRequest))
    async def redirect(request: Request) -> Response:
        async def run() -> Result:
            await service.redirect(await body(request, RedirectCallRequest))
            return 204, None

        return await repeatable(request, run)

    @signed.post(_CC + ":connect", openapi_extra=doc(ConnectRequest))
    async def connect(request: Request) -> Response:
        async def run() -> Result:
            return 200, await service.connect(await body(request, ConnectRequest))

        return await repeatable(request, run)

    @signed.post(_CC, status_code=201, openapi_extra=doc(CreateCallRequest))
    async def create(request: Request) -> Response:
        async def run() -> Result:
            return 201, await service.create(await body(request, CreateCallRequest))

        return await repeatable(request, run)

    # the connection: actions first (see the module docstring) ----------------------------------------
    @signed.post(_ONE + ":terminate", status_code=204)
    async def terminate(request: Request, connection_id: str) -> Response:
        async def run() -> Result:
            await service.terminate(connection_id)
            return 204, None

        return await repeatable(request, run)

    @signed.post(
        _ONE + ":transferToParticipant", status_code=202, openapi_extra=doc(TransferToParticipantRequest)
    )
    async def transfer(request: Request, connection_id: str) -> Response:
        async def run() -> Result:
            return 202, await service.transfer(
                connection_id, await body(request, TransferToParticipantRequest)
            )

        return await repeatable(request, run)

    @signed.post(_ONE + "/participants:add", status_code=202, openapi_extra=doc(AddParticipantRequest))
    async def add_participant(request: Request, connection_id: str) -> Response:
        async def run() -> Result:
            return 202, await service.add_participant(
                connection_id, await body(request, AddParticipantRequest)
            )

        return await repeatable(request, run)

    @signed.post(_ONE + "/participants:remove", status_code=202, openapi_extra=doc(RemoveParticipantRequest))
    async def remove_participant(request: Request, connection_id: str) -> Response:
        async def run() -> Result:
            req = await body(request, RemoveParticipantRequest)
            return 202, await service.remove_participant(connection_id, req)

        return await repeatable(request, run)

    @signed.post(_ONE + "/participants:mute", openapi_extra=doc(MuteParticipantsRequest))
    async def mute(request: Request, connection_id: str) -> Response:
        async def run() -> Result:
            return 200, await service.mute(connection_id, await body(request, MuteParticipantsRequest))

        return await repeatable(request, run)

    @signed.post(
        _ONE + "/participants:cancelAddParticipant",
        status_code=202,
        openapi_extra=doc(CancelAddParticipantRequest),
    )
    async def cancel_add(request: Request, connection_id: str) -> Response:
        async def run() -> Result:
            return 202, await service.cancel_add(
                connection_id, await body(request, CancelAddParticipantRequest)
            )

        return await repeatable(request, run)

    # Operations that always answer 501 are served (with a message saying why) but not described
    # in /openapi.json: the document lists what this server does.
    @signed.post(_ONE + "/participants:moveHere", status_code=202, include_in_schema=False)
    async def move_here(connection_id: str) -> Response:
        raise not_implemented("Moving participants between calls is not supported by this server.")

    @signed.get(_ONE + "/participants")
    async def list_participants(connection_id: str) -> dict[str, Any]:
        return await service.list_participants(connection_id)

    @signed.get(_ONE + "/participants/{raw_id}")
    async def get_participant(connection_id: str, raw_id: str) -> dict[str, Any]:
        return await service.get_participant(connection_id, raw_id)

    @signed.post(_ONE + ":play", status_code=202, openapi_extra=doc(PlayRequest))
    async def play(request: Request, connection_id: str) -> Response:
        await media.play(connection_id, await body(request, PlayRequest))
        return Response(status_code=202)

    @signed.post(_ONE + ":recognize", status_code=202, openapi_extra=doc(RecognizeRequest))
    async def recognize(request: Request, connection_id: str) -> Response:
        await media.recognize(connection_id, await body(request, RecognizeRequest))
        return Response(status_code=202)

    @signed.post(_ONE + ":cancelAllMediaOperations", status_code=202)
    async def cancel_all(connection_id: str) -> Response:
        await media.cancel_all(connection_id)
        return Response(status_code=202)

    @signed.post(_ONE + ":startContinuousDtmfRecognition", openapi_extra=doc(ContinuousDtmfRequest))
    async def start_continuous(request: Request, connection_id: str) -> Response:
        await media.continuous(connection_id, await body(request, ContinuousDtmfRequest), start=True)
        return Response(status_code=200)

    @signed.post(_ONE + ":stopContinuousDtmfRecognition", openapi_extra=doc(ContinuousDtmfRequest))
    async def stop_continuous(request: Request, connection_id: str) -> Response:
        await media.continuous(connection_id, await body(request, ContinuousDtmfRequest), start=False)
        return Response(status_code=200)

    @signed.post(_ONE + ":sendDtmfTones", status_code=202, openapi_extra=doc(SendDtmfTonesRequest))
    async def send_dtmf(request: Request, connection_id: str) -> Response:
        async def run() -> Result:
            return 202, await media.send_dtmf(connection_id, await body(request, SendDtmfTonesRequest))

        return await repeatable(request, run)

    @signed.post(_ONE + ":hold", openapi_extra=doc(HoldRequest))
    async def hold(request: Request, connection_id: str) -> Response:
        await media.hold(connection_id, await body(request, HoldRequest), hold=True)
        return Response(status_code=200)

    @signed.post(_ONE + ":unhold", openapi_extra=doc(UnholdRequest))
    async def unhold(request: Request, connection_id: str) -> Response:
        await media.hold(connection_id, await body(request, UnholdRequest), hold=False)
        return Response(status_code=200)

    for action in (
        "startTranscription", "stopTranscription", "updateTranscription",
        "startMediaStreaming", "stopMediaStreaming",
    ):  # fmt: skip

        @signed.post(_ONE + ":" + action, status_code=202, name=action, include_in_schema=False)
        async def needs_ai(connection_id: str) -> Response:
            await service.connection(connection_id)
            raise not_implemented(
                "Transcription and media streaming need a speech or AI service, "
                "which this server does not have."
            )

    @signed.get(_ONE)
    async def get_call(connection_id: str) -> dict[str, Any]:
        return await service.get(connection_id)

    @signed.delete(_ONE, status_code=204)
    async def hang_up(connection_id: str) -> Response:
        await service.hang_up(connection_id)
        return Response(status_code=204)

    # recordings ----------------------------------------------------------------------------------------
    @signed.post("/calling/recordings", openapi_extra=doc(StartRecordingRequest))
    async def start_recording(request: Request) -> Response:
        async def run() -> Result:
            return 200, await media.start_recording(await body(request, StartRecordingRequest))

        return await repeatable(request, run)

    @signed.post("/calling/recordings/{recording_id}:pause", status_code=202)
    async def pause_recording(recording_id: str) -> Response:
        await media.recording_command(recording_id, "recordPause")
        return Response(status_code=202)

    @signed.post("/calling/recordings/{recording_id}:resume", status_code=202)
    async def resume_recording(recording_id: str) -> Response:
        await media.recording_command(recording_id, "recordResume")
        return Response(status_code=202)

    @signed.get("/calling/recordings/{recording_id}/content", response_class=FileResponse)
    async def recording_content(recording_id: str) -> FileResponse:
        path = await media.content_path(recording_id)
        return FileResponse(path, media_type="audio/wav", filename=f"{recording_id}.wav")

    @signed.delete("/calling/recordings/{recording_id}/content")
    async def delete_recording_content(recording_id: str) -> Response:
        await media.delete_content(recording_id)
        return Response(status_code=200)

    @signed.get("/calling/recordings/{recording_id}/metadata")
    async def recording_metadata(recording_id: str) -> dict[str, Any]:
        return await media.metadata(recording_id)

    @signed.get("/calling/recordings/{recording_id}")
    async def get_recording(recording_id: str) -> dict[str, Any]:
        return await media.recording(recording_id)

    @signed.delete("/calling/recordings/{recording_id}", status_code=204)
    async def stop_recording(recording_id: str) -> Response:
        await media.recording_command(recording_id, "recordStop")
        return Response(status_code=204)

    # public: the keys that verify callback JWTs ----------------------------------------------------------
    @router.get("/calling/.well-known/acsopenidconfiguration")
    async def openid_configuration() -> dict[str, Any]:
        return signer.openid_configuration()

    @router.get("/calling/.well-known/acskeys")
    async def jwks() -> dict[str, Any]:
        return signer.jwks()

    router.include_router(signed)
    return router
