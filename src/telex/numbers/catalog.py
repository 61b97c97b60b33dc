"""Read-only questions about what can be bought, answered from the inventory (no store):
countries, area codes, localities, offerings, and operator information for any number.

Contract: every method raises ``TelexError`` ``VALIDATION_FAILED`` (400) for malformed input and
``NOT_FOUND`` (404) for a country the inventory has no numbers in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType, carrier

from telex.core.errors import ErrorCode, TelexError
from telex.numbers.inventory import Country, Inventory, Locality, Offering
from telex.numbers.model import AssignmentType, NumberType
from telex.numbers.views import OperatorInfo
from telex.telephony.numbers import parse_e164

__all__ = ["Catalog", "check_country"]

_COUNTRY = re.compile(r"^[A-Za-z]{2}$")
_OPERATOR_TYPES = {
    PhoneNumberType.FIXED_LINE: "geographic",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "geographic",
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.UNKNOWN: "unknown",
}
MAX_OPERATOR_NUMBERS = 100


def check_country(inventory: Inventory, country: str) -> str:
    """The upper-case ISO code; 400 for a malformed one, 404 for one without numbers."""
    if not _COUNTRY.match(country):
        raise TelexError(ErrorCode.VALIDATION_FAILED, "The country code must be two letters (ISO 3166-1).")
    code = country.upper()
    if not inventory.has_country(code):
        raise TelexError(ErrorCode.NOT_FOUND, f"No phone numbers are offered in {code}.")
    return code


class Catalog:
    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory

    def countries(self) -> list[Country]:
        return self.inventory.countries()

    def area_codes(
        self, country: str, number_type: NumberType, locality: str | None, division: str | None
    ) -> list[str]:
        # ACS asks for a locality with geographic numbers; listing them all is more useful than a 400.
        return self.inventory.area_codes(
            check_country(self.inventory, country), number_type, locality, division
        )

    def localities(
        self, country: str, division: str | None, number_type: NumberType | None
    ) -> list[Locality]:
        return self.inventory.localities(check_country(self.inventory, country), division, number_type)

    def offerings(
        self, country: str, number_type: NumberType | None, assignment: AssignmentType | None
    ) -> list[Offering]:
        return self.inventory.offerings(check_country(self.inventory, country), number_type, assignment)

    @staticmethod
    def operator_information(numbers: Sequence[str], details: bool) -> list[OperatorInfo]:
        """What the numbering plan says about each number (and its original operator with
        ``details``, when libphonenumber knows it). One malformed number refuses the request."""
        if not 1 <= len(numbers) <= MAX_OPERATOR_NUMBERS:
            raise TelexError(
                ErrorCode.VALIDATION_FAILED, f"Between 1 and {MAX_OPERATOR_NUMBERS} phone numbers are needed."
            )
        out = []
        for number in numbers:
            parsed = phonenumbers.parse(parse_e164(number))
            kind = phonenumbers.number_type(parsed)
            region = phonenumbers.region_code_for_number(parsed)
            name = carrier.name_for_number(parsed, "en") if details else ""
            out.append(
                OperatorInfo(
                    e164=number,
                    national_format=phonenumbers.format_number(parsed, PhoneNumberFormat.NATIONAL),
                    international_format=phonenumbers.format_number(parsed, PhoneNumberFormat.INTERNATIONAL),
                    country=None if region in (None, "001", "ZZ") else region,
                    number_type=_OPERATOR_TYPES.get(kind, "other"),
                    operator_name=name or None,
                )
            )
        return out
