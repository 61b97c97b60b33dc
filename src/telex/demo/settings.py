"""Settings of the demo web app (the ``[demo]`` section)."""

from __future__ import annotations

from pydantic import Field

from telex.core.settings import StrictSettings

__all__ = ["DemoSettings"]


class DemoSettings(StrictSettings):
    """``serve --demo``: the demo web app at ``/`` and its sample trusted service."""

    # Off by default: the sample service signs in anyone who opens the page.
    enabled: bool = False
    # Lifetime of the tokens it mints (the page refreshes them through its session).
    token_minutes: int = Field(default=60, ge=60, le=1440)
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    # Sign-ins (each creates a user) per client address, and rooms joined or created per signed-in
    # visitor, in any minute; 429 beyond. Each visitor's new rooms count against chat's thread
    # limit as that visitor's own, so one visitor cannot use up everyone's.
    sign_ins_per_ip_per_minute: int = Field(default=10, ge=0)
    rooms_per_visitor_per_minute: int = Field(default=20, ge=0)
