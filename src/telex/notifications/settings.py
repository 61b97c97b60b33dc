"""Settings of the notification service the JS chat SDK connects to (the ``[notifications]``
section)."""

from __future__ import annotations

from pydantic import Field

from telex.core.settings import StrictSettings

__all__ = ["NotificationSettings"]


class NotificationSettings(StrictSettings):
    """The JS chat SDK's realtime notifications (``docs/js-sdks.md``)."""

    enabled: bool = True
    # Socket.io heartbeat: sent after this long without traffic (the client allows 60 s).
    heartbeat_seconds: float = Field(default=25.0, gt=0, le=55)
    # A client heard from for this long is gone (it pings every 40 s).
    client_timeout_seconds: float = Field(default=100.0, gt=0)
    # How long an allocation's ticket lets a socket in (the client connects at once).
    ticket_seconds: float = Field(default=120.0, gt=0, le=3600)
    # Packets queued for one socket before it is closed as a slow consumer (it resumes).
    queue_size: int = Field(default=1024, ge=8)
    # ... or bytes of packets queued (what a socket that never reads can make the node hold).
    queue_bytes: int = Field(default=4 * 1024 * 1024, ge=64 * 1024)
    # Open sockets per user (closed as unauthorized beyond) and per client address (the upgrade
    # gets 503 beyond), as realtime's; 0 turns either off. http.max_connections bounds them all.
    max_sockets_per_user: int = Field(default=16, ge=0)
    max_sockets_per_ip: int = Field(default=128, ge=0)
    max_frame_bytes: int = Field(default=64 * 1024, ge=1024)
    # How often open sockets re-check their token (revocation must close them within 1 s).
    token_check_seconds: float = Field(default=0.5, gt=0, le=1)
