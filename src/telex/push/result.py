"""What a push provider's answer means for the registration and the message.

Every provider client returns a ``PushResult``; the push consumer acts on ``outcome`` alone:

    DELIVERED      accepted by the provider (not a promise that the device showed it)
    GONE           the registration (token, subscription, channel) is dead: delete it
    RETRY          try again after ``retry_after`` (the provider's) or ``backoff()`` (ours)
    DROPPED        this message can never go through as it is (too large, malformed): log, drop
    MISCONFIGURED  our credentials or app identifiers were refused: alert the operator
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["Outcome", "PushKind", "PushResult", "backoff"]


class PushKind(Enum):
    """Why a push is sent: a ringing call (wake now, short-lived) or a chat message."""

    CALL = "call"
    CHAT = "chat"


class Outcome(Enum):
    DELIVERED = "delivered"
    GONE = "gone"
    RETRY = "retry"
    DROPPED = "dropped"
    MISCONFIGURED = "misconfigured"


@dataclass(frozen=True, slots=True)
class PushResult:
    outcome: Outcome
    reason: str = ""
    status: int | None = None
    retry_after: float | None = None
    message_id: str | None = None


def backoff(attempt: int, *, base: float = 1.0, cap: float = 300.0, jitter_sample: float = 0.5) -> float:
    """Exponential backoff for a provider that asks for a retry without saying when.

    ``attempt`` counts retries from 1; the delay doubles from ``base`` up to ``cap`` and is then
    spread over [50 %, 150 %] by ``jitter_sample`` (uniform in [0, 1), drawn by the caller), so
    that many senders refused at once do not come back at once.
    """
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    delay: float = min(cap, base * 2.0 ** min(attempt - 1, 32))
    return delay * (0.5 + jitter_sample)
