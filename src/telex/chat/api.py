"""Chat API routes (data plane, bearer user token; acs-wire.md §3.2).

Routes authenticate, parse the body, call ``ChatService`` and shape the answer; every rule
(scope, membership, limits) lives in the service and its guard. Paging state lives entirely in
the ``nextLink`` (the SDK drops the original query when it follows one).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from telex.chat.guard import CHAT_SCOPES
from telex.chat.models import InvalidParticipant, Message, MessageType, Participant, ParticipantSpec
from telex.chat.service import ChatService
from telex.chat.settings import ChatSettings
from telex.chat.wire import (
    AddParticipantsRequest,
    AddParticipantsResponse,
    ChatErrorModel,
    ChatMessageContentModel,
    ChatMessageModel,
    ChatMessagesPage,
    ChatParticipantModel,
    ChatParticipantOut,
    ChatParticipantsPage,
    ChatThreadItemModel,
    ChatThreadModel,
    ChatThreadsPage,
    CreateThreadRequest,
    CreateThreadResponse,
    IdentifierModel,
    ReadReceiptModel,
    ReadReceiptsPage,
    SendMessageRequest,
    SendMessageResponse,
    SendReadReceiptRequest,
    TypingRequest,
    UpdateMessageRequest,
    UpdateThreadRequest,
)
from telex.core.clock import iso_time
from telex.core.errors import ErrorCode, TelexError
from telex.identity import Principal
from telex.web.auth import BearerAuth
from telex.web.body import body_doc, read_json
from telex.web.errors import ErrorResponse
from telex.web.lean import LeanRoutes, hot_route

__all__ = ["chat_router"]

_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorResponse} for s in (400, 401, 403, 404, 413, 415, 429, 500, 503)
}


def _epoch(value: datetime | None) -> float | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def _spec(p: ChatParticipantModel) -> ParticipantSpec:
    return ParticipantSpec(p.communicationIdentifier.raw(), p.displayName, _epoch(p.shareHistoryTime))


def _participant(p: Participant) -> ChatParticipantOut:
    return ChatParticipantOut(
        communicationIdentifier=IdentifierModel.of_user(p.user_id),
        displayName=p.display_name,
        shareHistoryTime=iso_time(p.share_history_time) if p.share_history_time is not None else None,
    )


def _errors(invalid: list[InvalidParticipant]) -> list[ChatErrorModel] | None:
    return [ChatErrorModel(code=i.code, message=i.message, target=i.raw_id) for i in invalid] or None


def _message(m: Message) -> ChatMessageModel:
    content = None
    if m.deleted_at is None:
        initiator = IdentifierModel.of_user(m.initiator_id) if m.initiator_id else None
        if m.type in (MessageType.TEXT, MessageType.HTML):
            content = ChatMessageContentModel(message=m.content)
        elif m.type is MessageType.TOPIC_UPDATED:
            content = ChatMessageContentModel(topic=m.content, initiatorCommunicationIdentifier=initiator)
        else:
            content = ChatMessageContentModel(
                participants=[_participant(p) for p in m.participants],
                initiatorCommunicationIdentifier=initiator,
            )
    return ChatMessageModel(
        id=m.id,
        type=m.type.value,
        sequenceId=str(m.sequence_id),
        version=m.version,
        createdOn=iso_time(m.created_at),
        content=content,
        senderDisplayName=m.sender_display_name,
        senderCommunicationIdentifier=IdentifierModel.of_user(m.sender_id) if m.sender_id else None,
        deletedOn=iso_time(m.deleted_at) if m.deleted_at is not None else None,
        editedOn=iso_time(m.edited_at) if m.edited_at is not None else None,
        metadata=m.metadata,
    )


def _next_link(path: str, page_size: int, name: str, token: str | None) -> str | None:
    """The link to the next page, carrying all paging state (acs-wire.md §1.5); None on the last page."""
    if not token:
        return None
    return f"{path}?{urlencode({'maxPageSize': str(page_size), name: token})}"


def _thread_path(thread_id: str, tail: str = "") -> str:
    return f"/chat/threads/{quote(thread_id, safe='')}{tail}"


def chat_router(
    service: ChatService, auth: BearerAuth, settings: ChatSettings, lean: LeanRoutes
) -> APIRouter:
    router = APIRouter(tags=["chat"], responses=_ERRORS)
    authenticate = auth.require(*CHAT_SCOPES)
    user = Depends(authenticate)

    def page_size(value: int | None) -> int:
        if value is None:
            return settings.default_page_size
        if not 1 <= value <= settings.max_page_size:
            raise TelexError(
                ErrorCode.VALIDATION_FAILED, f"maxPageSize must be between 1 and {settings.max_page_size}."
            )
        return value

    def skip_of(value: int | None) -> int:
        if value is not None and not 0 <= value <= 1_000_000_000:
            raise TelexError(ErrorCode.VALIDATION_FAILED, "skip must be between 0 and 1000000000.")
        return value or 0

    # threads -------------------------------------------------------------------------------
    @router.post(
        "/chat/threads",
        status_code=201,
        response_model=CreateThreadResponse,
        response_model_exclude_none=True,
        openapi_extra=body_doc(CreateThreadRequest),
    )
    async def create_chat_thread(request: Request, response: Response, principal: Principal = user) -> Any:
        body = await read_json(request, CreateThreadRequest)
        assert body is not None
        request_id = request.headers.get("repeatability-request-id") or None
        thread, invalid = await service.create_thread(
            principal, body.topic, [_spec(p) for p in body.participants], request_id
        )
        response.headers["Location"] = _thread_path(thread.id)
        return CreateThreadResponse(
            chatThread=ChatThreadModel(
                id=thread.id,
                topic=thread.topic,
                createdOn=iso_time(thread.created_at),
                createdByCommunicationIdentifier=IdentifierModel.of_user(thread.created_by),
                deletedOn=iso_time(thread.deleted_at) if thread.deleted_at is not None else None,
            ),
            invalidParticipants=_errors(invalid),
        )

    @router.get("/chat/threads", response_model=ChatThreadsPage, response_model_exclude_none=True)
    async def list_chat_threads(
        principal: Principal = user,
        max_page_size: Annotated[int | None, Query(alias="maxPageSize")] = None,
        start_time: Annotated[datetime | None, Query(alias="startTime")] = None,
        token: Annotated[str | None, Query(alias="continuationToken")] = None,
    ) -> Any:
        size = page_size(max_page_size)
        page = await service.list_threads(principal, _epoch(start_time), size, token)
        return ChatThreadsPage(
            value=[
                ChatThreadItemModel(id=t.id, topic=t.topic, lastMessageReceivedOn=iso_time(t.last_message_at))
                for t in page.items
            ],
            nextLink=_next_link("/chat/threads", size, "continuationToken", page.next_token),
        )

    @router.get("/chat/threads/{thread_id}", response_model=ChatThreadModel, response_model_exclude_none=True)
    async def get_chat_thread_properties(thread_id: str, principal: Principal = user) -> Any:
        t = await service.get_thread(principal, thread_id)
        return ChatThreadModel(
            id=t.id,
            topic=t.topic,
            createdOn=iso_time(t.created_at),
            createdByCommunicationIdentifier=IdentifierModel.of_user(t.created_by),
        )

    @router.patch(
        "/chat/threads/{thread_id}",
        status_code=204,
        response_class=Response,
        openapi_extra=body_doc(UpdateThreadRequest),
    )
    async def update_chat_thread_properties(
        thread_id: str, request: Request, principal: Principal = user
    ) -> Response:
        body = await read_json(request, UpdateThreadRequest)
        assert body is not None
        if body.topic is not None:
            await service.update_topic(principal, thread_id, body.topic)
        else:
            await service.get_thread(principal, thread_id)  # still 404 for non-members
        return Response(status_code=204)

    @router.delete("/chat/threads/{thread_id}", status_code=204, response_class=Response)
    async def delete_chat_thread(thread_id: str, principal: Principal = user) -> Response:
        await service.delete_thread(principal, thread_id)
        return Response(status_code=204)

    # messages ------------------------------------------------------------------------------
    # Hot routes (web/lean.py): one handler serves both ways in; it authenticates by itself.
    @hot_route(
        router, lean, "POST", "/chat/threads/{thread_id}/messages",
        status_code=201, response_model=SendMessageResponse, openapi_extra=body_doc(SendMessageRequest),
    )  # fmt: skip
    async def send_chat_message(request: Request, thread_id: str) -> Response:
        principal = await authenticate(request)
        body = await read_json(request, SendMessageRequest)
        assert body is not None
        mid = await service.send_message(
            principal, thread_id, body.content, MessageType(body.type), body.senderDisplayName, body.metadata
        )
        return JSONResponse({"id": mid}, status_code=201)

    @router.get(
        "/chat/threads/{thread_id}/messages",
        response_model=ChatMessagesPage,
        response_model_exclude_none=True,
    )
    async def list_chat_messages(
        thread_id: str,
        principal: Principal = user,
        max_page_size: Annotated[int | None, Query(alias="maxPageSize")] = None,
        start_time: Annotated[datetime | None, Query(alias="startTime")] = None,
        token: Annotated[str | None, Query(alias="continuationToken")] = None,
    ) -> Any:
        size = page_size(max_page_size)
        page = await service.list_messages(principal, thread_id, _epoch(start_time), size, token)
        link = _next_link(_thread_path(thread_id, "/messages"), size, "continuationToken", page.next_token)
        return ChatMessagesPage(value=[_message(m) for m in page.items], nextLink=link)

    @router.get(
        "/chat/threads/{thread_id}/messages/{message_id}",
        response_model=ChatMessageModel,
        response_model_exclude_none=True,
    )
    async def get_chat_message(thread_id: str, message_id: str, principal: Principal = user) -> Any:
        return _message(await service.get_message(principal, thread_id, message_id))

    @router.patch(
        "/chat/threads/{thread_id}/messages/{message_id}",
        status_code=204,
        response_class=Response,
        openapi_extra=body_doc(UpdateMessageRequest),
    )
    async def update_chat_message(
        thread_id: str, message_id: str, request: Request, principal: Principal = user
    ) -> Response:
        body = await read_json(request, UpdateMessageRequest)
        assert body is not None
        await service.update_message(principal, thread_id, message_id, body.content, body.metadata)
        return Response(status_code=204)

    @router.delete(
        "/chat/threads/{thread_id}/messages/{message_id}", status_code=204, response_class=Response
    )
    async def delete_chat_message(thread_id: str, message_id: str, principal: Principal = user) -> Response:
        await service.delete_message(principal, thread_id, message_id)
        return Response(status_code=204)

    # participants --------------------------------------------------------------------------
    @router.get(
        "/chat/threads/{thread_id}/participants",
        response_model=ChatParticipantsPage,
        response_model_exclude_none=True,
    )
    async def list_chat_participants(
        thread_id: str,
        principal: Principal = user,
        max_page_size: Annotated[int | None, Query(alias="maxPageSize")] = None,
        skip: Annotated[int | None, Query()] = None,
    ) -> Any:
        size, start = page_size(max_page_size), skip_of(skip)
        page = await service.list_participants(principal, thread_id, size, start)
        link = _next_link(_thread_path(thread_id, "/participants"), size, "skip", page.next_token)
        return ChatParticipantsPage(value=[_participant(p) for p in page.items], nextLink=link)

    @router.post(
        "/chat/threads/{thread_id}/participants/:add",
        status_code=201,
        response_model=AddParticipantsResponse,
        response_model_exclude_none=True,
        openapi_extra=body_doc(AddParticipantsRequest),
    )
    async def add_chat_participants(thread_id: str, request: Request, principal: Principal = user) -> Any:
        body = await read_json(request, AddParticipantsRequest)
        assert body is not None
        invalid = await service.add_participants(principal, thread_id, [_spec(p) for p in body.participants])
        return AddParticipantsResponse(invalidParticipants=_errors(invalid))

    @router.post(
        "/chat/threads/{thread_id}/participants/:remove",
        status_code=204,
        response_class=Response,
        openapi_extra=body_doc(IdentifierModel),
    )
    async def remove_chat_participant(
        thread_id: str, request: Request, principal: Principal = user
    ) -> Response:
        body = await read_json(request, IdentifierModel)
        assert body is not None
        raw = body.raw()
        if not raw:
            raise TelexError(ErrorCode.VALIDATION_FAILED, "The participant identifier is required.")
        await service.remove_participant(principal, thread_id, raw)
        return Response(status_code=204)

    # signals -------------------------------------------------------------------------------
    @hot_route(
        router, lean, "POST", "/chat/threads/{thread_id}/typing",
        status_code=200, response_class=Response, openapi_extra=body_doc(TypingRequest, required=False),
    )  # fmt: skip
    async def send_typing_notification(request: Request, thread_id: str) -> Response:
        principal = await authenticate(request)
        body = await read_json(request, TypingRequest, allow_empty=True)
        await service.send_typing(principal, thread_id, body.senderDisplayName if body else None)
        return Response(status_code=200)

    @hot_route(
        router, lean, "POST", "/chat/threads/{thread_id}/readReceipts",
        status_code=200, response_class=Response, openapi_extra=body_doc(SendReadReceiptRequest),
    )  # fmt: skip
    async def send_chat_read_receipt(request: Request, thread_id: str) -> Response:
        principal = await authenticate(request)
        body = await read_json(request, SendReadReceiptRequest)
        assert body is not None
        await service.send_read_receipt(principal, thread_id, body.chatMessageId)
        return Response(status_code=200)

    @router.get(
        "/chat/threads/{thread_id}/readReceipts",
        response_model=ReadReceiptsPage,
        response_model_exclude_none=True,
    )
    async def list_chat_read_receipts(
        thread_id: str,
        principal: Principal = user,
        max_page_size: Annotated[int | None, Query(alias="maxPageSize")] = None,
        skip: Annotated[int | None, Query()] = None,
    ) -> Any:
        size, start = page_size(max_page_size), skip_of(skip)
        page = await service.list_read_receipts(principal, thread_id, size, start)
        link = _next_link(_thread_path(thread_id, "/readReceipts"), size, "skip", page.next_token)
        return ReadReceiptsPage(
            value=[
                ReadReceiptModel(
                    senderCommunicationIdentifier=IdentifierModel.of_user(r.sender_id),
                    chatMessageId=r.message_id,
                    readOn=iso_time(r.read_at),
                )
                for r in page.items
            ],
            nextLink=link,
        )

    return router
