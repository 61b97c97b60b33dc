"""Settings of the realtime gateway (the ``[realtime]`` section)."""

from __future__ import annotations

from pydantic import Field

from telex.core.settings import StrictSettings

__all__ = ["RealtimeSettings"]


class RealtimeSettings(StrictSettings):
    """The realtime gateway (``/realtime``) and this node's fan-out hub (the ``[realtime]`` section)."""

    # Frames a socket may have waiting to be sent (items and bytes) before it is closed with 4008.
    queue_size: int = Field(default=1024, ge=8)
    queue_bytes: int = Field(default=4 << 20, ge=64 << 10)
    heartbeat_seconds: float = Field(default=15.0, gt=0)
    auth_timeout_seconds: float = Field(default=5.0, gt=0)
    max_frame_bytes: int = Field(default=64 * 1024, ge=1024)
    # The largest frame sent to a client: an event whose frame would be larger goes out as a
    # "skipped" frame naming it (its cursor, size and ids to fetch it by). At most 4 MiB, what the
    # Python client accepts; chat's input limits keep real events far below the default.
    max_event_bytes: int = Field(default=1 << 20, ge=4096, le=4 << 20)
    # Open /realtime sockets per user (a 4029 close beyond) and per client address (a 503 to
    # the upgrade beyond); 0 turns either off. http.max_connections bounds them all together.
    max_sockets_per_user: int = Field(default=16, ge=0)
    max_sockets_per_ip: int = Field(default=128, ge=0)
    # How often open connections re-check their token (revocation must close them within 1 s).
    token_check_seconds: float = Field(default=0.5, gt=0, le=1)
    # The hub re-reads the log this often even without a bus announcement (a lost one costs latency).
    poll_seconds: float = Field(default=1.0, gt=0)
