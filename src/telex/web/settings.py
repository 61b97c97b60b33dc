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
