"""Event Grid's delivery policy (push-events-sms.md §5.5): what every status means, the schedule,
the attempt and TTL limits, Retry-After, and the dead-letter fields."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telex.webhooks import (
    Action,
    AttemptResult,
    DeadLetterReason,
    RetryPolicy,
    TransportFailure,
    dead_letter_fields,
    decide,
    parse_retry_after,
)

T0 = 1_767_225_600.0
EXACT = RetryPolicy(jitter=0.0)


def test_default_schedule_is_event_grids() -> None:
    assert EXACT.schedule == (10, 30, 60, 300, 600, 1800, 3600, 10800, 21600, 43200)
    assert [EXACT.delay(n) for n in range(1, 13)] == [
        10, 30, 60, 300, 600, 1800, 3600, 10800, 21600, 43200, 43200, 43200
    ]  # fmt: skip
    assert (EXACT.max_attempts, EXACT.event_ttl, EXACT.response_timeout) == (30, 86400, 30)


@pytest.mark.parametrize("status", range(100, 600))
def test_every_status(status: int) -> None:
    decision = decide(EXACT, AttemptResult(status=status), attempts=1, published_at=T0, now=T0)
    if status in (200, 201, 202, 203, 204):
        assert decision.action is Action.DELIVERED
        assert decision.outcome == "Succeeded"
    elif status in (400, 401, 403, 413):
        assert decision.action is Action.DEAD_LETTER
        assert decision.reason is not None and decision.reason.value.startswith("UndeliverableDueToHttp")
    else:  # 1xx, 205-299, 3xx (never followed), 404, 408, 410, 429, 5xx ...
        assert decision.action is Action.RETRY
        assert decision.retry_at == T0 + 10


@pytest.mark.parametrize(
    ("status", "reason", "outcome"),
    [
        (400, DeadLetterReason.BAD_REQUEST, "BadRequest"),
        (401, DeadLetterReason.UNAUTHORIZED, "Unauthorized"),
        (403, DeadLetterReason.FORBIDDEN, "Forbidden"),
        (413, DeadLetterReason.REQUEST_ENTITY_TOO_LARGE, "RequestEntityTooLarge"),
    ],
)
def test_not_retried_reasons(status: int, reason: DeadLetterReason, outcome: str) -> None:
    decision = decide(EXACT, AttemptResult(status=status), attempts=1, published_at=T0, now=T0)
    assert (decision.reason, decision.outcome, decision.attempts) == (reason, outcome, 1)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(408, "RequestTimeout"), (429, "TooManyRequests"), (500, "InternalServerError"), (502, "BadGateway"),
     (503, "ServiceUnavailable"), (504, "GatewayTimeout"), (404, "NotFound"), (410, "Gone"),
     (302, "Found"), (422, "UnprocessableEntity"), (599, "Http599")],
)  # fmt: skip
def test_outcome_names(status: int, outcome: str) -> None:
    assert AttemptResult(status=status).outcome == outcome


@pytest.mark.parametrize("failure", list(TransportFailure))
def test_transport_failures_are_retried(failure: TransportFailure) -> None:
    decision = decide(EXACT, AttemptResult(failure=failure), attempts=1, published_at=T0, now=T0 + 30)
    assert decision.action is Action.RETRY
    assert decision.outcome == failure.value
    assert decision.retry_at == T0 + 40


def test_attempt_result_is_a_status_or_a_failure() -> None:
    with pytest.raises(ValueError, match="status or a transport failure"):
        AttemptResult()
    with pytest.raises(ValueError, match="status or a transport failure"):
        AttemptResult(status=500, failure=TransportFailure.TIMEOUT)


def run_until_done(policy: RetryPolicy, failures: list[AttemptResult]) -> list[tuple[float, Action]]:
    """Attempts at the times the policy chooses; each result from ``failures`` in turn (the last repeats)."""
    now, attempts, log = T0, 0, []
    while True:
        attempts += 1
        result = failures[min(attempts - 1, len(failures) - 1)]
        decision = decide(policy, result, attempts=attempts, published_at=T0, now=now)
        log.append((now - T0, decision.action))
        if decision.action is not Action.RETRY:
            return log
        assert decision.retry_at is not None
        now = decision.retry_at


def test_a_dead_endpoint_exhausts_the_24h_ttl_first() -> None:
    log = run_until_done(EXACT, [AttemptResult(status=503)])
    times = [t for t, _ in log]
    # 10 s, 30 s, 1 min, 5 min, 10 min, 30 min, 1 h, 3 h, 6 h, 12 h after each failure:
    assert times == [0, 10, 40, 100, 400, 1000, 2800, 6400, 17200, 38800, 82000]
    # the next would be 82000 + 43200 > 86400: expired long before the 30 attempts
    last = decide(EXACT, AttemptResult(status=503), attempts=11, published_at=T0, now=T0 + 82000)
    assert last.action is Action.DEAD_LETTER and last.reason is DeadLetterReason.TIME_TO_LIVE_EXCEEDED


def test_max_attempts_stops_first_when_small() -> None:
    policy = RetryPolicy.event_grid(max_attempts=4)
    log = run_until_done(RetryPolicy(max_attempts=4, jitter=0), [AttemptResult(status=500)])
    assert [a for _, a in log] == [Action.RETRY] * 3 + [Action.DEAD_LETTER]
    decision = decide(policy, AttemptResult(status=500), attempts=4, published_at=T0, now=T0 + 100)
    assert decision.reason is DeadLetterReason.MAX_DELIVERY_ATTEMPTS_EXCEEDED


def test_ttl_from_minutes_the_event_grid_way() -> None:
    policy = RetryPolicy.event_grid(max_attempts=10, ttl_minutes=30)
    assert policy.event_ttl == 1800
    # The Event Grid docs' example: 30 min TTL, 10 attempts -> at most 6 attempts happen.
    log = run_until_done(RetryPolicy(max_attempts=10, event_ttl=1800, jitter=0), [AttemptResult(status=500)])
    assert len(log) == 6 and log[-1][1] is Action.DEAD_LETTER
    for bad in ({"ttl_minutes": 0}, {"ttl_minutes": 1441}, {"max_attempts": 0}, {"max_attempts": 31}):
        with pytest.raises(ValueError, match=r"minutes|max_attempts"):
            RetryPolicy.event_grid(**bad)


def test_delivered_after_failures() -> None:
    results = [AttemptResult(status=503), AttemptResult(failure=TransportFailure.TIMEOUT),
               AttemptResult(status=429), AttemptResult(status=200)]  # fmt: skip
    log = run_until_done(EXACT, results)
    assert log == [(0, Action.RETRY), (10, Action.RETRY), (40, Action.RETRY), (100, Action.DELIVERED)]


def test_retry_after_is_honoured_within_bounds() -> None:
    def retry_at(retry_after: float | None, attempts: int = 1) -> float | None:
        result = AttemptResult(status=429, retry_after=retry_after)
        return decide(EXACT, result, attempts=attempts, published_at=T0, now=T0).retry_at

    assert retry_at(120) == T0 + 120  # later than the schedule's 10 s
    assert retry_at(2) == T0 + 10  # never earlier than the schedule
    assert retry_at(10**9) == T0 + 3600  # capped at retry_after_max
    assert retry_at(None, attempts=5) == T0 + 600


def test_parse_retry_after() -> None:
    assert parse_retry_after("120", T0) == 120
    assert parse_retry_after(" 7 ", T0) == 7
    assert parse_retry_after("Thu, 01 Jan 2026 00:02:00 GMT", T0) == 120
    assert parse_retry_after("Wed, 31 Dec 2025 23:00:00 GMT", T0) == 0  # in the past
    for junk in (None, "", "-5", "soon", "1.5", "Thu, 01 Jan 2026 00:02:00"):
        assert parse_retry_after(junk, T0) is None


def test_compressed_policy_runs_the_schedule_in_milliseconds() -> None:
    fast = EXACT.compressed(1000)
    assert fast.schedule[:3] == (0.01, 0.03, 0.06)
    assert (fast.event_ttl, fast.response_timeout, fast.retry_after_max) == (86.4, 0.03, 3.6)
    log = run_until_done(fast, [AttemptResult(status=500)])
    assert [round(t, 3) for t, _ in log] == [0, 0.01, 0.04, 0.1, 0.4, 1.0, 2.8, 6.4, 17.2, 38.8, 82.0]


@given(st.integers(1, 40), st.floats(0, 0.999))
def test_jitter_stays_within_its_fraction(attempts: int, sample: float) -> None:
    policy = RetryPolicy()
    base = EXACT.delay(attempts)
    assert base * 0.9 - 1e-9 <= policy.delay(attempts, sample) <= base * 1.1 + 1e-9


def test_policy_bounds() -> None:
    for bad in (
        {"schedule": ()},
        {"schedule": (10, 0)},
        {"max_attempts": 0},
        {"event_ttl": 0},
        {"jitter": 1.0},
    ):
        with pytest.raises(ValueError, match=r"schedule|max_attempts|event_ttl"):
            RetryPolicy(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="attempts counts from 1"):
        decide(EXACT, AttemptResult(status=200), attempts=0, published_at=T0, now=T0)


def test_dead_letter_fields() -> None:
    decision = decide(EXACT, AttemptResult(status=400), attempts=1, published_at=T0, now=T0 + 5)
    assert dead_letter_fields(decision, published_at=T0, last_attempt_at=T0 + 5, last_status=400) == {
        "deadLetterReason": "UndeliverableDueToHttpBadRequest",
        "deliveryAttempts": 1,
        "lastDeliveryOutcome": "BadRequest",
        "publishTime": "2026-01-01T00:00:00Z",
        "lastDeliveryAttemptTime": "2026-01-01T00:00:05Z",
        "lastHttpStatusCode": 400,
    }
    timed_out = decide(RetryPolicy(max_attempts=1), AttemptResult(failure=TransportFailure.TIMEOUT),
                       attempts=1, published_at=T0, now=T0)  # fmt: skip
    fields = dead_letter_fields(timed_out, published_at=T0, last_attempt_at=T0, last_status=None)
    assert fields["deadLetterReason"] == "MaxDeliveryAttemptsExceeded"
    assert fields["lastDeliveryOutcome"] == "TimedOut"
    assert "lastHttpStatusCode" not in fields
    with pytest.raises(ValueError, match="only a dead-letter decision"):
        dead_letter_fields(decide(EXACT, AttemptResult(status=200), attempts=1, published_at=T0, now=T0),
                           published_at=T0, last_attempt_at=T0, last_status=200)  # fmt: skip
