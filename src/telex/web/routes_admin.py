"""The admin listener's app: ``/metrics`` (and the health probes), never on the public listeners.

    admin_host:admin_port (127.0.0.1:9464 by default) ─► GET /metrics ─► Prometheus text
                                                       ─► GET /healthz, /readyz
    with http.metrics_token set: "Authorization: Bearer <token>" or 401

Why apart: the metrics of a node (113 KB of route names, error counts, connection counts, TURN
traffic) tell an attacker what works and what hurts, and rendering them costs the node CPU; the
public port answers anyone who can reach it. Loopback by default, so a scraper on the same host
(or a sidecar) reads them; ``admin_host`` and a token when the scraper is elsewhere.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from telex.web.routes_ops import Readiness

__all__ = ["admin_app"]

_OK = b'{"status":"ok"}'


def admin_app(
    registry: CollectorRegistry, ready: Callable[[], Awaitable[Readiness]], token: str = ""
) -> Starlette:
    expected = f"Bearer {token}".encode() if token else b""

    def allowed(request: Request) -> bool:
        if not expected:
            return True
        given = request.headers.get("authorization", "").encode("latin-1", "replace")
        return hmac.compare_digest(given, expected)

    def unauthorized() -> JSONResponse:
        body = {"error": {"code": "Unauthorized", "message": "The metrics token is required."}}
        return JSONResponse(body, status_code=401, headers={"www-authenticate": "Bearer"})

    async def metrics(request: Request) -> Response:
        if not allowed(request):
            return unauthorized()
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    async def healthz(request: Request) -> Response:
        return Response(_OK, media_type="application/json")

    async def readyz(request: Request) -> JSONResponse:
        state = await ready()  # the same answer as the public /readyz
        body: dict[str, str] = {"status": "ok" if state.ready else "unavailable", **state.checks}
        if state.reason:
            body["reason"] = state.reason
        return JSONResponse(body, status_code=200 if state.ready else 503)

    routes = [Route("/metrics", metrics), Route("/healthz", healthz), Route("/readyz", readyz)]
    return Starlette(routes=routes)
