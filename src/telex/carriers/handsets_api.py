"""The handset API of the simulated carrier (HMAC-signed; off with ``[carriers.simulated] handsets``).

POST /simulator/handsets/{number}/messages {to, message}  the handset texts one of our numbers
GET  /simulator/handsets/{number}/messages               what it sent and what reached it
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from telex.carriers.handsets import Handsets
from telex.sms.api import log_entry
from telex.sms.wire import MessageLogPage
from telex.web.auth import HmacAuth
from telex.web.body import body_doc, read_json
from telex.web.errors import ErrorResponse

__all__ = ["HandsetSend", "HandsetSent", "handsets_router"]

_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorResponse} for s in (400, 401, 404, 409, 413, 415, 429, 500, 503)
}


class HandsetSend(BaseModel):
    model_config = ConfigDict(extra="ignore")

    to: StrictStr = Field(max_length=32)
    message: StrictStr = Field(min_length=1, max_length=2048)


class HandsetSent(BaseModel):
    messageId: str


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
