"""One ASGI middleware for what every HTTP request gets: a request id, a body limit, a content-type
check, security headers, an access-log line and metrics. Pure ASGI (no BaseHTTPMiddleware) so it
adds little to every request and never buffers responses.

Security headers on every response: ``X-Content-Type-Options: nosniff``; a Content-Security-Policy
that allows nothing on any HTML response that does not bring its own (the demo and home pages do);
``Strict-Transport-Security`` on HTTPS when the client named the server by a DNS name (browsers
ignore it for IP literals, RFC 6797 §8.1, and on ``localhost`` it would turn the plain-HTTP
listener's URLs into broken HTTPS ones).

Every request passes through here, hot routes included, so the work per request is kept small:
the headers are scanned once for the few it needs, metric children are cached by their labels,
and the access log is one pre-formatted JSON line appended to a buffer that is written out every
``_FLUSH_SECONDS`` (or when it fills), not a ``LogRecord`` formatted and flushed to stderr per
request. Warnings and errors still go through ``logging`` and are written at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
import time
import uuid
from contextvars import ContextVar
from typing import IO, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from telex.core.errors import ErrorCode, TelexError
from telex.web.errors import error_response

__all__ = ["AccessLog", "HttpMetrics", "JsonLogFormatter", "RequestContextMiddleware", "request_id_var"]

log = logging.getLogger("telex.access")
request_id_var: ContextVar[str] = ContextVar("request_id", default="-")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_JSON_TYPES = (b"application/json", b"application/merge-patch+json")
_FLUSH_SECONDS = 0.2
_FLUSH_BYTES = 64 * 1024
_NOSNIFF = (b"x-content-type-options", b"nosniff")
DEFAULT_CSP = b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


def _names_a_host(host: bytes) -> bool:
    """Whether a ``Host`` header names the server by a DNS name (not an IP literal, not localhost)."""
    name = host.rsplit(b":", 1)[0] if host.count(b":") == 1 else host
    if not name or name.startswith(b"[") or name.replace(b".", b"").isdigit():
        return False
    name = name.lower().rstrip(b".")
    return name != b"localhost" and not name.endswith(b".localhost")


def _security_headers(headers: list[tuple[bytes, bytes]], hsts: bytes | None) -> list[tuple[bytes, bytes]]:
    html = csp = False
    for name, value in headers:
        if name in (b"content-type", b"Content-Type"):
            html = value.startswith(b"text/html")
        elif name.lower() == b"content-security-policy":
            csp = True
    extra = [_NOSNIFF]
    if html and not csp:
        extra.append((b"content-security-policy", DEFAULT_CSP))
    if hsts is not None:
        extra.append((b"strict-transport-security", hsts))
    return extra


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "telex_http_requests", "HTTP requests", ["method", "route", "status"], registry=registry
        )
        self.latency = Histogram(
            "telex_http_request_seconds", "HTTP request latency", ["method", "route"], registry=registry
        )
        # Labelled children, by label values: ``labels()`` hashes and locks on every call.
        self._counts: dict[tuple[str, str, int], Any] = {}
        self._latencies: dict[tuple[str, str], Any] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        count = self._counts.get((method, route, status))
        if count is None:
            count = self._counts[(method, route, status)] = self.requests.labels(method, route, str(status))
        latency = self._latencies.get((method, route))
        if latency is None:
            latency = self._latencies[(method, route)] = self.latency.labels(method, route)
        count.inc()
        latency.observe(seconds)


class AccessLog:
    """The access log: one JSON object per request, buffered briefly (a crash may lose the last
    ``_FLUSH_SECONDS`` of access lines, never anything else)."""

    def __init__(self, stream: IO[str] | None = None, enabled: bool = True) -> None:
        self._stream = stream
        self.enabled = enabled
        self._lines: list[str] = []
        self._size = 0
        self._flush_handle: asyncio.TimerHandle | None = None

    def write(self, request_id: str, method: str, path: str, route: str, status: int, seconds: float) -> None:
        line = (
            f'{{"ts":{time.time():.3f},"level":"info","logger":"telex.access","msg":"request",'
            f'"request_id":{json.dumps(request_id)},"method":"{method}","path":{json.dumps(path)},'
            f'"route":{json.dumps(route)},"status":{status},"duration_ms":{seconds * 1000:.2f}}}\n'
        )
        self._lines.append(line)
        self._size += len(line)
        if self._size >= _FLUSH_BYTES:
            self.flush()
        elif self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_later(_FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._lines:
            stream = self._stream or sys.stderr
            stream.write("".join(self._lines))
            stream.flush()
            self._lines.clear()
            self._size = 0


class _BodyTooLarge(TelexError):
    def __init__(self) -> None:
        super().__init__(ErrorCode.PAYLOAD_TOO_LARGE, "The request body is too large.")


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        metrics: HttpMetrics,
        access_log: AccessLog | None = None,
        hsts_seconds: int = 0,
    ) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self.metrics = metrics
        self.access_log = access_log
        self._hsts = b"max-age=%d" % hsts_seconds if hsts_seconds > 0 else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client_id = length = ctype = None
        host = b""
        chunked = False
        for name, value in scope["headers"]:
            if name == b"x-ms-client-request-id":
                client_id = value.decode("latin-1")
            elif name == b"content-length":
                length = value
            elif name == b"content-type":
                ctype = value
            elif name == b"transfer-encoding":
                chunked = True
            elif name == b"host":
                host = value
        request_id = client_id if client_id and _CLIENT_ID.match(client_id) else str(uuid.uuid4())
        echo = request_id == client_id
        hsts = self._hsts if scope.get("scheme") == "https" and _names_a_host(host) else None
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                extra = [(b"x-ms-request-id", request_id.encode()), *_security_headers(headers, hsts)]
                if echo:
                    extra.append((b"x-ms-client-request-id", request_id.encode()))
                message["headers"] = [*headers, *extra]
            await send(message)

        try:
            rejection = self._precheck(scope["method"], length, ctype, chunked)
            if rejection is not None:
                await error_response(rejection)(scope, receive, send_wrapper)
                return
            await self.app(scope, self._limited(receive), send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.observe(scope["method"], route, status, elapsed)
            if self.access_log is not None and self.access_log.enabled:
                self.access_log.write(request_id, scope["method"], scope["path"], route, status, elapsed)
            request_id_var.reset(token)

    def _precheck(
        self, method: str, length: bytes | None, ctype: bytes | None, chunked: bool
    ) -> TelexError | None:
        if length is not None:
            if not length.isdigit():
                return TelexError(ErrorCode.BAD_REQUEST, "Invalid Content-Length.")
            if int(length) > self.max_body:
                return _BodyTooLarge()
        has_body = (length is not None and int(length) > 0) or chunked
        if method in ("POST", "PUT", "PATCH") and has_body:
            kind = (ctype or b"").split(b";")[0].strip().lower()
            if kind not in _JSON_TYPES:
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
