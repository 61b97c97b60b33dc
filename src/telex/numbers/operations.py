"""Long-running operations of the phone-numbers API, as a transition table (sans-I/O).

Searches, purchases, releases and capability updates are ACS long-running operations
(acs-wire.md §1.6): the request is answered 202 with an ``Operation-Location`` at once, and the
client polls ``GET /phoneNumbers/operations/{id}`` until the status is terminal. Theory of
operation: the request records the operation ``notStarted`` and its node runs it straight
after the commit; running takes two write units, so a poll may see each state::

    notStarted ──claim──► running ──complete──► succeeded
        │                   │  └────fail─────► failed      (the error is in the operation body)
        │                   └──claim once the lease lapsed──► running   (the first runner died)
        └──cancel──► (the record is deleted)

The work of an operation and its move to a terminal state commit in one unit, so an operation
either did all its work or none of it; a runner that dies after the claim leaves ``running``
with a lease, and any node's sweep claims it again once the lease has lapsed. Every (state,
input) pair is in ``TRANSITIONS``: either the next state or ``MISUSE`` (raised as
``OperationMisuse``: the caller asked for something the state does not allow).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Final

__all__ = [
    "MISUSE",
    "TRANSITIONS",
    "Operation",
    "OperationInput",
    "OperationKind",
    "OperationMisuse",
    "OperationStatus",
    "new_operation_id",
    "next_status",
]


class OperationStatus(StrEnum):
    NOT_STARTED = "notStarted"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (OperationStatus.SUCCEEDED, OperationStatus.FAILED)


class OperationKind(StrEnum):
    """ACS ``operationType``, and the prefix of the operation id and its header."""

    SEARCH = "search"
    PURCHASE = "purchase"
    RELEASE = "releasePhoneNumber"
    UPDATE_CAPABILITIES = "updatePhoneNumberCapabilities"
    RESERVATION_PURCHASE = "reservationPurchase"

    @property
    def id_prefix(self) -> str:
        """``search_<id>``; also the name of the response header that carries the id
        (``search-id``, ``purchase-id``, ``release-id``, ``capabilities-id``,
        ``reservation-purchase-id``)."""
        return _PREFIXES[self]


_PREFIXES = {
    OperationKind.SEARCH: "search",
    OperationKind.PURCHASE: "purchase",
    OperationKind.RELEASE: "release",
    OperationKind.UPDATE_CAPABILITIES: "capabilities",
    OperationKind.RESERVATION_PURCHASE: "reservation-purchase",
}


class OperationInput(Enum):
    CLAIM = "claim"  # a runner takes the operation (the first time, or after a lapsed lease)
    COMPLETE = "complete"
    FAIL = "fail"
    CANCEL = "cancel"  # DELETE /phoneNumbers/operations/{id}


class OperationMisuse(RuntimeError):
    """The input is not allowed in the operation's state."""


MISUSE: Final = None
# None as the next state of CANCEL means "the record goes away".
_GONE: Final = "gone"

S, In = OperationStatus, OperationInput
TRANSITIONS: dict[tuple[OperationStatus, OperationInput], OperationStatus | str | None] = {
    (S.NOT_STARTED, In.CLAIM): S.RUNNING,
    (S.NOT_STARTED, In.COMPLETE): MISUSE,
    (S.NOT_STARTED, In.FAIL): S.FAILED,  # refused before it ran (e.g. cancelled work it depended on)
    (S.NOT_STARTED, In.CANCEL): _GONE,
    (S.RUNNING, In.CLAIM): S.RUNNING,  # only once the lease lapsed; ``claimable`` says when
    (S.RUNNING, In.COMPLETE): S.SUCCEEDED,
    (S.RUNNING, In.FAIL): S.FAILED,
    (S.RUNNING, In.CANCEL): _GONE,
    (S.SUCCEEDED, In.CLAIM): MISUSE,
    (S.SUCCEEDED, In.COMPLETE): MISUSE,
    (S.SUCCEEDED, In.FAIL): MISUSE,
    (S.SUCCEEDED, In.CANCEL): _GONE,
    (S.FAILED, In.CLAIM): MISUSE,
    (S.FAILED, In.COMPLETE): MISUSE,
    (S.FAILED, In.FAIL): MISUSE,
    (S.FAILED, In.CANCEL): _GONE,
}
del S, In


def next_status(status: OperationStatus, event: OperationInput) -> OperationStatus | None:
    """The state after ``event``; None when the operation is deleted. Raises ``OperationMisuse``."""
    after = TRANSITIONS[(status, event)]
    if after is MISUSE:
        raise OperationMisuse(f"{event.value} is not allowed on a {status.value} operation")
    return None if after == _GONE else OperationStatus(after)


def new_operation_id(kind: OperationKind) -> tuple[str, str]:
    """``(operation id, resource id)``: ``search_<uuid>`` and ``<uuid>``, as ACS names them."""
    resource = str(uuid.uuid4())
    return f"{kind.id_prefix}_{resource}", resource


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation as stored: what it is about (``subject``: a search id, a number, a
    reservation id), its request, and where it is."""

    id: str
    kind: OperationKind
    status: OperationStatus
    subject: str
    created_at: float
    last_action_at: float
    lease_until: float | None = None
    resource_location: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    request: str = "{}"  # JSON

    def claimable(self, now: float) -> bool:
        """Whether a runner may take it now: never started, or running under a lapsed lease."""
        if self.status is OperationStatus.NOT_STARTED:
            return True
        return self.status is OperationStatus.RUNNING and (
            self.lease_until is None or self.lease_until <= now
        )
