"""When to try a webhook delivery again, and when to give up: Event Grid's policy, sans-I/O.

    attempt n ends ──► AttemptResult (status + Retry-After, or a transport failure)
                   ──► decide(policy, attempts=n, published_at, now) ──► Decision
                          DELIVERED                      200, 201, 202, 203, 204
                          DEAD_LETTER (reason, at once)  400, 401, 403, 413
                          DEAD_LETTER (limits)           n == max_attempts, or past the event TTL
                          RETRY at now + delay           everything else (408, 429, 5xx, 3xx, 404,
                                                         timeouts, refused or failed connections)

The figures are Event Grid's for webhooks (push-events-sms.md §5.5, security.md §2.5, from
learn.microsoft.com/azure/event-grid/delivery-and-retry): success is only 200–204; the response
is awaited 30 s; retries come after 10 s, 30 s, 1 min, 5 min, 10 min, 30 min, 1 h, 3 h, 6 h, then
every 12 h, with a little jitter; the policy stops at whichever comes first of ``max_attempts``
(1–30, default 30) and the event's time to live (1–1440 min, default 1440). 400, 401, 403 and 413
are configuration errors that retries cannot fix, so the event is dead-lettered at once.

A ``Retry-After`` (429 and 503 carry one) pushes the next attempt later, never earlier than the
schedule, and never later than ``retry_after_max``. ``RetryPolicy.compressed(k)`` divides every
duration by ``k`` so tests and demos run the whole schedule in milliseconds.

Dead-letter vocabulary follows what Event Grid writes into a dead-lettered event:
``deadLetterReason`` (``MaxDeliveryAttemptsExceeded``, ``TimeToLiveExceeded``,
``UndeliverableDueToHttpBadRequest`` and the same form for the other non-retried statuses),
``deliveryAttempts``, ``lastDeliveryOutcome`` (.NET ``HttpStatusCode`` names such as
``BadRequest`` or ``ServiceUnavailable``, ``TimedOut`` for a timeout), ``lastHttpStatusCode``,
``publishTime`` and ``lastDeliveryAttemptTime`` (see ``dead_letter_fields``).
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass, replace
from enum import Enum
from http import HTTPStatus
from typing import Any

from telex.webhooks.envelope import rfc3339

__all__ = [
    "DEFAULT_SCHEDULE",
    "NOT_RETRIED",
    "SUCCESS",
    "Action",
    "AttemptResult",
    "DeadLetterReason",
    "Decision",
    "RetryPolicy",
    "TransportFailure",
    "dead_letter_fields",
    "decide",
    "parse_retry_after",
]

# Seconds after the n-th failed attempt; the last figure repeats.
DEFAULT_SCHEDULE: tuple[float, ...] = (10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600)
SUCCESS = frozenset({200, 201, 202, 203, 204})
NOT_RETRIED = frozenset({400, 401, 403, 413})


class TransportFailure(Enum):
    """Why an attempt got no HTTP status; every one of them is retried."""

    TIMEOUT = "TimedOut"
    CONNECT = "ConnectFailure"
    DNS = "NameResolutionFailure"
    # The destination now resolves to an address the outbound policy forbids (DNS rebinding, or a
    # host moved onto a private network). Retried, because DNS may turn back; it never connects.
    REFUSED = "DestinationRefused"
    TLS = "TlsFailure"
    PROTOCOL = "ProtocolError"


class Action(Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    DEAD_LETTER = "dead_letter"


class DeadLetterReason(Enum):
    MAX_DELIVERY_ATTEMPTS_EXCEEDED = "MaxDeliveryAttemptsExceeded"
    TIME_TO_LIVE_EXCEEDED = "TimeToLiveExceeded"
    BAD_REQUEST = "UndeliverableDueToHttpBadRequest"
    UNAUTHORIZED = "UndeliverableDueToHttpUnauthorized"
    FORBIDDEN = "UndeliverableDueToHttpForbidden"
    REQUEST_ENTITY_TOO_LARGE = "UndeliverableDueToHttpRequestEntityTooLarge"


_NOT_RETRIED_REASON = {
    400: DeadLetterReason.BAD_REQUEST,
    401: DeadLetterReason.UNAUTHORIZED,
    403: DeadLetterReason.FORBIDDEN,
    413: DeadLetterReason.REQUEST_ENTITY_TOO_LARGE,
}

# .NET HttpStatusCode names where they differ from Python's http.HTTPStatus names.
_DOTNET_NAMES = {
    408: "RequestTimeout",
    413: "RequestEntityTooLarge",
    414: "RequestUriTooLong",
    416: "RequestedRangeNotSatisfiable",
    422: "UnprocessableEntity",
    500: "InternalServerError",
}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """One subscription's retry policy; the defaults are Event Grid's."""

    schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    max_attempts: int = 30
    event_ttl: float = 1440 * 60.0
    response_timeout: float = 30.0
    retry_after_max: float = 3600.0
    # Each delay is moved by up to ± this fraction (Event Grid adds "small randomness").
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if not self.schedule or any(d <= 0 for d in self.schedule):
            raise ValueError("the retry schedule needs positive delays")
        if not 1 <= self.max_attempts <= 30:
            raise ValueError("max_attempts is 1–30 (Event Grid's bounds)")
        if self.event_ttl <= 0 or not 0 <= self.jitter < 1:
            raise ValueError("event_ttl must be positive and jitter in [0, 1)")

    @classmethod
    def event_grid(cls, *, max_attempts: int = 30, ttl_minutes: int = 1440) -> RetryPolicy:
        """The policy a subscription configures the way Event Grid does (attempts, TTL in minutes)."""
        if not 1 <= ttl_minutes <= 1440:
            raise ValueError("the event time to live is 1–1440 minutes")
        return cls(max_attempts=max_attempts, event_ttl=ttl_minutes * 60.0)

    def compressed(self, factor: float) -> RetryPolicy:
        """Every duration divided by ``factor`` (tests: 1000 turns 10 s into 10 ms)."""
        return replace(
            self,
            schedule=tuple(d / factor for d in self.schedule),
            event_ttl=self.event_ttl / factor,
            response_timeout=self.response_timeout / factor,
            retry_after_max=self.retry_after_max / factor,
        )

    def delay(self, attempts: int, jitter_sample: float = 0.5) -> float:
        """The wait after ``attempts`` failed attempts; ``jitter_sample`` is uniform in [0, 1)."""
        base = self.schedule[min(attempts, len(self.schedule)) - 1]
        return base * (1 + self.jitter * (2 * jitter_sample - 1))


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """How one attempt ended: an HTTP status (with Retry-After, in seconds) or a transport failure."""

    status: int | None = None
    failure: TransportFailure | None = None
    retry_after: float | None = None

    def __post_init__(self) -> None:
        if (self.status is None) == (self.failure is None):
            raise ValueError("an attempt ends with a status or a transport failure, not both")

    @property
    def outcome(self) -> str:
        """Event Grid's ``lastDeliveryOutcome`` for this attempt."""
        if self.failure is not None:
            return self.failure.value
        assert self.status is not None
        if self.status in SUCCESS:
            return "Succeeded"
        if self.status in _DOTNET_NAMES:
            return _DOTNET_NAMES[self.status]
        try:
            return "".join(word.capitalize() for word in HTTPStatus(self.status).name.split("_"))
        except ValueError:
            return f"Http{self.status}"


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    attempts: int
    outcome: str
    retry_at: float | None = None
    reason: DeadLetterReason | None = None


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP-date, RFC 9110 §10.2.3)."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - now)


def decide(
    policy: RetryPolicy,
    result: AttemptResult,
    *,
    attempts: int,
    published_at: float,
    now: float,
    jitter_sample: float = 0.5,
) -> Decision:
    """What to do after the ``attempts``-th attempt (1-based) ended with ``result`` at ``now``.

    ``published_at`` starts the event's time to live. The caller draws ``jitter_sample`` from its
    random source (0.5 means no jitter), so this function stays deterministic.
    """
    if attempts < 1:
        raise ValueError("attempts counts from 1")
    outcome = result.outcome
    if result.status in SUCCESS:
        return Decision(Action.DELIVERED, attempts, outcome)
    if result.status in NOT_RETRIED:
        return Decision(Action.DEAD_LETTER, attempts, outcome, reason=_NOT_RETRIED_REASON[result.status])
    if attempts >= policy.max_attempts:
        return Decision(
            Action.DEAD_LETTER, attempts, outcome, reason=DeadLetterReason.MAX_DELIVERY_ATTEMPTS_EXCEEDED
        )
    delay = policy.delay(attempts, jitter_sample)
    if result.retry_after is not None:
        delay = max(delay, min(result.retry_after, policy.retry_after_max))
    retry_at = now + delay
    if retry_at >= published_at + policy.event_ttl:
        # The next attempt would fall after the event expired: give up now rather than wait.
        return Decision(Action.DEAD_LETTER, attempts, outcome, reason=DeadLetterReason.TIME_TO_LIVE_EXCEEDED)
    return Decision(Action.RETRY, attempts, outcome, retry_at=retry_at)


def dead_letter_fields(
    decision: Decision, *, published_at: float, last_attempt_at: float, last_status: int | None
) -> dict[str, Any]:
    """The fields Event Grid adds to a dead-lettered event (merge them into the event's dict)."""
    if decision.action is not Action.DEAD_LETTER or decision.reason is None:
        raise ValueError("only a dead-letter decision has dead-letter fields")
    fields: dict[str, Any] = {
        "deadLetterReason": decision.reason.value,
        "deliveryAttempts": decision.attempts,
        "lastDeliveryOutcome": decision.outcome,
        "publishTime": rfc3339(published_at),
        "lastDeliveryAttemptTime": rfc3339(last_attempt_at),
    }
    if last_status is not None:
        fields["lastHttpStatusCode"] = last_status
    return fields
