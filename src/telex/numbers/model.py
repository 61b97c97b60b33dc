"""The values of the phone-number capability: capabilities, types, costs, numbers owned.

Capability        none | inbound | outbound | inbound+outbound   (ACS ``PhoneNumberCapabilityType``)
Capabilities      calling + sms, each a Capability
NumberType        geographic | tollFree | mobile                  (ACS ``phoneNumberType``)
AssignmentType    person | application                            (ACS ``assignmentType``)
OwnedNumber       a number this resource bought, with what it may do
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from telex.telephony.numbers import E164, AcsNumberType

__all__ = [
    "AssignmentType",
    "Capabilities",
    "Capability",
    "Cost",
    "NumberType",
    "OwnedNumber",
    "number_id",
]

NumberType = AcsNumberType


class Capability(StrEnum):
    NONE = "none"
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INBOUND_OUTBOUND = "inbound+outbound"

    @property
    def inbound(self) -> bool:
        return self in (Capability.INBOUND, Capability.INBOUND_OUTBOUND)

    @property
    def outbound(self) -> bool:
        return self in (Capability.OUTBOUND, Capability.INBOUND_OUTBOUND)

    def covers(self, other: Capability) -> bool:
        """Whether a number offered with ``self`` may be used with ``other``."""
        return (self.inbound or not other.inbound) and (self.outbound or not other.outbound)


class AssignmentType(StrEnum):
    PERSON = "person"
    APPLICATION = "application"


@dataclass(frozen=True, slots=True)
class Capabilities:
    calling: Capability
    sms: Capability

    def covers(self, other: Capabilities) -> bool:
        return self.calling.covers(other.calling) and self.sms.covers(other.sms)


ALL_CAPABILITIES = Capabilities(Capability.INBOUND_OUTBOUND, Capability.INBOUND_OUTBOUND)


@dataclass(frozen=True, slots=True)
class Cost:
    amount: float
    currency: str
    billing_frequency: str = "monthly"


@dataclass(frozen=True, slots=True)
class OwnedNumber:
    """A number this resource bought and has not released."""

    e164: E164
    country: str  # ISO 3166-1 alpha-2
    number_type: NumberType
    assignment: AssignmentType
    capabilities: Capabilities
    cost: Cost
    purchased_at: float

    @property
    def id(self) -> str:
        return number_id(self.e164)


def number_id(e164: str) -> str:
    """The id ACS gives a number: its digits without the ``+`` (``14255550100``)."""
    return e164.lstrip("+")
