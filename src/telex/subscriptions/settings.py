"""Settings of event subscriptions and their delivery (the ``[events]`` section)."""

from __future__ import annotations

from pydantic import Field, field_validator

from telex.core.settings import StrictSettings
from telex.webhooks.retry import DEFAULT_SCHEDULE

__all__ = ["EventsSettings"]


class EventsSettings(StrictSettings):
    """Webhook delivery of the event catalogue (docs/webhooks.md)."""

    # Deliver on this node (every node may; a lease per subscription keeps it to one at a time).
    enabled: bool = True
    # Event Grid's ``topic`` (CloudEvents ``source``) of every event; empty: an ACS-shaped resource
    # path made from the resource id.
    topic: str = ""
    # The origin named in the CloudEvents abuse-protection handshake and on every delivery; what
    # receivers written for Event Grid expect.
    origin: str = "eventgrid.azure.net"
    max_subscriptions: int = Field(default=100, ge=1, le=10_000)
    # Seconds after the n-th failed attempt (the last repeats); Event Grid's, with ± jitter.
    retry_schedule_seconds: tuple[float, ...] = DEFAULT_SCHEDULE
    retry_jitter: float = Field(default=0.1, ge=0, lt=1)
    # How long an endpoint owner has to open the validation link (Event Grid: 10 minutes).
    manual_validation_seconds: float = Field(default=600.0, gt=0, le=86400)
    # A node holds a subscription's lease this long and renews it every third of it.
    lease_seconds: float = Field(default=15.0, ge=0.1, le=600)
    # Workers re-read the log (and subscriptions) at least this often without a doorbell.
    poll_seconds: float = Field(default=1.0, gt=0, le=60)
    # Delivered positions are saved at most this often while busy (a crash redelivers at most
    # this much: delivery is at least once).
    cursor_flush_seconds: float = Field(default=0.25, ge=0, le=10)
    # Log events read per query.
    read_batch: int = Field(default=500, ge=1, le=10_000)

    @field_validator("retry_schedule_seconds")
    @classmethod
    def _schedule(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or any(d <= 0 for d in value):
            raise ValueError("the retry schedule needs positive delays")
        return value
