"""Settings of the HTTP listeners (the ``[http]`` section)."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, field_validator

from telex.core.settings import StrictSettings

__all__ = ["HttpSettings", "normalize_origin"]


def normalize_origin(text: str) -> str:
    """``scheme://host[:port]`` in the form browsers send in ``Origin`` (lower case, no default
    port, no path); ``ValueError`` for anything else."""
    if text == "*":
        return text
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{text!r} is not an origin (scheme://host[:port])")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{text!r} is not an origin: no path, query or user part")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{text!r} has an invalid port") from exc
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None and port != default else "")


class HttpSettings(StrictSettings):
    max_body_bytes: int = Field(default=1 << 20, ge=1024)
    # The request head (request line and headers): what a client may make the server buffer
    # before it knows who is asking (web/protocol.py). 431 or 414 beyond, and the connection closes.
    max_header_bytes: int = Field(default=32 * 1024, ge=4096, le=1 << 20)
    max_header_count: int = Field(default=100, ge=16, le=1000)
    max_request_line_bytes: int = Field(default=8192, ge=1024, le=1 << 20)
    # Slowloris: the head must arrive within header_timeout_seconds of its first byte (or of the
    # connection), the body within body_timeout_seconds of the head; 408 and close otherwise.
    header_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    body_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    # An idle keep-alive connection is closed after this long.
    keep_alive_timeout_seconds: float = Field(default=5.0, gt=0, le=300)
    # Open TCP connections (HTTP and WebSocket) from one client address, and in total (0: three
    # quarters of the process's file descriptor limit). Beyond either, a new connection gets 503.
    max_connections_per_ip: int = Field(default=256, ge=0)
    max_connections: int = Field(default=0, ge=0)
    # Strict-Transport-Security on HTTPS responses (seconds; 0 leaves the header out).
    hsts_max_age_seconds: int = Field(default=31536000, ge=0)
    # /metrics: served on a separate listener (admin_port; 0 picks a free one) on admin_host,
    # loopback by default, and never on the public listeners. With metrics_token set, the admin
    # listener asks for "Authorization: Bearer <token>" too.
    admin_host: str = "127.0.0.1"
    admin_port: int | None = Field(default=9464, ge=0, le=65535)
    metrics_token: str = ""
    # Seconds SIGTERM waits for in-flight requests before closing connections.
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)
    # Seconds between SIGTERM and closing the listeners, during which /readyz answers 503 while
    # every request is still served: set it above the load balancer's health-check interval times
    # its failure count, so the balancer stops sending work before the node stops taking it.
    drain_seconds: float = Field(default=0.0, ge=0)
    # Browser origins, besides the server's own, allowed to call the REST API (CORS) and to open
    # /realtime: "https://app.example.com", or "*" for any (never with credentials).
    allowed_origins: tuple[str, ...] = ()
    # How long a browser may cache a preflight answer (Chromium caps it at 7200).
    cors_max_age_seconds: int = Field(default=600, ge=0, le=86400)

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(normalize_origin(o) for o in value))
