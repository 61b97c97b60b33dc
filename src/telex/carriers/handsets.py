"""The simulated carrier's handsets: outside numbers a test or a person drives by hand.

    POST /simulator/handsets/{number}/messages {to, message}  the handset texts one of our numbers
                                                              (an SMSReceived on it, keywords applied)
    GET  /simulator/handsets/{number}/messages               what the handset sent and received,
                                                              newest first

HMAC-signed like the rest of the management plane; off with ``[carriers.simulated] handsets``.
Only numbers the simulated carrier serves take part: a number of an SMPP carrier is real.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from telex.carriers.routing import CarrierRouter
from telex.carriers.simulated import SIMULATED
from telex.core.errors import ErrorCode, TelexError
from telex.sms.api import log_entry
from telex.sms.service import Directory, LoggedSms, SmsService
from telex.sms.wire import MessageLogPage
from telex.telephony.numbers import parse_e164
from telex.web.auth import HmacAuth
from telex.web.body import body_doc, read_json
from telex.web.errors import ErrorResponse

__all__ = ["HandsetSend", "HandsetSent", "Handsets", "handsets_router"]

_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorResponse} for s in (400, 401, 404, 409, 413, 415, 429, 500, 503)
}


class HandsetSend(BaseModel):
    model_config = ConfigDict(extra="ignore")

    to: StrictStr = Field(max_length=32)
    message: StrictStr = Field(min_length=1, max_length=2048)


class HandsetSent(BaseModel):
    messageId: str


class Handsets:
    """What the handset routes (and the demo) do, without HTTP."""

    def __init__(self, sms: SmsService, directory: Directory, router: CarrierRouter) -> None:
        self._sms, self._directory, self._router = sms, directory, router

    async def _outside(self, number: str) -> str:
        e164 = parse_e164(number if number.startswith("+") else "+" + number)
        if self._router.carrier_for(e164) != SIMULATED:
            raise TelexError(ErrorCode.NOT_FOUND, "That number is not on the simulated carrier.")
        if await self._directory.lookup(e164) is not None:
            raise TelexError(ErrorCode.CONFLICT, "That number is owned here: send from it with the SMS API.")
        return e164

    async def send(self, handset: str, to: str, message: str) -> str:
        """Text our number ``to`` from the outside number ``handset``; 404 if ``to`` takes no SMS here."""
        source = await self._outside(handset)
        target = parse_e164(to)
        if self._router.carrier_for(target) != SIMULATED:
            raise TelexError(ErrorCode.NOT_FOUND, "That number is not on the simulated carrier.")
        if "\x00" in message or not message:
            raise TelexError(ErrorCode.VALIDATION_FAILED, "message must be text.")
        message_id = await self._sms.inbound(SIMULATED, source, target, message)
        if message_id is None:
            raise TelexError(ErrorCode.NOT_FOUND, "That number does not receive SMS on this server.")
        return message_id

    async def messages(self, handset: str, before: int | None, limit: int) -> list[LoggedSms]:
        """What the handset sent, and what reached it (delivered messages; a blocked or failed one
        never arrived), newest first."""
        source = await self._outside(handset)
        found = await self._sms.log(source, before, limit, peer=True)
        return [
            m for m in found if m.carrier == SIMULATED and (m.direction == "in" or m.status == "delivered")
        ]


def handsets_router(handsets: Handsets, hmac: HmacAuth) -> APIRouter:
    router = APIRouter(tags=["simulated carrier"], dependencies=[Depends(hmac)], responses=_ERRORS)

    @router.post(
        "/simulator/handsets/{number}/messages",
        status_code=201,
        response_model=HandsetSent,
        openapi_extra=body_doc(HandsetSend),
    )
    async def handset_send(number: str, request: Request) -> Any:
        body = await read_json(request, HandsetSend)
        assert body is not None
        return HandsetSent(messageId=await handsets.send(number, body.to, body.message))

    @router.get(
        "/simulator/handsets/{number}/messages",
        response_model=MessageLogPage,
        response_model_exclude_none=True,
        response_model_by_alias=True,
    )
    async def handset_messages(
        number: str,
        max_page_size: Annotated[int, Query(alias="maxPageSize", ge=1, le=1000)] = 100,
        before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    ) -> Any:
        found = await handsets.messages(number, before, max_page_size + 1)
        link = None
        if len(found) > max_page_size:
            query = urlencode({"maxPageSize": max_page_size, "before": found[max_page_size - 1].seq})
            link = f"/simulator/handsets/{quote(number, safe='')}/messages?{query}"
        return MessageLogPage(value=[log_entry(m) for m in found[:max_page_size]], nextLink=link)

    return router
