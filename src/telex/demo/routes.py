"""HTTP for ``serve --demo``: the sample trusted service's API and the demo page at ``/``.

    GET  /                          the demo app (static/demo/index.html), and its files by name
    POST /demo/api/session          {displayName} → {userId, displayName, token, expiresOn} + cookie
    POST /demo/api/token            (cookie) → {token, expiresOn}
    POST /demo/api/rooms/{groupId}  (cookie) → {groupId, threadId}
    GET  /demo/api/sms              (cookie) → the demo number, the visitor's phone, both sides' texts
    POST /demo/api/sms/handset      (cookie) {message} → the visitor's phone texts the demo number
    POST /demo/api/sms/reply        (cookie) {message} → the demo number answers the visitor's phone

Errors are the ACS error body like everywhere else; a missing or expired session is 401.

The POSTs act on a cookie, so they answer only the page's own origin: a request whose ``Origin``
is another (another port of localhost included: SameSite cookies do not tell ports apart), or
that the browser marks ``Sec-Fetch-Site: cross-site``/``same-site``, gets 403 whatever
``http.allowed_origins`` lets call the API. Sign-ins are limited per client address, rooms per
visitor (``[demo]``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from telex.core.clock import Clock, iso_time
from telex.core.errors import ErrorCode, TelexError
from telex.demo.service import MAX_NAME, DemoService
from telex.demo.session import Session, decode_session, encode_session
from telex.demo.sms import DemoSms
from telex.identity import IssuedToken
from telex.web.body import body_doc, read_json
from telex.web.cors import OriginPolicy

__all__ = ["DEMO_DIR", "demo_router"]

DEMO_DIR = Path(__file__).resolve().parent.parent / "web" / "static" / "demo"
COOKIE = "telex_demo"
# The page loads only its own files, the SDK and media from the browser itself.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; media-src 'self' blob: mediastream:; connect-src 'self' ws: wss:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


class SessionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    displayName: StrictStr = Field(min_length=1, max_length=MAX_NAME)


class TextRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    message: StrictStr = Field(min_length=1, max_length=480)


def _token_body(token: IssuedToken) -> dict[str, Any]:
    return {"token": token.token, "expiresOn": iso_time(float(token.expires_at))}


def _same_origin_only(request: Request, origins: OriginPolicy) -> None:
    origin = request.headers.get("origin")
    site = request.headers.get("sec-fetch-site", "").lower()
    if (origin is not None and not origins.same_origin(origin, request.headers.get("host", ""))) or site in (
        "cross-site",
        "same-site",
    ):
        raise TelexError(ErrorCode.FORBIDDEN, "The demo answers only its own page.")


def demo_router(demo: DemoService, clock: Clock, origins: OriginPolicy | None = None) -> APIRouter:
    router = APIRouter(tags=["demo"], include_in_schema=False)
    policy = origins or OriginPolicy(())

    def session_of(request: Request) -> Session | None:
        _same_origin_only(request, policy)
        cookie = request.cookies.get(COOKIE)
        return decode_session(cookie, demo.cookie_key, clock.now()) if cookie else None

    @router.post("/demo/api/session", openapi_extra=body_doc(SessionRequest))
    async def sign_in(request: Request, response: Response) -> dict[str, Any]:
        _same_origin_only(request, policy)
        body = await read_json(request, SessionRequest)
        assert body is not None
        signed = await demo.sign_in(body.displayName, request.client.host if request.client else "")
        session = signed.session
        response.set_cookie(
            COOKIE,
            encode_session(session, demo.cookie_key),
            max_age=max(0, session.expires_at - int(clock.now())),
            path="/demo/api",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return {"userId": session.user_id, "displayName": session.display_name, **_token_body(signed.token)}

    @router.post("/demo/api/token")
    async def refresh(request: Request) -> dict[str, Any]:
        return _token_body(await demo.refresh(session_of(request)))

    @router.post("/demo/api/rooms/{group_id}")
    async def room(request: Request, group_id: str) -> dict[str, Any]:
        thread_id = await demo.join_room(session_of(request), group_id)
        return {"groupId": group_id.lower(), "threadId": thread_id}

    def texting(request: Request) -> tuple[DemoSms, Session]:
        session = session_of(request)
        if session is None:
            raise TelexError(ErrorCode.UNAUTHORIZED, "The demo session has expired; sign in again.")
        if demo.sms is None:
            raise TelexError(ErrorCode.NOT_FOUND, "This server has no demo phone number.")
        return demo.sms, session

    @router.get("/demo/api/sms")
    async def sms_view(request: Request) -> dict[str, Any]:
        sms, session = texting(request)
        return await sms.view(session.user_id)

    @router.post("/demo/api/sms/handset", openapi_extra=body_doc(TextRequest))
    async def sms_from_handset(request: Request) -> dict[str, Any]:
        sms, session = texting(request)
        body = await read_json(request, TextRequest)
        assert body is not None
        await sms.from_handset(session.user_id, body.message)
        return await sms.view(session.user_id)

    @router.post("/demo/api/sms/reply", openapi_extra=body_doc(TextRequest))
    async def sms_reply(request: Request) -> dict[str, Any]:
        sms, session = texting(request)
        body = await read_json(request, TextRequest)
        assert body is not None
        await sms.reply(session.user_id, body.message)
        return await sms.view(session.user_id)

    files = {p.name: p for p in DEMO_DIR.iterdir() if p.is_file()} if DEMO_DIR.is_dir() else {}

    @router.get("/")
    async def index() -> FileResponse:
        return _static(files.get("index.html"))

    # The page refers to its files relative to "/", so each is served by name at the root: one
    # route per file (listed once, at start), not a catch-all that would answer every other
    # single-segment path (such as /rooms) with the demo's 404.
    for name, path in files.items():
        router.add_api_route(f"/{name}", _file_route(path), methods=["GET"])

    return router


def _file_route(path: Path) -> Callable[[], Awaitable[FileResponse]]:
    async def asset() -> FileResponse:
        return _static(path)

    return asset


def _static(path: Path | None) -> FileResponse:
    if path is None:
        raise TelexError(ErrorCode.NOT_FOUND, "Not found.")
    response = FileResponse(path, headers={"Cache-Control": "no-cache"})
    if path.suffix == ".html":
        response.headers["Content-Security-Policy"] = _CSP  # nosniff: the middleware, everywhere
    return response
