"""What the phone-numbers service returns besides owned numbers and operations (plain values)."""

from __future__ import annotations

from dataclasses import dataclass, field

from telex.numbers.model import AssignmentType, Capabilities, Cost, NumberType

__all__ = ["AvailableNumber", "OperatorInfo", "ReservationView", "SearchResult"]


@dataclass(frozen=True, slots=True)
class SearchResult:
    search_id: str
    numbers: tuple[str, ...]
    number_type: NumberType
    assignment: AssignmentType
    capabilities: Capabilities
    cost: Cost
    expires_by: float
    agreement_required: bool = False


@dataclass(frozen=True, slots=True)
class AvailableNumber:
    """A number offered by a browse, or one in a reservation (``status``: available, reserved,
    expired, error, purchased; ``error`` set with ``error``)."""

    e164: str
    country: str
    number_type: NumberType
    assignment: AssignmentType
    capabilities: Capabilities
    cost: Cost
    status: str
    error: tuple[str, str] | None = None  # (code, message)

    @property
    def id(self) -> str:
        return self.e164.lstrip("+")


@dataclass(frozen=True, slots=True)
class ReservationView:
    id: str
    status: str  # active | submitted | completed | expired
    expires_at: float
    numbers: dict[str, AvailableNumber] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OperatorInfo:
    e164: str
    national_format: str
    international_format: str
    country: str | None
    number_type: str  # unknown | other | geographic | mobile
    operator_name: str | None = None
