"""Settings of phone numbers (the ``[numbers]`` section)."""

from __future__ import annotations

from pydantic import Field

from telex.core.settings import StrictSettings

__all__ = ["NumbersSettings"]


class NumbersSettings(StrictSettings):
    """Search holds, reservations and long-running operations (acs-wire.md §1.6, §3.4)."""

    # A search holds the numbers it found this long (ACS: about 15 minutes); purchase within it.
    search_hold_minutes: float = Field(default=15.0, gt=0, le=24 * 60)
    # A reservation holds its numbers this long after its last change, and at most
    # ``reservation_max_minutes`` after it was created (ACS: 15 minutes and 2 hours).
    reservation_hold_minutes: float = Field(default=15.0, gt=0, le=24 * 60)
    reservation_max_minutes: float = Field(default=120.0, gt=0, le=7 * 24 * 60)
    # ``retry-after-ms`` on long-running operations: how long a poller waits between polls
    # (azure-core otherwise waits 2 s; ``Retry-After: 0`` counts as absent).
    retry_after_ms: int = Field(default=500, ge=1, le=60_000)
    # An operation that a node began and did not finish in this long (the node died) is run
    # again by any node; each node looks for such operations every ``sweep_seconds``.
    operation_lease_seconds: float = Field(default=30.0, gt=0, le=3600)
    sweep_seconds: float = Field(default=5.0, gt=0, le=600)
    # Most numbers one search may ask for.
    max_search_quantity: int = Field(default=100, ge=1, le=1000)
    # How many numbers one browse returns at most (ACS returns a random sample).
    browse_results: int = Field(default=20, ge=1, le=200)
    # Operations, searches and reservations are forgotten this long after they ended.
    retention_hours: float = Field(default=24.0, gt=0)
