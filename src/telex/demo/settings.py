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
