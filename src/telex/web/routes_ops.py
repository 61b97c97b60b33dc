"""Operational routes: health, readiness and the JWKS of the token signing keys. Metrics are on
the admin listener only (``routes_admin.py``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from telex.identity import KeyringHolder
from telex.web.lean import LeanRoutes, hot_route

__all__ = ["Readiness", "ops_router"]


@dataclass(frozen=True, slots=True)
class Readiness:
    """What ``/readyz`` says: ``ready`` (200, else 503) and each check's state, ``"ok"`` or what
    is wrong (``checks``); ``reason`` names what keeps the node from being ready."""

    ready: bool
    checks: dict[str, str] = field(default_factory=dict)
    reason: str = ""


_OK = b'{"status":"ok"}'


def ops_router(
    keyring: KeyringHolder,
    ready: Callable[[], Awaitable[Readiness]],
    lean: LeanRoutes,
) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @hot_route(router, lean, "GET", "/healthz", response_model=dict[str, str])
    async def healthz(request: Request) -> Response:
        """Liveness: the process serves requests."""
        return Response(_OK, media_type="application/json")

    @router.get("/readyz", responses={503: {"description": "not ready"}})
    async def readyz() -> JSONResponse:
        """Readiness, for a load balancer: 200 while the node should get traffic; 503 (with a
        ``reason``) while the store is unreachable, the realtime hub is starting, or the node is
        draining before it stops. A bus outage alone leaves it ready (delivery polls the log)."""
        state = await ready()
        body: dict[str, str] = {"status": "ok" if state.ready else "unavailable", **state.checks}
        if state.reason:
            body["reason"] = state.reason
        return JSONResponse(body, status_code=200 if state.ready else 503)

    @router.get("/.well-known/jwks.json")
    async def jwks() -> dict[str, Any]:
        """Public keys that verify user access tokens (every key whose tokens may still be live)."""
        return {"keys": [k.public_jwk() for k in keyring.state.signing_keys]}

    return router
