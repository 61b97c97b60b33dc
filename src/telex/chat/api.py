"""Chat API routes (data plane, bearer user token; acs-wire.md §3.2).

Routes check the api-version, authenticate, parse the body, call ``ChatService`` and shape the
answer; every rule (scope, membership, limits) lives in the service and its guard. Paging state
lives entirely in the ``nextLink`` (the SDK drops the original query when it follows one).

    api-version   2021-03-07 · 2021-09-07 · 2023-11-07 · 2024-03-07   the same shapes
                  2025-03-15   + thread metadata and retentionPolicy, participant metadata
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from telex.chat.guard import CHAT_SCOPES
from telex.chat.models import InvalidParticipant, Message, MessageType, Participant, ParticipantSpec, Thread
from telex.chat.service import ChatService, ThreadChanges
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
    RetentionPolicyOut,
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
from telex.web.apiversion import ApiVersions
from telex.web.auth import BearerAuth
from telex.web.body import body_doc, read_json
from telex.web.errors import ErrorResponse
from telex.web.lean import LeanRoutes, hot_route

__all__ = ["CHAT_VERSIONS", "chat_router"]

# Every version of the chat API Telex serves; the official SDKs send 2024-03-07 (Python 1.3) and
# 2025-03-15 (JS 1.6). The realtime-notifications configuration has a version of its own.
CHAT_VERSIONS = ApiVersions("chat", ("2021-03-07", "2021-09-07", "2023-11-07", "2024-03-07", "2025-03-15"))
V2025 = "2025-03-15"

_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorResponse} for s in (400, 401, 403, 404, 413, 415, 429, 500, 503)
}


def _epoch(value: datetime | None) -> float | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def _spec(p: ChatParticipantModel, version: str) -> ParticipantSpec:
    metadata = p.metadata if version >= V2025 and p.metadata else None
    return ParticipantSpec(
        p.communicationIdentifier.raw(), p.displayName, _epoch(p.shareHistoryTime), metadata
    )


def _participant(p: Participant, version: str = "") -> ChatParticipantOut:
    return ChatParticipantOut(
        communicationIdentifier=IdentifierModel.of_user(p.user_id),
        displayName=p.display_name,
        shareHistoryTime=iso_time(p.share_history_time) if p.share_history_time is not None else None,
        metadata=(p.metadata or {}) if version >= V2025 else None,
    )


def _thread(t: Thread, version: str) -> ChatThreadModel:
    """A thread's properties as ``version`` has them (2025-03-15 adds metadata and retention)."""
    new = version >= V2025
    retention = None
    if new:
        days = t.retention_days
        retention = (
            RetentionPolicyOut(kind="none")
            if days is None
            else (RetentionPolicyOut(kind="threadCreationDate", deleteThreadAfterDays=days))
        )
    return ChatThreadModel(
        id=t.id,
        topic=t.topic,
        createdOn=iso_time(t.created_at),
        createdByCommunicationIdentifier=IdentifierModel.of_user(t.created_by),
        deletedOn=iso_time(t.deleted_at) if t.deleted_at is not None else None,
        metadata=(t.metadata or {}) if new else None,
        retentionPolicy=retention,
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


def _next_link(path: str, page_size: int, name: str, token: str | None, version: str) -> str | None:
    """The link to the next page, carrying all paging state (acs-wire.md §1.5) and the api-version
    (the JS SDK follows it as it is; the Python SDK puts its own version in); None on the last page."""
    if not token:
        return None
    return f"{path}?{urlencode({'maxPageSize': str(page_size), name: token, 'api-version': version})}"


def _thread_path(thread_id: str, tail: str = "") -> str:
    return f"/chat/threads/{quote(thread_id, safe='')}{tail}"


def chat_router(
    service: ChatService, auth: BearerAuth, settings: ChatSettings, lean: LeanRoutes
) -> APIRouter:
    api_version = CHAT_VERSIONS.dependency
    router = APIRouter(tags=["chat"], responses=_ERRORS, dependencies=[Depends(api_version)])
    authenticate = auth.require(*CHAT_SCOPES)
    user = Depends(authenticate)
    # The version the request named (FastAPI runs the router's check once and shares the answer).
    version_of = Depends(api_version)

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
    async def create_chat_thread(
        request: Request, response: Response, principal: Principal = user, version: str = version_of
    ) -> Any:
        body = await read_json(request, CreateThreadRequest)
        assert body is not None
        request_id = request.headers.get("repeatability-request-id") or None
        new = version >= V2025
        thread, invalid = await service.create_thread(
            principal, body.topic, [_spec(p, version) for p in body.participants], request_id,
            metadata=body.metadata or None if new else None,
            retention_days=body.retentionPolicy.days() if new and body.retentionPolicy else None,
        )  # fmt: skip
        response.headers["Location"] = _thread_path(thread.id)
        return CreateThreadResponse(chatThread=_thread(thread, version), invalidParticipants=_errors(invalid))

    @router.get("/chat/threads", response_model=ChatThreadsPage, response_model_exclude_none=True)
    async def list_chat_threads(
        principal: Principal = user,
        max_page_size: Annotated[int | None, Query(alias="maxPageSize")] = None,
        start_time: Annotated[datetime | None, Query(alias="startTime")] = None,
        token: Annotated[str | None, Query(alias="continuationToken")] = None,
        version: str = version_of,
    ) -> Any:
        size = page_size(max_page_size)
        page = await service.list_threads(principal, _epoch(start_time), size, token)
        return ChatThreadsPage(
            value=[
                ChatThreadItemModel(id=t.id, topic=t.topic, lastMessageReceivedOn=iso_time(t.last_message_at))
                for t in page.items
            ],
            nextLink=_next_link("/chat/threads", size, "continuationToken", page.next_token, version),
        )

    @router.get("/chat/threads/{thread_id}", response_model=ChatThreadModel, response_model_exclude_none=True)
    async def get_chat_thread_properties(
        thread_id: str, principal: Principal = user, version: str = version_of
    ) -> Any:
        return _thread(await service.get_thread(principal, thread_id), version)

    @router.patch(
        "/chat/threads/{thread_id}",
        status_code=204,
        response_class=Response,
        openapi_extra=body_doc(UpdateThreadRequest),
    )
    async def update_chat_thread_properties(
        thread_id: str, request: Request, principal: Principal = user, version: str = version_of
    ) -> Response:
        body = await read_json(request, UpdateThreadRequest)
        assert body is not None
        changes = ThreadChanges(topic=body.topic)
        if version >= V2025:
            retention = (body.retentionPolicy.days(),) if body.retentionPolicy is not None else None
            changes = ThreadChanges(body.topic, body.metadata, retention)
        if changes == ThreadChanges():
            await service.get_thread(principal, thread_id)  # still 404 for non-members
        else:
            await service.update_thread(principal, thread_id, changes)
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
        CHAT_VERSIONS.check(request)  # the lean way in skips the router's dependency
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
        version: str = version_of,
    ) -> Any:
        size = page_size(max_page_size)
        page = await service.list_messages(principal, thread_id, _epoch(start_time), size, token)
        link = _next_link(
            _thread_path(thread_id, "/messages"), size, "continuationToken", page.next_token, version
        )
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
        version: str = version_of,
    ) -> Any:
        size, start = page_size(max_page_size), skip_of(skip)
        page = await service.list_participants(principal, thread_id, size, start)
        link = _next_link(_thread_path(thread_id, "/participants"), size, "skip", page.next_token, version)
        return ChatParticipantsPage(value=[_participant(p, version) for p in page.items], nextLink=link)

    @router.post(
        "/chat/threads/{thread_id}/participants/:add",
        status_code=201,
        response_model=AddParticipantsResponse,
        response_model_exclude_none=True,
        openapi_extra=body_doc(AddParticipantsRequest),
    )
    async def add_chat_participants(
        thread_id: str, request: Request, principal: Principal = user, version: str = version_of
    ) -> Any:
        body = await read_json(request, AddParticipantsRequest)
        assert body is not None
        specs = [_spec(p, version) for p in body.participants]
        invalid = await service.add_participants(principal, thread_id, specs)
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
        CHAT_VERSIONS.check(request)
        principal = await authenticate(request)
        body = await read_json(request, TypingRequest, allow_empty=True)
        await service.send_typing(principal, thread_id, body.senderDisplayName if body else None)
        return Response(status_code=200)

    @hot_route(
        router, lean, "POST", "/chat/threads/{thread_id}/readReceipts",
        status_code=200, response_class=Response, openapi_extra=body_doc(SendReadReceiptRequest),
    )  # fmt: skip
    async def send_chat_read_receipt(request: Request, thread_id: str) -> Response:
        CHAT_VERSIONS.check(request)
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
        version: str = version_of,
    ) -> Any:
        size, start = page_size(max_page_size), skip_of(skip)
        page = await service.list_read_receipts(principal, thread_id, size, start)
        link = _next_link(_thread_path(thread_id, "/readReceipts"), size, "skip", page.next_token, version)
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
