"""Browser origins: one allowlist for the REST API (CORS) and the ``/realtime`` WebSocket.

    request with Origin ─► same origin as the server (Host, public_url)? ──yes──► app, untouched
                         └─ on http.allowed_origins (or "*")?
                               preflight (OPTIONS + Access-Control-Request-Method) ─► 204 + CORS headers
                               other request ─► app; Access-Control-Allow-Origin etc. on its response
                         └─ not allowed ─► 403, the ACS error body naming the origin; no CORS header
    request without Origin (SDKs, curl, same-origin GET) ─► app, untouched

Why one policy object for both ways in: a browser app that may call the REST API but not open
the socket (or the reverse) is never what an operator means. WebSockets are not covered by CORS
at all (browsers send ``Origin`` on the upgrade and leave the decision to the server, security.md
§2.4), so the gateway asks the same ``OriginPolicy``.

Credentials (cookies, HTTP authentication) are never allowed cross-origin: every Telex API takes
its token in ``Authorization``, which CORS treats as an ordinary request header, so
``Access-Control-Allow-Credentials`` is never sent — with ``*`` or with a listed origin.

Written here rather than taken from Starlette's ``CORSMiddleware``: that one still sends its
preflight headers when it refuses an origin, answers refusals in plain text, and cannot share its
decision with the WebSocket gateway.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from telex.core.errors import ErrorCode, TelexError
from telex.web.errors import error_response
from telex.web.settings import normalize_origin

__all__ = ["ALLOW_HEADERS", "ALLOW_METHODS", "EXPOSE_HEADERS", "Cors", "OriginPolicy", "refusal"]

log = logging.getLogger(__name__)

ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE"
# Request headers the official SDKs and the Telex browser SDK send (acs-wire.md §1.2: HMAC,
# bearer, request ids, repeatability; the browser build of azure-core says ``x-ms-useragent``
# since a page cannot set User-Agent; W3C trace context when tracing is on).
ALLOW_HEADERS = ", ".join(
    (
        "accept",
        "accept-language",
        "authorization",
        "content-type",
        "x-ms-client-request-id",
        "x-ms-return-client-request-id",
        "x-ms-useragent",
        "x-ms-date",
        "x-ms-content-sha256",
        "repeatability-request-id",
        "repeatability-first-sent",
        "traceparent",
        "tracestate",
        # The JS chat SDK's notification service takes the user token in this header.
        "x-skypetoken",
    )
)
# Response headers a page's script may read besides the CORS-safelisted ones: request ids,
# error code, retry hints, long-running operation and repeatability headers (acs-wire.md §1).
EXPOSE_HEADERS = ", ".join(
    (
        "x-ms-request-id",
        "x-ms-client-request-id",
        "x-ms-error-code",
        "retry-after",
        "retry-after-ms",
        "x-ms-retry-after-ms",
        "location",
        "operation-location",
        "operation-id",
        "repeatability-result",
    )
)
# Paths served to any origin by their own routes (the SDK's modules; see routes_sdk.py).
_PUBLIC_PREFIXES = ("/sdk/",)
_REMEMBERED = 256  # refused origins logged once each, up to this many


def refusal(origin: str) -> TelexError:
    return TelexError(ErrorCode.FORBIDDEN, f"The origin {origin} is not allowed (http.allowed_origins).")


class OriginPolicy:
    """Which browser origins may use this server: its own (the ``Host`` it is reached by, and
    ``public_url``), those listed in ``http.allowed_origins``, or any when that lists ``*``."""

    def __init__(self, allowed: Iterable[str], own: Iterable[str] = ()) -> None:
        listed = {normalize_origin(o) for o in allowed}
        self.any = "*" in listed
        self._allowed = frozenset(listed - {"*"})
        self._own = frozenset(normalize_origin(o) for o in own)
        self._logged: set[str] = set()

    def allowed(self, origin: str) -> bool:
        """A cross-origin caller on the list (or any, with ``*``)."""
        return self.any or origin.lower() in self._allowed

    def same_origin(self, origin: str, host: str) -> bool:
        # The scheme is not compared: behind a TLS-terminating proxy the server sees http.
        origin = origin.lower()
        return origin in self._own or origin in (f"http://{host.lower()}", f"https://{host.lower()}")

    def refused(self, scope: Scope) -> str | None:
        """The request's ``Origin`` when this policy refuses it; None when it may go on (no
        Origin, its own, or allowed)."""
        origin: str | None = None
        host: str | None = None
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value.decode("latin-1")
            elif name == b"host":
                host = value.decode("latin-1")
        if origin is None or self.same_origin(origin, host or "") or self.allowed(origin):
            return None
        if origin not in self._logged and len(self._logged) < _REMEMBERED:
            self._logged.add(origin)
            log.warning("refused a request from origin %s (not in http.allowed_origins)", origin)
        return origin


class Cors:
    """The ASGI middleware applying ``OriginPolicy`` to HTTP requests (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, policy: OriginPolicy, max_age: int) -> None:
        self.app = app
        self.policy = policy
        self._max_age = str(max_age).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = host = None
        preflight = private_network = False
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value
            elif name == b"host":
                host = value
            elif name == b"access-control-request-method":
                preflight = scope["method"] == "OPTIONS"
            elif name == b"access-control-request-private-network":
                private_network = value.lower() == b"true"
        if origin is None or scope["path"].startswith(_PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        text = origin.decode("latin-1")
        if self.policy.same_origin(text, (host or b"").decode("latin-1")):
            await self.app(scope, receive, send)
            return
        if not self.policy.allowed(text):
            self.policy.refused(scope)  # logs it once
            await error_response(refusal(text))(scope, receive, send)
            return
        allow = (
            [(b"access-control-allow-origin", b"*")]
            if self.policy.any
            else [
                (b"access-control-allow-origin", origin),
                (b"vary", b"Origin"),
            ]
        )
        if preflight:
            headers = [
                *allow,
                (b"access-control-allow-methods", ALLOW_METHODS.encode()),
                (b"access-control-allow-headers", ALLOW_HEADERS.encode()),
                (b"access-control-max-age", self._max_age),
            ]
            if private_network:  # Chromium's Private Network Access preflight
                headers.append((b"access-control-allow-private-network", b"true"))
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        allow.append((b"access-control-expose-headers", EXPOSE_HEADERS.encode()))

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *allow]
            await send(message)

        await self.app(scope, receive, send_with_cors)
