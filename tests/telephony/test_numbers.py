"""E.164 validation and description (reference facts from libphonenumber 9.0.43)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telex.core.errors import ErrorCode, TelexError
from telex.telephony.numbers import (
    AcsNumberType,
    NumberKind,
    describe,
    format_number,
    is_e164,
    normalise,
    parse_e164,
)


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("+14255550100", True),  # NANP 555-01XX: fictional, and valid
        ("+18005550100", True),  # toll free 8XX-555-01XX
        ("+442079460958", True),
        ("+4915112345678", True),
        ("+1425555010", False),  # the E.164 shape, one digit short for NANP
        ("+14255550100 ", False),
        ("14255550100", False),  # no "+"
        ("+014255550100", False),
        ("+1234567890123456", False),  # 16 digits
        ("+1 425 555 0100", False),  # spaces are a person's writing, not E.164
        ("+447700900123", False),  # UK drama range: invalid in libphonenumber
        ("+999123", False),
        ("", False),
    ],
)
def test_strict_e164(value: str, valid: bool) -> None:
    assert is_e164(value) is valid
    if valid:
        assert parse_e164(value) == value
    else:
        with pytest.raises(TelexError) as caught:
            parse_e164(value)
        assert caught.value.code is ErrorCode.VALIDATION_FAILED


@pytest.mark.parametrize(
    ("value", "country", "region", "kind", "acs", "area"),
    [
        ("+14255550100", 1, "US", NumberKind.FIXED_LINE_OR_MOBILE, AcsNumberType.GEOGRAPHIC, "425"),
        ("+18005550100", 1, "US", NumberKind.TOLL_FREE, AcsNumberType.TOLL_FREE, None),
        ("+442079460958", 44, "GB", NumberKind.FIXED_LINE, AcsNumberType.GEOGRAPHIC, "20"),
        ("+4915112345678", 49, "DE", NumberKind.MOBILE, AcsNumberType.MOBILE, None),
        ("+33612345678", 33, "FR", NumberKind.MOBILE, AcsNumberType.MOBILE, None),
        ("+390612345678", 39, "IT", NumberKind.FIXED_LINE, AcsNumberType.GEOGRAPHIC, "06"),
        ("+80012345678", 800, None, NumberKind.TOLL_FREE, AcsNumberType.TOLL_FREE, None),
    ],
)
def test_describe(
    value: str, country: int, region: str | None, kind: NumberKind, acs: AcsNumberType, area: str | None
) -> None:
    info = describe(value)
    assert (info.e164, info.country_code, info.region, info.kind, info.acs_type, info.area_code) == (
        value,
        country,
        region,
        kind,
        acs,
        area,
    )
    assert value.endswith(info.national_number)


def test_premium_rate_is_no_acs_type() -> None:
    info = describe("+19005550100")
    assert info.kind is NumberKind.PREMIUM_RATE and info.acs_type is None


def test_normalise_a_persons_input() -> None:
    assert normalise("(425) 555-0100", "US") == "+14255550100"
    assert normalise("+1 425-555-0100") == "+14255550100"
    assert normalise("020 7946 0958", "GB") == "+442079460958"
    with pytest.raises(TelexError, match="region"):
        normalise("4255550100")  # no "+" and no default region
    with pytest.raises(TelexError):
        normalise("555-0100", "US")


def test_formats() -> None:
    assert format_number("+14255550100") == "+1 425-555-0100"
    assert format_number("+14255550100", "national") == "(425) 555-0100"
    assert format_number("+14255550100", "e164") == "+14255550100"
    assert format_number("+14255550100", "rfc3966") == "tel:+1-425-555-0100"
    with pytest.raises(ValueError):  # noqa: PT011
        format_number("+14255550100", "fancy")


@given(st.text(max_size=20))
def test_validation_raises_only_telex_errors(value: str) -> None:
    with contextlib.suppress(TelexError):
        parse_e164(value)
    assert is_e164(value) in (True, False)
    with contextlib.suppress(TelexError):
        normalise(value, "US")
