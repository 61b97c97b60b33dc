"""The HTTP side of the notification service the JS chat SDK's browser build uses.

    GET  /chat/config/realTimeNotifications?api-version=2024-09-01   (Bearer)
         ─► {"trouterServiceUrl", "registrarServiceUrl", "cloudType"}: this server
    POST /v4/a?epid=…&cur=…                                            (X-Skypetoken)
         ─► the allocation: socket.io base URL and connectparams {tkt: ticket, cur: position}
    GET  /socket.io/1/?…                                               (X-Skypetoken)
         ─► socket.io 0.9 handshake "sid:heartbeat:close:websocket"
    WS   /socket.io/1/websocket/telex?tkt=…&cur=…                      (gateway.py)
    POST /v3/registrations, DELETE /v3/registrations/{id}              (X-Skypetoken)
         ─► accepted: Telex delivers on the socket itself; push to devices is not this path

``cur`` is the resume position: the client sends back the last ``connectparams`` it was given
(see session.py), the allocation clamps it to the log's head and hands it on to the socket. A
client with none starts at the head: nothing it could see is older than its allocation.

The URLs handed out are this server's, as the client reached it (scheme and Host of the request).
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel

from telex.chat import CHAT_SCOPES
from telex.core.clock import Clock
from telex.core.errors import ErrorCode, TelexError
from telex.events.log import EventLog
from telex.identity import KeyringHolder, Principal, TokenVerifier
from telex.notifications.gateway import HANDSHAKE_SID, connection_of
from telex.notifications.session import parse_cursor
from telex.notifications.settings import NotificationSettings
from telex.notifications.ticket import sign_ticket
from telex.web.apiversion import ApiVersions
from telex.web.auth import bearer_token
from telex.web.errors import ErrorResponse

__all__ = ["CONFIG_VERSIONS", "notifications_router"]

# The configuration route's own api-version (what @azure/communication-signaling sends).
CONFIG_VERSIONS = ApiVersions("chat notification configuration", ("2024-09-01",))
_ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorResponse} for s in (400, 401, 403, 500)}


class RealTimeNotificationConfiguration(BaseModel):
    trouterServiceUrl: str
    registrarServiceUrl: str
    cloudType: str


def _base(request: Request) -> str:
    host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    return f"{request.url.scheme}://{host}"


def notifications_router(
    verifier: TokenVerifier,
    keyring: KeyringHolder,
    log: EventLog,
    settings: NotificationSettings,
    clock: Clock,
) -> APIRouter:
    router = APIRouter(tags=["chat notifications"], responses=_ERRORS)
    scopes = tuple(CHAT_SCOPES)

    async def skype_token(request: Request) -> Principal:
        """The signaling client's own requests carry the user token as ``X-Skypetoken``."""
        token = request.headers.get("x-skypetoken", "").strip()
        if not token:
            raise TelexError(ErrorCode.UNAUTHORIZED, "An X-Skypetoken header is required.")
        return await verifier.verify(token, scopes)

    @router.get(
        "/chat/config/realTimeNotifications",
        response_model=RealTimeNotificationConfiguration,
        dependencies=[Depends(CONFIG_VERSIONS.dependency)],
    )
    async def get_real_time_notification_configuration(request: Request) -> Any:
        """Where the JS chat SDK's signaling client connects: this server."""
        await verifier.verify(bearer_token(request), scopes)
        base = _base(request)
        return RealTimeNotificationConfiguration(
            trouterServiceUrl=base, registrarServiceUrl=base, cloudType="public"
        )

    @router.post("/v4/a", include_in_schema=False)
    async def allocate(request: Request) -> Response:
        principal = await skype_token(request)
        head = await log.head()
        cursor = parse_cursor(request.query_params.get("cur"))
        cursor = head if cursor is None else min(cursor, head)
        ccid = secrets.token_hex(8)
        ticket = sign_ticket(principal, clock.now() + settings.ticket_seconds, keyring.access_keys()[0])
        conn = connection_of(_base(request), ccid, int(settings.ticket_seconds))
        return JSONResponse(
            {
                "id": conn.id, "ccid": conn.ccid, "socketio": conn.socketio, "url": conn.url,
                "surl": conn.surl, "ttl": str(conn.ttl), "connectparams": {"tkt": ticket, "cur": str(cursor)},
            },
            headers={"cache-control": "no-store"},
        )  # fmt: skip

    @router.get("/socket.io/1/", include_in_schema=False)
    async def handshake(request: Request) -> Response:
        await skype_token(request)
        # session id : heartbeat timeout : close timeout : transports (socket.io 0.9).
        timeout = int(settings.heartbeat_seconds * 2 + 10)
        return PlainTextResponse(f"{HANDSHAKE_SID}:{timeout}:{timeout}:websocket")

    @router.post("/v3/registrations", include_in_schema=False, status_code=202)
    async def register(request: Request) -> Response:
        await skype_token(request)
        return Response(status_code=202)

    @router.delete("/v3/registrations/{registration_id}", include_in_schema=False, status_code=204)
    async def unregister(request: Request, registration_id: str) -> Response:
        await skype_token(request)
        return Response(status_code=204)

    return router
