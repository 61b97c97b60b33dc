"""The sans-I/O pieces of numbers and SMS: the operation state machine (every pair), repeatability
rules, opt-out keywords, the per-number rate limit, number ranges, the inventory."""

from __future__ import annotations

import pytest

from telex.carriers.routing import CarrierRouter, expand_numbers
from telex.core.clock import FakeClock
from telex.core.errors import TelexError
from telex.numbers.inventory import Inventory, simulated_listings
from telex.numbers.model import AssignmentType, Capabilities, Capability, NumberType
from telex.numbers.operations import (
    TRANSITIONS,
    Operation,
    OperationInput,
    OperationKind,
    OperationMisuse,
    OperationStatus,
    new_operation_id,
    next_status,
)
from telex.sms.optout import Keyword, Keywords
from telex.sms.ratelimit import SendRate
from telex.sms.repeatability import Check, check, request_hash
from telex.sms.settings import SmsSettings
from telex.telephony.numbers import is_e164

S, In = OperationStatus, OperationInput
EXPECTED = {
    (S.NOT_STARTED, In.CLAIM): S.RUNNING,
    (S.NOT_STARTED, In.FAIL): S.FAILED,
    (S.NOT_STARTED, In.CANCEL): None,
    (S.RUNNING, In.CLAIM): S.RUNNING,
    (S.RUNNING, In.COMPLETE): S.SUCCEEDED,
    (S.RUNNING, In.FAIL): S.FAILED,
    (S.RUNNING, In.CANCEL): None,
    (S.SUCCEEDED, In.CANCEL): None,
    (S.FAILED, In.CANCEL): None,
}


def test_the_table_covers_every_pair() -> None:
    assert set(TRANSITIONS) == {(s, i) for s in OperationStatus for i in OperationInput}


@pytest.mark.parametrize(("status", "event"), [(s, i) for s in OperationStatus for i in OperationInput])
def test_every_state_and_input(status: OperationStatus, event: OperationInput) -> None:
    if (status, event) in EXPECTED:
        assert next_status(status, event) == EXPECTED[(status, event)]
    else:
        with pytest.raises(OperationMisuse):
            next_status(status, event)


def test_claimable_only_when_not_started_or_the_lease_lapsed() -> None:
    op = Operation("search_x", OperationKind.SEARCH, S.NOT_STARTED, "x", 0.0, 0.0)
    assert op.claimable(1.0)
    running = Operation("search_x", OperationKind.SEARCH, S.RUNNING, "x", 0.0, 0.0, lease_until=10.0)
    assert not running.claimable(9.9) and running.claimable(10.0)
    for done in (S.SUCCEEDED, S.FAILED):
        assert not Operation("a", OperationKind.PURCHASE, done, "x", 0.0, 0.0).claimable(1e9)


@pytest.mark.parametrize(
    ("kind", "header"),
    [
        (OperationKind.SEARCH, "search"),
        (OperationKind.PURCHASE, "purchase"),
        (OperationKind.RELEASE, "release"),
        (OperationKind.UPDATE_CAPABILITIES, "capabilities"),
        (OperationKind.RESERVATION_PURCHASE, "reservation-purchase"),
    ],
)
def test_operation_ids_name_their_kind(kind: OperationKind, header: str) -> None:
    op_id, resource = new_operation_id(kind)
    assert op_id == f"{header}_{resource}" and kind.id_prefix == header


# repeatability (security.md G18, row by row) --------------------------------------------------------
NOW = 1_800_000_000.0
RFC1123 = "Fri, 15 Jan 2027 08:00:00 GMT"  # 1_800_000_000 is 2027-01-15T08:00:00Z
ID = "6f1d4b5e-0a49-4c8e-9d7c-2f2d1f3c4a5b"


@pytest.mark.parametrize(
    ("request_id", "first_sent", "now", "expected"),
    [
        (None, None, NOW, Check.NONE),
        (ID, None, NOW, Check.INVALID),
        (None, RFC1123, NOW, Check.INVALID),
        ("not-a-guid", RFC1123, NOW, Check.INVALID),
        (ID, "yesterday", NOW, Check.INVALID),
        (ID, "2027-01-15T08:00:00Z", NOW, Check.INVALID),
        (ID, "Fri, 15 Jan 2027 08:00:00", NOW, Check.INVALID),  # no zone
        (ID, "Fri, 15 Jan 2027 08:10:01 GMT", NOW, Check.INVALID),  # more than 5 min ahead
        (ID, RFC1123, NOW + 300, Check.NEW),  # exactly at the window's edge
        (ID, RFC1123, NOW + 301, Check.TOO_OLD),
        (ID, RFC1123, NOW, Check.NEW),
    ],
)
def test_repeatability_fields(
    request_id: str | None, first_sent: str | None, now: float, expected: Check
) -> None:
    assert check(request_id, first_sent, now, 300.0).check is expected


def test_request_ids_are_canonical_and_hashes_cover_the_message() -> None:
    assert check(ID.upper(), RFC1123, NOW, 300.0).request_id == ID
    base = request_hash("+14255550100", "+14255550101", "hi", False, None)
    assert base == request_hash("+14255550100", "+14255550101", "hi", False, None)
    for other in (
        request_hash("+14255550102", "+14255550101", "hi", False, None),
        request_hash("+14255550100", "+14255550102", "hi", False, None),
        request_hash("+14255550100", "+14255550101", "hi!", False, None),
        request_hash("+14255550100", "+14255550101", "hi", True, None),
        request_hash("+14255550100", "+14255550101", "hi", False, "t"),
    ):
        assert other != base


# opt-out keywords -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "keyword"),
    [
        ("STOP", Keyword.STOP),
        (" stop ", Keyword.STOP),
        ("Stop!", Keyword.STOP),
        ("unsubscribe", Keyword.STOP),
        ("ARRÊT", Keyword.STOP),
        ("start", Keyword.START),
        ("UNSTOP", Keyword.START),
        ("help", Keyword.HELP),
        ("Ayuda", Keyword.HELP),
        ("stop sending me ads", None),
        ("please stop", None),
        ("hello", None),
        ("", None),
    ],
)
def test_keywords_match_whole_messages(text: str, keyword: Keyword | None) -> None:
    match = Keywords(SmsSettings().opt_out).match(text)
    assert (match.keyword if match else None) is keyword


def test_keywords_off_means_none_match() -> None:
    assert Keywords({}).match("STOP") is None


# rate limit ------------------------------------------------------------------------------------------
def test_send_rate_refuses_a_whole_batch_and_says_when() -> None:
    clock = FakeClock()
    rate = SendRate(clock)
    rate.take("+1", 150, 200)
    clock.advance(10)
    with pytest.raises(TelexError) as info:
        rate.take("+1", 60, 200)
    assert info.value.status == 429 and info.value.retry_after == pytest.approx(50.0)
    rate.take("+1", 50, 200)  # the refused batch counted nothing
    clock.advance(50)
    rate.take("+1", 150, 200)  # the first 150 left the window
    with pytest.raises(TelexError):
        rate.take("+2", 201, 200)
    rate.take("+2", 10_000, 0)  # 0: no limit


# number ranges and routing -----------------------------------------------------------------------------
def test_number_spans_and_routing() -> None:
    numbers = expand_numbers(["+14255550100-+14255550102", "+12065550150"])
    assert numbers == ["+14255550100", "+14255550101", "+14255550102", "+12065550150"]
    for bad in ("+1425555010", "+14255550102-+14255550100", "+14255550100-+442071838750", "x"):
        with pytest.raises(ValueError):  # noqa: PT011
            expand_numbers([bad])
    router = CarrierRouter("simulated")
    router.add("acme", numbers, ["+1206"])
    router.add("beta", [], ["+12065"])
    assert router.carrier_for("+14255550101") == "acme"
    assert router.carrier_for("+12065550150") == "acme"  # an exact number beats any prefix
    assert router.carrier_for("+12065550199") == "beta"  # the longest prefix wins
    assert router.carrier_for("+12061234567") == "acme"
    assert router.carrier_for("+33123456789") == "simulated"


# the simulated inventory -------------------------------------------------------------------------------
def test_the_simulated_inventory_sells_only_valid_numbers() -> None:
    inventory = Inventory(simulated_listings(["US", "CA", "GB", "FR", "DE"]))
    assert {c.code for c in inventory.countries()} == {"US", "CA", "GB", "FR", "DE"}
    for country in ("US", "GB", "FR", "DE"):
        for number_type in NumberType:
            for listing in inventory.candidates(country, number_type):
                assert is_e164(listing.e164), listing
    assert inventory.area_codes("US", NumberType.GEOGRAPHIC, None, "WA") == ["206", "425"]
    assert inventory.area_codes("US", NumberType.GEOGRAPHIC, "seattle", None) == ["206"]
    assert "800" in inventory.area_codes("US", NumberType.TOLL_FREE, None, None)
    assert inventory.offering("CA", NumberType.TOLL_FREE, AssignmentType.PERSON) is None
    offering = inventory.offering("US", NumberType.GEOGRAPHIC, AssignmentType.APPLICATION)
    assert offering is not None
    assert offering.capabilities.covers(Capabilities(Capability.OUTBOUND, Capability.INBOUND))
    assert not Capabilities(Capability.INBOUND, Capability.NONE).covers(
        Capabilities(Capability.OUTBOUND, Capability.NONE)
    )


@pytest.mark.parametrize(
    ("carrier", "key"),
    [
        ({"numbers": ["+1425555010"]}, "carriers.smpp.0.numbers"),
        ({"numbers": ["+14255550100-+14255550099"]}, "carriers.smpp.0.numbers"),
        ({"numbers": ["+14255550100"], "prefixes": ["1425"]}, "carriers.smpp.0.prefixes"),
        ({"numbers": ["+14255550100"], "name": "simulated"}, "carriers.smpp"),
        ({"numbers": ["+14255550100"], "concat": "both"}, "carriers.smpp.0.concat"),
    ],
)
def test_bad_carrier_settings_name_their_key(carrier: dict[str, object], key: str) -> None:
    from telex.config import ConfigError, load_settings

    smpp = {"name": "acme", "host": "127.0.0.1", "port": 2775, "system_id": "telex", **carrier}
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_settings(environ={}, cli={"carriers": {"smpp": [smpp]}})
