"""Hot routes served below FastAPI, described by FastAPI: one handler, two ways in.

    request ─► TelexApp ─► a hot route? ──yes──► request context ─► handler(request, **path) ─► Response
                             └──no──► FastAPI (its middleware, router, dependencies, validation)

Why: a chat send, a typing signal, a read receipt, a call signal or keep-alive, a token issue and
the health probe are most of what a server does, and FastAPI's per-request machinery (a dozen
ASGI layers, route matching across every route, dependency solving) cost more CPU than the
handler's own work (docs/performance.md, "Where a request's CPU goes"). A hot route's handler is
a plain ``async def handler(request, **path_params) -> Response`` that authenticates, reads its
body and answers by itself; ``hot_route`` registers that one function with FastAPI (so
``/openapi.json`` describes it exactly, and FastAPI still serves it if the lean path is off) and
with the lean table. Both ways run the same code and return the same ``Response``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from telex.core.errors import ErrorCode, TelexError
from telex.web.errors import error_response

__all__ = ["Handler", "LeanRoutes", "TelexApp", "hot_route"]

log = logging.getLogger(__name__)

Handler = Callable[..., Awaitable[Response]]
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True, slots=True)
class _RouteName:
    """What the request-context middleware reads (``scope["route"].path``) to label metrics."""

    path: str


@dataclass(frozen=True, slots=True)
class _Lean:
    pattern: re.Pattern[str]
    handler: Handler
    route: _RouteName


def _compile(path: str) -> re.Pattern[str]:
    out, last = ["^"], 0
    for m in _PARAM.finditer(path):
        out.append(re.escape(path[last : m.start()]))
        out.append(f"(?P<{m.group(1)}>[^/]+)")
        last = m.end()
    out.append(re.escape(path[last:]) + "$")
    return re.compile("".join(out))


class LeanRoutes:
    """The hot routes of every capability, by method."""

    def __init__(self) -> None:
        self._by_method: dict[str, list[_Lean]] = {}

    def add(self, method: str, path: str, handler: Handler) -> None:
        self._by_method.setdefault(method, []).append(_Lean(_compile(path), handler, _RouteName(path)))

    def match(self, method: str, path: str) -> tuple[_Lean, dict[str, str]] | None:
        for lean in self._by_method.get(method, ()):
            m = lean.pattern.match(path)
            if m is not None:
                return lean, m.groupdict()
        return None

    def routes(self) -> list[tuple[str, str]]:
        return [(method, lean.route.path) for method, leans in self._by_method.items() for lean in leans]


def hot_route(
    router: APIRouter, lean: LeanRoutes, method: str, path: str, **fastapi: Any
) -> Callable[[Handler], Handler]:
    """Register ``handler`` with FastAPI (for ``/openapi.json``, and as the fallback way in) and
    with the lean table. ``fastapi`` takes ``add_api_route``'s documentation arguments."""

    def register(handler: Handler) -> Handler:
        router.add_api_route(path, handler, methods=[method], **fastapi)
        lean.add(method, path, handler)
        return handler

    return register


async def _unexpected(exc: Exception) -> Response:
    log.error("unhandled error", exc_info=exc)
    return error_response(TelexError(ErrorCode.INTERNAL, "An internal error occurred."))


class TelexApp(FastAPI):
    """FastAPI with the lean table in front: a hot route goes straight to its handler inside the
    request context (``lean_context``: request id, limits, log line, metrics); everything else
    goes through FastAPI as usual."""

    lean: LeanRoutes | None = None
    _lean_app: ASGIApp | None = None
    # WebSocket endpoints that are plain ASGI apps, by path: they get the server's own ``send``
    # and ``receive``, with no framework layer (and no coroutine frame of one) in between.
    _sockets: dict[str, ASGIApp] | None = None

    def add_socket(self, path: str, endpoint: ASGIApp) -> None:
        """Serve WebSocket upgrades of ``path`` with ``endpoint``, below FastAPI."""
        if self._sockets is None:
            self._sockets = {}
        self._sockets[path] = endpoint

    def enable_lean(self, routes: LeanRoutes, context: Callable[[ASGIApp], ASGIApp]) -> None:
        self.lean = routes
        self._lean_app = context(self._serve_lean)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and self._sockets is not None:
            endpoint = self._sockets.get(scope["path"])
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
        if self._lean_app is not None and scope["type"] == "http":
            assert self.lean is not None
            found = self.lean.match(scope["method"], scope["path"])
            if found is not None:
                scope["telex.lean"] = found
                await self._lean_app(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def _serve_lean(self, scope: Scope, receive: Receive, send: Send) -> None:
        lean, params = scope.pop("telex.lean")
        scope["route"] = lean.route
        scope["path_params"] = params
        try:
            response = await lean.handler(Request(scope, receive), **params)
        except TelexError as exc:
            response = error_response(exc)
        except Exception as exc:
            response = await _unexpected(exc)
        await response(scope, receive, send)
