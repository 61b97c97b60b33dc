"""E.164 phone numbers: parsing, validation, formatting, country and type, via ``phonenumbers``.

ACS carries every phone number as a strict E.164 string (``+14255550100``): the SMS ``from`` and
``to``, purchased numbers, call targets. Strict means the shape ``^\\+[1-9]\\d{1,14}$`` *and* a
number the numbering plan assigns (libphonenumber's ``is_valid_number``): the shape alone accepts
``+1425555010``, one digit short of a US number.

    "+1 (425) 555-0100" ──normalise()──► E164("+14255550100") ──describe()──► NumberInfo
    "+14255550100"      ──parse_e164()─┘   (strict: exactly E.164 already)   country, type, area code

The fictional ranges a simulated carrier hands out are valid here: NANP ``NXX-555-0100..0199``
(geographic) and ``8XX-555-01XX`` (toll free). The UK drama ranges are not (libphonenumber marks
them invalid), so a simulator must not seed from them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import NewType

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber, PhoneNumberFormat, PhoneNumberType

from telex.core.errors import ErrorCode, TelexError

__all__ = [
    "E164",
    "AcsNumberType",
    "NumberInfo",
    "NumberKind",
    "describe",
    "format_number",
    "is_e164",
    "normalise",
    "parse_e164",
]

E164 = NewType("E164", str)
_E164_SHAPE = re.compile(r"^\+[1-9]\d{1,14}$")


class NumberKind(StrEnum):
    """libphonenumber's number types."""

    FIXED_LINE = "fixedLine"
    MOBILE = "mobile"
    FIXED_LINE_OR_MOBILE = "fixedLineOrMobile"  # every US geographic number
    TOLL_FREE = "tollFree"
    PREMIUM_RATE = "premiumRate"
    SHARED_COST = "sharedCost"
    VOIP = "voip"
    PERSONAL = "personal"
    PAGER = "pager"
    UAN = "uan"
    VOICEMAIL = "voicemail"
    UNKNOWN = "unknown"


class AcsNumberType(StrEnum):
    """ACS ``phoneNumberType`` (acs-wire.md §3.4)."""

    GEOGRAPHIC = "geographic"
    TOLL_FREE = "tollFree"
    MOBILE = "mobile"


_KINDS = {
    PhoneNumberType.FIXED_LINE: NumberKind.FIXED_LINE,
    PhoneNumberType.MOBILE: NumberKind.MOBILE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE: NumberKind.FIXED_LINE_OR_MOBILE,
    PhoneNumberType.TOLL_FREE: NumberKind.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE: NumberKind.PREMIUM_RATE,
    PhoneNumberType.SHARED_COST: NumberKind.SHARED_COST,
    PhoneNumberType.VOIP: NumberKind.VOIP,
    PhoneNumberType.PERSONAL_NUMBER: NumberKind.PERSONAL,
    PhoneNumberType.PAGER: NumberKind.PAGER,
    PhoneNumberType.UAN: NumberKind.UAN,
    PhoneNumberType.VOICEMAIL: NumberKind.VOICEMAIL,
}
_ACS_TYPES = {
    NumberKind.FIXED_LINE: AcsNumberType.GEOGRAPHIC,
    NumberKind.FIXED_LINE_OR_MOBILE: AcsNumberType.GEOGRAPHIC,
    NumberKind.MOBILE: AcsNumberType.MOBILE,
    NumberKind.TOLL_FREE: AcsNumberType.TOLL_FREE,
}


@dataclass(frozen=True, slots=True)
class NumberInfo:
    e164: E164
    country_code: int  # the calling code: 1, 44, 33 ...
    region: str | None  # ISO 3166-1 alpha-2 ("US", "GB"), None for non-geographic codes (+800 ...)
    national_number: str
    kind: NumberKind
    area_code: str | None  # the geographic area code, when the number has one

    @property
    def acs_type(self) -> AcsNumberType | None:
        """The ACS ``phoneNumberType`` this number would be sold as, if it is one of the three."""
        return _ACS_TYPES.get(self.kind)


def _invalid(value: str, why: str) -> TelexError:
    return TelexError(ErrorCode.VALIDATION_FAILED, f"{value!r} is not a valid phone number: {why}")


def _parse(value: str, region: str | None) -> PhoneNumber:
    try:
        number = phonenumbers.parse(value, region)
    except NumberParseException as error:
        raise _invalid(value, str(error)) from error
    if not phonenumbers.is_valid_number(number):
        raise _invalid(value, "no such number in its country's numbering plan")
    return number


def is_e164(value: str) -> bool:
    """Strict E.164: the shape and a number the numbering plan assigns."""
    if not _E164_SHAPE.match(value):
        return False
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(value, None))
    except NumberParseException:
        return False


def parse_e164(value: str) -> E164:
    """``value`` if it is strict E.164 (what ACS requires in ``from``, ``to`` and number paths).

    Raises ``TelexError(VALIDATION_FAILED)`` otherwise; spaces, dashes or a missing ``+`` are
    refused here (use ``normalise`` to accept a person's input).
    """
    if not _E164_SHAPE.match(value):
        raise _invalid(value, "E.164 is a + and up to 15 digits")
    _parse(value, None)
    return E164(value)


def normalise(value: str, default_region: str | None = None) -> E164:
    """A number as a person writes it (``(425) 555-0100`` with region ``US``) in E.164.

    Raises ``TelexError(VALIDATION_FAILED)`` when it does not parse or is not a valid number.
    """
    number = _parse(value, default_region)
    return E164(phonenumbers.format_number(number, PhoneNumberFormat.E164))


def describe(value: str) -> NumberInfo:
    """Country, region, type and area code of a strict E.164 number; raises like ``parse_e164``."""
    e164 = parse_e164(value)
    number = _parse(e164, None)
    national = phonenumbers.national_significant_number(number)  # keeps Italy's leading zero
    area_length = phonenumbers.length_of_geographical_area_code(number)
    region = phonenumbers.region_code_for_number(number)
    return NumberInfo(
        e164=e164,
        country_code=int(number.country_code or 0),
        region=None if region in (None, "001", "ZZ") else region,  # "001": a non-geographic code
        national_number=national,
        kind=_KINDS.get(phonenumbers.number_type(number), NumberKind.UNKNOWN),
        area_code=national[:area_length] if area_length else None,
    )


class _Style(StrEnum):
    E164 = "e164"
    INTERNATIONAL = "international"  # +1 425-555-0100
    NATIONAL = "national"  # (425) 555-0100
    RFC3966 = "rfc3966"  # tel:+1-425-555-0100


_FORMATS = {
    _Style.E164: PhoneNumberFormat.E164,
    _Style.INTERNATIONAL: PhoneNumberFormat.INTERNATIONAL,
    _Style.NATIONAL: PhoneNumberFormat.NATIONAL,
    _Style.RFC3966: PhoneNumberFormat.RFC3966,
}


def format_number(value: str, style: str = "international") -> str:
    """A strict E.164 number written for people (``international``, ``national``) or for a
    ``tel:`` URI (``rfc3966``). Raises ``ValueError`` for an unknown style, ``TelexError`` for an
    invalid number."""
    number = _parse(parse_e164(value), None)
    return phonenumbers.format_number(number, _FORMATS[_Style(style)])
