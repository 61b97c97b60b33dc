"""What numbers exist to be sold: countries, area codes, localities, offerings and the numbers.

The simulated carrier's inventory is generated here from fictional or example ranges that
libphonenumber accepts as valid (push-events-sms.md §7.1, §7.3), so everything sold passes
``telephony.numbers.parse_e164``; a real carrier's numbers are listed in its configuration and
described the same way::

    NANP (US, CA)   +1 NXX 555 0100..0199 for a few area codes with their city, and toll free
                    +1 8XX 555 0100..0199 (the 555-01XX block is reserved for fiction)
    other country   libphonenumber's example number for each type, its last two digits 00..99,
                    kept where the library still calls it a valid number of that type

Listings are plain values held in memory: a few thousand numbers, read by every search. Which
of them are free is the store's business (held by a search or reservation, or owned).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType, geocoder

from telex.numbers.model import ALL_CAPABILITIES, AssignmentType, Capabilities, Cost, NumberType
from telex.telephony.numbers import E164, describe

__all__ = [
    "Country",
    "Inventory",
    "Listing",
    "Locality",
    "Offering",
    "listings_for_numbers",
    "simulated_listings",
]


@dataclass(frozen=True, slots=True)
class Listing:
    """One number that may be sold."""

    e164: E164
    country: str  # ISO 3166-1 alpha-2
    number_type: NumberType
    area_code: str
    locality: str | None = None
    division: str | None = None  # the state or province, as people name it
    division_abbr: str | None = None

    @property
    def cost(self) -> Cost:
        return COSTS[self.number_type]


@dataclass(frozen=True, slots=True)
class Country:
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class Locality:
    name: str
    division: str | None
    division_abbr: str | None


@dataclass(frozen=True, slots=True)
class Offering:
    number_type: NumberType
    assignment: AssignmentType
    capabilities: Capabilities
    cost: Cost


# Monthly prices the simulated carrier quotes (ACS quotes per country; these are round numbers).
COSTS = {
    NumberType.GEOGRAPHIC: Cost(1.0, "USD"),
    NumberType.MOBILE: Cost(1.5, "USD"),
    NumberType.TOLL_FREE: Cost(2.0, "USD"),
}

# NANP area codes the simulated carrier sells from: code, city, state or province, abbreviation.
_NANP = {
    "US": (
        ("206", "Seattle", "Washington", "WA"),
        ("425", "Redmond", "Washington", "WA"),
        ("212", "New York", "New York", "NY"),
        ("415", "San Francisco", "California", "CA"),
        ("312", "Chicago", "Illinois", "IL"),
        ("617", "Boston", "Massachusetts", "MA"),
        ("512", "Austin", "Texas", "TX"),
        ("305", "Miami", "Florida", "FL"),
    ),
    "CA": (
        ("416", "Toronto", "Ontario", "ON"),
        ("604", "Vancouver", "British Columbia", "BC"),
        ("514", "Montreal", "Quebec", "QC"),
    ),
}
_TOLL_FREE = ("800", "833", "844", "855", "866", "877", "888")
_GENERIC_TYPES = (
    (PhoneNumberType.FIXED_LINE, NumberType.GEOGRAPHIC),
    (PhoneNumberType.MOBILE, NumberType.MOBILE),
    (PhoneNumberType.TOLL_FREE, NumberType.TOLL_FREE),
)


def _nanp_block(area: str) -> list[E164]:
    return [E164(f"+1{area}5550{i}") for i in range(100, 200)]


def _generic(country: str) -> list[Listing]:
    out: list[Listing] = []
    for lib_type, number_type in _GENERIC_TYPES:
        example = phonenumbers.example_number_for_type(country, lib_type)
        if example is None:
            continue
        e164 = phonenumbers.format_number(example, PhoneNumberFormat.E164)
        locality = (
            geocoder.description_for_number(example, "en") if lib_type is PhoneNumberType.FIXED_LINE else ""
        )
        for i in range(100):
            candidate = phonenumbers.parse(f"{e164[:-2]}{i:02d}")
            if not phonenumbers.is_valid_number(candidate):
                continue
            if phonenumbers.number_type(candidate) != lib_type:
                continue
            info = describe(phonenumbers.format_number(candidate, PhoneNumberFormat.E164))
            area = info.area_code or info.national_number[:3]
            out.append(Listing(info.e164, country, number_type, area, locality or None))
    return out


def simulated_listings(countries: Iterable[str]) -> list[Listing]:
    """The simulated carrier's numbers in ``countries`` (ISO codes), in a stable order."""
    out: list[Listing] = []
    for country in countries:
        country = country.upper()
        if country in _NANP:
            for area, city, division, abbr in _NANP[country]:
                out += [Listing(n, country, NumberType.GEOGRAPHIC, area, city, division, abbr)
                        for n in _nanp_block(area)]  # fmt: skip
            if country == "US":
                out += [
                    Listing(n, "US", NumberType.TOLL_FREE, area)
                    for area in _TOLL_FREE
                    for n in _nanp_block(area)
                ]
        else:
            out += _generic(country)
    return out


def listings_for_numbers(numbers: Iterable[str]) -> list[Listing]:
    """Listings for numbers a carrier's configuration names (each a strict E.164 number of one of
    the three ACS types; raises ``TelexError`` otherwise)."""
    out = []
    for number in numbers:
        info = describe(number)
        if info.acs_type is None or info.region is None:
            raise ValueError(f"{number} is not a geographic, mobile or toll-free number of a country")
        locality = geocoder.description_for_number(phonenumbers.parse(info.e164), "en") or None
        out.append(
            Listing(
                info.e164, info.region, info.acs_type, info.area_code or info.national_number[:3], locality
            )
        )
    return out


def _country_name(code: str) -> str:
    example = phonenumbers.example_number(code)
    name = geocoder.country_name_for_number(example, "en") if example is not None else ""
    return name or code


class Inventory:
    """Listings indexed for the queries of the phone-numbers API."""

    def __init__(self, listings: Iterable[Listing]) -> None:
        self._by_number: dict[str, Listing] = {}
        for listing in listings:
            self._by_number.setdefault(listing.e164, listing)
        self._all = list(self._by_number.values())
        self._countries = sorted({x.country for x in self._all})
        self._names = {c: _country_name(c) for c in self._countries}

    def __len__(self) -> int:
        return len(self._all)

    def get(self, e164: str) -> Listing | None:
        return self._by_number.get(e164)

    def countries(self) -> list[Country]:
        return [Country(code, self._names[code]) for code in self._countries]

    def has_country(self, country: str) -> bool:
        return country in self._names

    def _in(self, country: str, number_type: NumberType | None = None) -> list[Listing]:
        return [
            x
            for x in self._all
            if x.country == country and (number_type is None or x.number_type == number_type)
        ]

    def offerings(
        self, country: str, number_type: NumberType | None, assignment: AssignmentType | None
    ) -> list[Offering]:
        """What can be bought in ``country``: every type it has numbers of, for either assignment."""
        types = sorted({x.number_type for x in self._in(country, number_type)}, key=list(NumberType).index)
        assignments = [assignment] if assignment is not None else list(AssignmentType)
        return [Offering(t, a, ALL_CAPABILITIES, COSTS[t]) for t in types for a in assignments]

    def offering(self, country: str, number_type: NumberType, assignment: AssignmentType) -> Offering | None:
        found = self.offerings(country, number_type, assignment)
        return found[0] if found else None

    def area_codes(
        self, country: str, number_type: NumberType, locality: str | None = None, division: str | None = None
    ) -> list[str]:
        codes: dict[str, None] = {}
        for x in self._in(country, number_type):
            if locality is not None and (x.locality or "").lower() != locality.lower():
                continue
            if division is not None and division.lower() not in (
                (x.division or "").lower(),
                (x.division_abbr or "").lower(),
            ):
                continue
            codes.setdefault(x.area_code)
        return list(codes)

    def localities(
        self, country: str, division: str | None, number_type: NumberType | None
    ) -> list[Locality]:
        seen: dict[tuple[str, str | None], Locality] = {}
        for x in self._in(country, number_type):
            if x.locality is None:
                continue
            if division is not None and division.lower() not in (
                (x.division or "").lower(),
                (x.division_abbr or "").lower(),
            ):
                continue
            seen.setdefault((x.locality, x.division), Locality(x.locality, x.division, x.division_abbr))
        return list(seen.values())

    def candidates(
        self,
        country: str,
        number_type: NumberType,
        area_code: str | None = None,
        prefixes: Sequence[str] = (),
    ) -> list[Listing]:
        """The listings a search or browse may pick from, in inventory order."""
        out = []
        for x in self._in(country, number_type):
            if area_code is not None and x.area_code != area_code:
                continue
            if prefixes and not any(x.e164.startswith(p) or x.e164[1:].startswith(p) for p in prefixes):
                continue
            out.append(x)
        return out
