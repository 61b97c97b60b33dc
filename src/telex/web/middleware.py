"""One ASGI middleware for what every HTTP request gets: a request id, a body limit, a content-type
check, a structured log line and metrics. Pure ASGI (no BaseHTTPMiddleware) so it adds little to
every request and never buffers responses.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from contextvars import ContextVar

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from telex.core.errors import ErrorCode, TelexError
from telex.web.errors import error_response

__all__ = ["HttpMetrics", "RequestContextMiddleware", "request_id_var"]

log = logging.getLogger("telex.access")
request_id_var: ContextVar[str] = ContextVar("request_id", default="-")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_JSON_TYPES = ("application/json", "application/merge-patch+json")


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "telex_http_requests", "HTTP requests", ["method", "route", "status"], registry=registry
        )
        self.latency = Histogram(
            "telex_http_request_seconds", "HTTP request latency", ["method", "route"], registry=registry
        )


class _BodyTooLarge(TelexError):
    def __init__(self) -> None:
        super().__init__(ErrorCode.PAYLOAD_TOO_LARGE, "The request body is too large.")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, metrics: HttpMetrics) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        client_id = headers.get("x-ms-client-request-id", "")
        request_id = client_id if _CLIENT_ID.match(client_id) else str(uuid.uuid4())
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                extra = [(b"x-ms-request-id", request_id.encode())]
                if client_id and request_id == client_id:
                    extra.append((b"x-ms-client-request-id", client_id.encode()))
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        try:
            rejection = self._precheck(scope["method"], headers)
            if rejection is not None:
                await error_response(rejection)(scope, receive, send_wrapper)
                return
            await self.app(scope, self._limited(receive), send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.latency.labels(scope["method"], route).observe(elapsed)
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )
            request_id_var.reset(token)

    def _precheck(self, method: str, headers: dict[str, str]) -> TelexError | None:
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                return TelexError(ErrorCode.BAD_REQUEST, "Invalid Content-Length.")
            if int(length) > self.max_body:
                return _BodyTooLarge()
        has_body = (length is not None and int(length) > 0) or "transfer-encoding" in headers
        if method in ("POST", "PUT", "PATCH") and has_body:
            ctype = headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype not in _JSON_TYPES:
                return TelexError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "The request body must be JSON.")
        return None

    def _limited(self, receive: Receive) -> Receive:
        seen = 0

        async def wrapped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise _BodyTooLarge()
            return message

        return wrapped


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line, with the request id of the request being served."""

    _STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime", "color_message"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": request_id_var.get(),
        }
        for key, value in vars(record).items():
            if key not in self._STANDARD:
                entry[key] = value if isinstance(value, str | int | float | bool | None) else str(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry)
