"""The server's HTTP/1.1 protocol: uvicorn's httptools one, with the limits it does not have.

    accept ─► ConnectionGuard.admit(address): per-address and total caps ──over──► 503, close
      head: request line ≤ max_request_line_bytes (414), ≤ max_header_count headers (431),
            ≤ max_header_bytes in all (431), complete header_timeout after its first byte (408)
      body: complete body_timeout after the head (408)
      between requests: uvicorn's keep-alive timeout, unless a request is already waiting
      upgrade to WebSocket: the connection stays counted until the WebSocket protocol lets go
    every refusal: counted in metrics, logged at most once per _LOG_EVERY seconds per kind

Why a subclass (the way ``web/websocket.py`` subclasses uvicorn's WebSocket protocol): the
pinned uvicorn (0.55, httptools 0.9) has no limit on the size or number of request headers
(httptools concatenates a header value in Python until it ends, so one endless header grows
without bound), no timer at all before a connection's first request or while a head or body
trickles in, and no cap per client address; and its keep-alive timer closes a connection whose
next request has already arrived but not been read (uvloop runs due timers before it polls for
input, so a loop busy past the deadline does exactly that), which resets the client's request.
These are the only behaviours added; parsing,
pipelining, keep-alive and responses are uvicorn's. ``tests/api/test_http_limits.py`` checks each
one against the pinned uvicorn, through ``telex serve``.

The per-address count uses the TCP peer address, never ``X-Forwarded-For``: behind a reverse
proxy every connection comes from the proxy, whose own limits then apply (docs/security.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import select
from typing import Any

import httptools
from prometheus_client import CollectorRegistry, Counter, Gauge
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from telex.core.logthrottle import RateLimitedLog
from telex.web.settings import HttpSettings

__all__ = ["ConnectionGuard", "TelexHttpProtocol", "http_protocol", "total_connection_cap"]

log = logging.getLogger("telex.http")

# After a refusal: how long, and how much, the client's further bytes are read and dropped before
# the connection is reset. Closing at once with unread bytes makes the kernel send a reset that
# can destroy the refusal before the client reads it (a "lingering close", as web servers do).
_LINGER_SECONDS = 1.0
_LINGER_BYTES = 256 * 1024
_REASONS = {408: "Request Timeout", 414: "URI Too Long", 431: "Request Header Fields Too Large"}
_REASONS[503] = "Service Unavailable"
_CODES = {408: "RequestTimeout", 414: "UriTooLong", 431: "RequestHeaderFieldsTooLarge"}
_CODES[503] = "ServiceUnavailable"


def total_connection_cap(configured: int) -> int:
    """``configured``, or when 0 three quarters of the file descriptor limit: the other quarter
    stays for the store, TURN, relay sockets and logs, so a flood is refused with a 503 instead
    of making ``accept`` fail silently (and the health probe with it)."""
    if configured:
        return configured
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(64, soft * 3 // 4)


class ConnectionGuard:
    """Open connections by client address, the caps on them, and the metrics of every refusal.
    One per node, shared by its HTTP and HTTPS listeners and by the WebSocket connections they
    upgrade to."""

    def __init__(self, settings: HttpSettings, registry: CollectorRegistry | None = None) -> None:
        self.settings = settings
        self.per_ip = settings.max_connections_per_ip
        self.total = total_connection_cap(settings.max_connections)
        self._open: dict[str, int] = {}
        self.count = 0
        self.log = RateLimitedLog(log)
        registry = registry if registry is not None else CollectorRegistry()
        self._gauge = Gauge(
            "telex_http_connections", "Open HTTP and WebSocket connections", registry=registry
        )
        self.refused = Counter(
            "telex_http_refused", "Connections and requests refused by a limit", ["reason"], registry=registry
        )

    def admit(self, address: str) -> str | None:
        """Count a new connection from ``address``; the reason it is refused, if it is (not counted)."""
        if self.count >= self.total:
            return "connections"
        held = self._open.get(address, 0)
        if self.per_ip and held >= self.per_ip:
            return "connections_per_ip"
        self._open[address] = held + 1
        self.count += 1
        self._gauge.inc()
        return None

    def release(self, address: str) -> None:
        held = self._open.get(address, 0)
        if held <= 1:
            self._open.pop(address, None)
        else:
            self._open[address] = held - 1
        self.count -= 1
        self._gauge.dec()

    def held(self, address: str) -> int:
        return self._open.get(address, 0)

    def refuse(self, reason: str, address: str) -> None:
        self.refused.labels(reason).inc()
        self.log.warning(reason, "refused a connection or request from %s: %s", address, reason)


def _response(status: int, message: str, extra: bytes = b"") -> bytes:
    body = json.dumps({"error": {"code": _CODES[status], "message": message}}).encode()
    return (
        b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
        b"x-ms-error-code: %s\r\nx-content-type-options: nosniff\r\n%sconnection: close\r\n\r\n"
        % (status, _REASONS[status].encode(), len(body), _CODES[status].encode(), extra)
    ) + body


class _Refused(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


class TelexHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits in the module docstring. ``guard`` is set on
    the class ``http_protocol`` makes for a node."""

    guard: ConnectionGuard

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = self.guard.settings
        self._max_head = settings.max_header_bytes
        self._max_headers = settings.max_header_count
        self._max_line = settings.max_request_line_bytes
        self._address = ""
        self._admitted = False
        self._in_head = True  # the bytes arriving now belong to a request head
        self._head_bytes = 0
        self._heads = 0  # heads completed so far (to tell where a head began)
        self._header_count = 0
        self._header_size = 0
        self._timer: asyncio.TimerHandle | None = None
        self._lingering = -1  # bytes dropped since a refusal (-1: none)

    # the connection ---------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._address = self.client[0] if self.client else ""
        refused = self.guard.admit(self._address)
        if refused is not None:
            self.guard.refuse(refused, self._address)
            message = (
                "Too many connections from this address."
                if refused == "connections_per_ip"
                else "The server has too many connections; retry later."
            )
            transport.write(_response(503, message, b"retry-after: 1\r\n"))
            self._linger()
            return
        self._admitted = True
        self._arm(self.guard.settings.header_timeout_seconds, "header_timeout")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._admitted:
            self._admitted = False
            self.guard.release(self._address)
        super().connection_lost(exc)

    def handle_websocket_upgrade(self) -> None:
        self._disarm()
        admitted, self._admitted = self._admitted, False
        super().handle_websocket_upgrade()
        upgraded = self.transport.get_protocol()
        if admitted:  # the WebSocket protocol releases it when the connection ends
            address, guard = self._address, self.guard
            setattr(upgraded, "telex_release", lambda: guard.release(address))  # noqa: B010

    # bytes in ---------------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        # uvicorn's, with the limits: a limit found inside a parser callback raises _Refused.
        if self._lingering >= 0:
            self._lingering += len(data)
            if self._lingering > _LINGER_BYTES:
                self._abort()
            return
        self._unset_keepalive_if_required()
        was_in_head, heads = self._in_head, self._heads
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            refused = exc.__context__
            if isinstance(refused, _Refused):
                self._refuse(refused)
            else:
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")
            return
        except httptools.HttpParserError:
            self.logger.warning("Invalid HTTP request received.")
            self.send_400_response("Invalid HTTP request received.")
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._in_head and self.parser is not None:
            # Whole reads are counted: a read in which this head began may hold the end of the
            # previous request too, so it counts as nothing, and the bound is the limit plus one read.
            self._head_bytes = self._head_bytes + len(data) if was_in_head and heads == self._heads else 0
            if self._head_bytes > self._max_head:
                self._refuse(_Refused(431, "header_bytes", "The request headers are too large."))

    def timeout_keep_alive_handler(self) -> None:
        # A request sent before the deadline may still sit unread in the socket when the timer
        # runs late; closing then would reset it. Read it instead (data_received cancels the
        # timer armed here; an end of stream closes the connection as usual).
        if not self.transport.is_closing() and _readable(self.transport):
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )
            return
        super().timeout_keep_alive_handler()

    # parser callbacks -------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._header_count = 0
        self._header_size = 0
        if self._timer is None:
            self._arm(self.guard.settings.header_timeout_seconds, "header_timeout")

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self._max_line:
            raise _Refused(414, "request_line", "The request line is too long.")

    def on_header(self, name: bytes, value: bytes) -> None:
        # Counted here too: a head that arrives whole in one read is never seen unfinished.
        self._header_count += 1
        self._header_size += len(name) + len(value) + 4
        if self._header_count > self._max_headers:
            raise _Refused(431, "header_count", "The request has too many headers.")
        if self._header_size > self._max_head:
            raise _Refused(431, "header_bytes", "The request headers are too large.")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._heads += 1
        self._head_bytes = 0
        self._disarm()
        super().on_headers_complete()
        if self.cycle is not None and self.cycle.scope is self.scope and not self.cycle.response_complete:
            self._arm(self.guard.settings.body_timeout_seconds, "body_timeout")

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_head = True
        self._head_bytes = 0
        super().on_message_complete()

    # timers and refusals ----------------------------------------------------------------------
    def _arm(self, seconds: float, reason: str) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, self._timed_out, reason)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self, reason: str) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if reason == "header_timeout" and not self._in_head:
            return
        message = "The request took too long to arrive."
        self._refuse(_Refused(408, reason, message))

    def _refuse(self, refused: _Refused) -> None:
        """Answer ``refused.status`` (unless a response has begun) and close: the request, or what
        has arrived of it, goes no further."""
        self._disarm()
        self.guard.refuse(refused.reason, self._address)
        cycle = self.cycle
        started = cycle is not None and cycle.scope is self.scope and cycle.response_started
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the app's later sends are dropped; its receive ends
            cycle.message_event.set()
        if not started and not self.transport.is_closing():
            self.transport.write(_response(refused.status, refused.message))
        self._linger()

    def _linger(self) -> None:
        """Close after a refusal: the write side at once, the connection once the client has
        closed its side, or after ``_LINGER_SECONDS`` or ``_LINGER_BYTES``, whichever is first."""
        transport = self.transport
        if transport.is_closing():
            return
        if not transport.can_write_eof():  # TLS cannot half-close
            transport.close()
            return
        self._lingering = 0
        transport.write_eof()
        transport.resume_reading()
        self._disarm()
        self._timer = self.loop.call_later(_LINGER_SECONDS, self._abort)

    def _abort(self) -> None:
        self._timer = None
        self.transport.abort()

    def eof_received(self) -> None:
        if self._lingering >= 0:
            self.transport.close()


def _readable(transport: asyncio.BaseTransport) -> bool:
    sock = transport.get_extra_info("socket")
    if sock is None:
        return False
    poller = select.poll()  # not select(): descriptors past 1024 are usual on a busy server
    poller.register(sock.fileno(), select.POLLIN)
    return bool(poller.poll(0))


def http_protocol(guard: ConnectionGuard) -> type[TelexHttpProtocol]:
    """The protocol class for uvicorn's ``http=`` setting, bound to ``guard``."""
    return type("TelexHttpProtocol", (TelexHttpProtocol,), {"guard": guard})
