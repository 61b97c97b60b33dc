"""Event subscriptions as the service sees them: what to deliver, where, how, and its state.

A subscription is Event Grid's *event subscription* on a Communication Services resource
(push-events-sms.md §5): a webhook URL, a filter (ACS event types, subject prefix and suffix),
a schema (Event Grid or CloudEvents 1.0), a batch size, a retry policy, plus what Telex adds on
top: two Standard Webhooks signing secrets (the current one and, for a while after a rotation,
the previous one).

    provisioningState  Succeeded             the endpoint consented: deliveries flow
                       AwaitingManualAction  the endpoint answered the handshake without the code;
                                             its owner has ``manual_validation_seconds`` to open
                                             the validation link, then the subscription fails
                       Failed                the manual validation never came: nothing is delivered
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from telex.webhooks.catalogue import AcsEvent
from telex.webhooks.envelope import Schema
from telex.webhooks.retry import RetryPolicy
from telex.webhooks.signing import WebhookSecret

__all__ = [
    "NAME_PATTERN",
    "DeliveryFilter",
    "ProvisioningState",
    "Subscription",
    "SubscriptionSpec",
    "cursor_name",
]

# Event Grid's rule for event subscription names.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9-]{3,64}$")
CURSOR_PREFIX = "webhook:"


def cursor_name(name: str) -> str:
    return CURSOR_PREFIX + name


class ProvisioningState(StrEnum):
    SUCCEEDED = "Succeeded"
    AWAITING_MANUAL_ACTION = "AwaitingManualAction"
    FAILED = "Failed"


@dataclass(frozen=True, slots=True)
class DeliveryFilter:
    """Event Grid's filter: ``includedEventTypes`` (None: every type), subject prefix and suffix."""

    included_types: frozenset[str] | None = None
    subject_begins_with: str = ""
    subject_ends_with: str = ""
    case_sensitive: bool = False

    def wants(self, types: frozenset[str]) -> frozenset[str]:
        """Which of ``types`` this filter lets through (by type alone)."""
        return types if self.included_types is None else types & self.included_types

    def matches(self, event: AcsEvent) -> bool:
        if self.included_types is not None and event.type not in self.included_types:
            return False
        subject, begins, ends = event.subject, self.subject_begins_with, self.subject_ends_with
        if not self.case_sensitive:
            subject, begins, ends = subject.lower(), begins.lower(), ends.lower()
        return subject.startswith(begins) and subject.endswith(ends)


@dataclass(frozen=True, slots=True)
class SubscriptionSpec:
    """What a caller asks for (create, replace, update)."""

    url: str
    schema: Schema = Schema.EVENT_GRID
    filter: DeliveryFilter = field(default_factory=DeliveryFilter)
    max_events_per_batch: int = 1
    preferred_batch_kb: int = 64
    max_attempts: int = 30
    ttl_minutes: int = 1440


@dataclass(frozen=True, slots=True)
class Subscription:
    name: str
    spec: SubscriptionSpec
    secret: WebhookSecret
    state: ProvisioningState
    created_at: float
    updated_at: float
    previous_secret: WebhookSecret | None = None
    previous_secret_until: float | None = None
    # While AwaitingManualAction: the SHA-256 of the validation link's token, and its deadline.
    validation_hash: str | None = None
    validation_deadline: float | None = None
    # Requests per minute the receiver allowed in the CloudEvents handshake (None: no limit).
    allowed_rate: int | None = None

    @property
    def cursor(self) -> str:
        return cursor_name(self.name)

    def secrets(self, now: float) -> list[WebhookSecret]:
        """The secrets that sign a delivery at ``now``: the current one, and the previous one
        until its time is up."""
        out = [self.secret]
        if self.previous_secret is not None and (self.previous_secret_until or 0) > now:
            out.append(self.previous_secret)
        return out

    def effective_state(self, now: float) -> ProvisioningState:
        """The state, with an expired manual-validation window counted as failed."""
        if (
            self.state is ProvisioningState.AWAITING_MANUAL_ACTION
            and self.validation_deadline is not None
            and now >= self.validation_deadline
        ):
            return ProvisioningState.FAILED
        return self.state

    def retry_policy(self, schedule: tuple[float, ...], jitter: float) -> RetryPolicy:
        return RetryPolicy(
            schedule=schedule,
            max_attempts=self.spec.max_attempts,
            event_ttl=self.spec.ttl_minutes * 60.0,
            jitter=jitter,
        )
