"""Settings of the HTTP listeners (the ``[http]`` section)."""

from __future__ import annotations

from pydantic import Field

from telex.core.settings import StrictSettings

__all__ = ["HttpSettings"]


class HttpSettings(StrictSettings):
    max_body_bytes: int = Field(default=1 << 20, ge=1024)
    # Seconds SIGTERM waits for in-flight requests before closing connections.
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)
