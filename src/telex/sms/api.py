"""SMS API routes (management plane, HMAC-signed).

POST /sms                             send to 1–100 recipients (ACS 2021-03-07): 202, a result each
POST /sms/optouts:add|:remove|:check  ACS's opt-out management (2024-12-10-preview): 200
GET  /sms/numbers/{number}/messages   Telex: the message log of one of our numbers, newest first
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from telex.core.clock import iso_time
from telex.sms.service import LoggedSms, Recipient, SmsService
from telex.sms.wire import (
    MessageLogPage,
    OptOutRequest,
    OptOutResponse,
    OptOutResponseItem,
    SendMessageRequest,
    SmsLogEntry,
    SmsSendResponse,
    SmsSendResponseItem,
)
from telex.telephony.numbers import parse_e164
from telex.web.apiversion import ApiVersions
from telex.web.auth import HmacAuth
from telex.web.body import body_doc, read_json
from telex.web.errors import ErrorResponse
from telex.web.lean import LeanRoutes, hot_route

__all__ = ["SMS_VERSIONS", "log_entry", "sms_router"]

# 2021-03-07: SmsClient (Python 1.1, JavaScript 1.1); 2024-12-10-preview: the opt-out API.
SMS_VERSIONS = ApiVersions("SMS", ("2021-03-07", "2024-12-10-preview"))

_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorResponse} for s in (400, 401, 404, 413, 415, 429, 500, 503)
}


def log_entry(m: LoggedSms) -> SmsLogEntry:
    outbound = m.direction == "out"
    return SmsLogEntry(
        id=m.id,
        direction="outbound" if outbound else "inbound",
        from_=m.number if outbound else m.peer,
        to=m.peer if outbound else m.number,
        message=m.text,
        segmentCount=m.segments,
        status=m.status,
        statusDetails=m.details,
        tag=m.tag,
        createdDateTime=iso_time(m.created_at),
        completedDateTime=iso_time(m.done_at) if m.done_at is not None else None,
    )


def sms_router(service: SmsService, hmac: HmacAuth, lean: LeanRoutes) -> APIRouter:
    router = APIRouter(tags=["sms"], responses=_ERRORS, dependencies=[Depends(SMS_VERSIONS.dependency)])
    # Every route is HMAC-signed: FastAPI checks it for the routes of ``signed``; the hot route
    # (a send, web/lean.py) checks it itself, first thing.
    signed = APIRouter(dependencies=[Depends(hmac)])

    @hot_route(
        router, lean, "POST", "/sms",
        status_code=202, response_model=SmsSendResponse, response_model_exclude_none=True,
        openapi_extra=body_doc(SendMessageRequest),
    )  # fmt: skip
    async def send(request: Request) -> Response:
        SMS_VERSIONS.check(request)  # the lean way in skips the router's dependency
        await hmac(request)
        body = await read_json(request, SendMessageRequest)
        assert body is not None
        options = body.smsSendOptions
        recipients = [
            Recipient(r.to, r.repeatabilityRequestId, r.repeatabilityFirstSent) for r in body.smsRecipients
        ]
        results = await service.send(
            body.from_, body.message, recipients, options.enableDeliveryReport if options else False,
            options.tag if options else None,
        )  # fmt: skip
        out = SmsSendResponse(
            value=[
                SmsSendResponseItem(
                    to=r.to,
                    messageId=r.message_id,
                    httpStatusCode=r.status,
                    repeatabilityResult=r.repeatability,
                    successful=r.successful,
                    errorMessage=r.error,
                )
                for r in results
            ]
        )
        return JSONResponse(out.model_dump(exclude_none=True), status_code=202)

    async def optouts(action: str, request: Request) -> OptOutResponse:
        body = await read_json(request, OptOutRequest)
        assert body is not None
        results = await service.optouts(action, body.from_, [r.to for r in body.recipients])
        return OptOutResponse(
            value=[
                OptOutResponseItem(
                    to=r.to, httpStatusCode=r.status, isOptedOut=r.opted_out, errorMessage=r.error
                )
                for r in results
            ]
        )

    kwargs: dict[str, Any] = {
        "response_model": OptOutResponse, "response_model_exclude_none": True,
        "openapi_extra": body_doc(OptOutRequest),
    }  # fmt: skip

    @signed.post("/sms/optouts:add", **kwargs)
    async def add_opt_outs(request: Request) -> Any:
        return await optouts("add", request)

    @signed.post("/sms/optouts:remove", **kwargs)
    async def remove_opt_outs(request: Request) -> Any:
        return await optouts("remove", request)

    @signed.post("/sms/optouts:check", **kwargs)
    async def check_opt_outs(request: Request) -> Any:
        return await optouts("check", request)

    @signed.get(
        "/sms/numbers/{number}/messages",
        response_model=MessageLogPage,
        response_model_exclude_none=True,
        response_model_by_alias=True,
    )
    async def message_log(
        request: Request,
        number: str,
        max_page_size: Annotated[int, Query(alias="maxPageSize", ge=1, le=1000)] = 100,
        before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    ) -> Any:
        e164 = parse_e164(number if number.startswith("+") else "+" + number)
        size = min(max_page_size, service.settings.max_page_size)
        found = await service.log(e164, before, size + 1)
        link = None
        if len(found) > size:
            version = request.query_params.get("api-version") or SMS_VERSIONS.versions[0]
            query = urlencode({"maxPageSize": size, "before": found[size - 1].seq, "api-version": version})
            link = f"/sms/numbers/{quote(e164, safe='')}/messages?{query}"
        return MessageLogPage(value=[log_entry(m) for m in found[:size]], nextLink=link)

    router.include_router(signed)
    return router
