"""Where Telex may send requests chosen by customers and users (the ``[outbound]`` section).

Webhook URLs, Web Push subscription endpoints and WNS channel URIs are destinations someone
else picked; they all go out under one policy (``OutboundPolicy``, the TURN peer policy applied
to every resolved address). The defaults are production's: https on port 443 to public
addresses only.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from telex.core.settings import StrictSettings
from telex.webhooks.outbound import AllowEntry, OutboundPolicy

__all__ = ["OutboundSettings"]


class OutboundSettings(StrictSettings):
    # Plain http (and port 80) for development receivers; never in production.
    allow_http: bool = False
    ports: tuple[int, ...] = (443,)
    # Exceptions to the address policy: "10.20.0.0/16", "127.0.0.1:8080", "[::1]:8443".
    allowed: tuple[str, ...] = ()
    # Networks refused on top of the built-in classes (they win over ``allowed``).
    denied: tuple[str, ...] = ()
    connect_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # Event Grid waits 30 s for a response before it counts the attempt as failed.
    response_timeout_seconds: float = Field(default=30.0, gt=0, le=120)
    max_response_bytes: int = Field(default=64 * 1024, ge=1024, le=1 << 20)
    # Extra certificate authorities to trust (PEM), e.g. an internal CA; empty: the system's.
    ca_file: str = ""

    @field_validator("ports")
    @classmethod
    def _ports(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(not 0 < p < 65536 for p in value):
            raise ValueError("ports are 1-65535, at least one")
        return value

    @field_validator("allowed")
    @classmethod
    def _allowed(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            AllowEntry.parse(entry)  # raises ValueError naming the entry
        return value

    def policy(self) -> OutboundPolicy:
        return OutboundPolicy.from_settings(
            allow=self.allowed,
            denied=self.denied,
            allow_http=self.allow_http,
            ports=frozenset(self.ports),
            connect_timeout=self.connect_timeout_seconds,
            response_timeout=self.response_timeout_seconds,
            max_response_bytes=self.max_response_bytes,
        )
