"""The browser SDK, plain ES modules under ``/sdk/`` (``import … from "/sdk/telex.js"``).

Always served, demo or not: an app on another origin may load it from here, and the version it
gets is always the one that speaks this server's protocol.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from telex.core.errors import ErrorCode, TelexError

__all__ = ["SDK_DIR", "sdk_router"]

SDK_DIR = Path(__file__).resolve().parent / "static" / "sdk"
# mimetypes calls .ts a Qt translation file; browsers and editors want the TypeScript type.
_TYPES = {".js": "text/javascript", ".ts": "application/typescript", ".md": "text/markdown"}


def sdk_router() -> APIRouter:
    router = APIRouter(tags=["sdk"], include_in_schema=False)
    # Listed once at start: a request can only ever name one of these files (no path traversal).
    files = {p.name: p for p in SDK_DIR.iterdir() if p.is_file()} if SDK_DIR.is_dir() else {}

    @router.get("/sdk/{name}")
    async def module(name: str) -> FileResponse:
        path = files.get(name)
        if path is None:
            raise TelexError(ErrorCode.NOT_FOUND, "No such SDK file.")
        media_type = _TYPES.get(path.suffix, "application/octet-stream")
        headers = {"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"}
        return FileResponse(path, media_type=media_type, headers=headers)

    return router
