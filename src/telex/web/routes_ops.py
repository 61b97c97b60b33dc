"""Operational routes: health, readiness, metrics, and the JWKS of the token signing keys."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from telex.identity import KeyringHolder
from telex.web.lean import LeanRoutes, hot_route

__all__ = ["ops_router"]


_OK = b'{"status":"ok"}'


def ops_router(
    keyring: KeyringHolder,
    registry: CollectorRegistry,
    ready: Callable[[], Awaitable[bool]],
    lean: LeanRoutes,
) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @hot_route(router, lean, "GET", "/healthz", response_model=dict[str, str])
    async def healthz(request: Request) -> Response:
        """Liveness: the process serves requests."""
        return Response(_OK, media_type="application/json")

    @router.get("/readyz", responses={503: {"description": "not ready"}})
    async def readyz() -> JSONResponse:
        """Readiness: the store answers and the keyring is loaded."""
        ok = await ready()
        return JSONResponse({"status": "ok" if ok else "unavailable"}, status_code=200 if ok else 503)

    @router.get("/metrics", response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @router.get("/.well-known/jwks.json")
    async def jwks() -> dict[str, Any]:
        """Public keys that verify user access tokens (every key whose tokens may still be live)."""
        return {"keys": [k.public_jwk() for k in keyring.state.signing_keys]}

    return router
