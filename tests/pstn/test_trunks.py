"""Trunk settings and routing, sans-I/O: which trunk an address or a destination belongs to,
the toll-fraud limits on a hand-moved clock, credentials both ways, and numbers in SIP URIs."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from telex.core.clock import FakeClock
from telex.core.errors import ErrorCode, TelexError
from telex.pstn import SipSettings, TrunkRouter, TrunkSettings, phone_number_of
from telex.pstn.calls import sip_cause, telex_reason
from telex.sip import EndCause, Ended, SipUri, TelUri


def trunk(name: str, **kw: object) -> TrunkSettings:
    return TrunkSettings(name=name, host=kw.pop("host", "192.0.2.10"), **kw)  # type: ignore[arg-type]


def test_off_without_trunks_and_strict() -> None:
    assert not SipSettings().enabled
    assert SipSettings(trunks=[trunk("a")]).enabled
    with pytest.raises(ValidationError):
        SipSettings(trunks=[trunk("a"), trunk("a")])
    with pytest.raises(ValidationError):
        trunk("a", host="carrier.example")  # an address, not a name: no DNS on the call path
    with pytest.raises(ValidationError):
        trunk("a", prefixes=["44"])
    with pytest.raises(ValidationError):
        trunk("a", allowed_sources=["not-an-address"])
    with pytest.raises(ValidationError):
        SipSettings.model_validate({"trunks": [], "surprise": 1})


def test_sources_default_to_the_carrier_and_take_networks() -> None:
    router = TrunkRouter([trunk("a"), trunk("b", host="198.51.100.1", allowed_sources=["203.0.113.0/24"])])
    assert router.for_source("192.0.2.10").name == "a"  # type: ignore[union-attr]
    assert router.for_source("203.0.113.77").name == "b"  # type: ignore[union-attr]
    assert router.for_source("198.51.100.1") is None  # b's own address is not in its list
    assert router.for_source("scanner.example") is None


def test_destinations_take_the_longest_prefix_and_unlisted_ones_are_refused() -> None:
    router = TrunkRouter(
        [trunk("us", prefixes=["+1"]), trunk("ny", prefixes=["+1212"]), trunk("uk", prefixes=["+44"])]
    )
    assert router.route("+12125550100").name == "ny"
    assert router.route("+14255550100").name == "us"
    assert router.route("+442079460000").name == "uk"
    with pytest.raises(TelexError) as info:
        router.route("+33142000000")
    assert info.value.code is ErrorCode.FORBIDDEN
    assert TrunkRouter([trunk("any")]).route("+33142000000").name == "any"  # "+" allows all


def test_limits_at_once_and_per_minute_on_a_fake_clock() -> None:
    clock = FakeClock()
    t = TrunkRouter([trunk("a", max_calls=2, calls_per_minute=3)]).trunks[0]
    t.admit(clock.now())
    t.admit(clock.now())
    with pytest.raises(TelexError) as busy:
        t.admit(clock.now())
    assert busy.value.code is ErrorCode.UNAVAILABLE
    t.release()
    t.release()
    clock.advance(10)
    t.admit(clock.now())  # the third this minute
    t.release()
    with pytest.raises(TelexError) as rate:
        t.admit(clock.now())
    assert rate.value.code is ErrorCode.TOO_MANY_REQUESTS and rate.value.retry_after == 51
    clock.advance(50.5)
    t.admit(clock.now())  # the first two fell out of the minute


def test_credentials_both_ways() -> None:
    router = TrunkRouter([
        trunk("a", username="u1", password="p1", realm="a.example", inbound_username="in1",
              inbound_password="q1"),
        trunk("b", host="192.0.2.20", username="u2", password="p2"),
    ])  # fmt: skip
    assert router.credentials("a.example").username == "u1"  # type: ignore[union-attr]
    assert router.credentials("other.example").username == "u2"  # type: ignore[union-attr]
    assert router.inbound_password("in1") == "q1" and router.inbound_password("nobody") is None
    assert router.challenges and not TrunkRouter([trunk("c")]).challenges


@pytest.mark.parametrize(
    ("uri", "number"),
    [
        (SipUri("gw", "+14255550100"), "+14255550100"),
        (SipUri("gw", "14255550100"), "+14255550100"),
        (SipUri("gw", "+1-425-555-0100;npdi"), "+14255550100"),
        (TelUri("+1-425-555-0100"), "+14255550100"),
        (SipUri("gw", "trunk"), None),
        (SipUri("gw", None), None),
        (SipUri("gw", "0123"), None),
    ],
)
def test_numbers_in_uris(uri: SipUri | TelUri, number: str | None) -> None:
    assert phone_number_of(uri) == number


def test_end_reasons_cross_both_ways() -> None:
    assert telex_reason(Ended("x", EndCause.BUSY, True, 486)).value == "busy"
    assert telex_reason(Ended("x", EndCause.MISSED, True, 480)).value == "missed"
    assert telex_reason(Ended("x", EndCause.NOT_FOUND, True, 404)).value == "unavailable"
    assert sip_cause("declined") is EndCause.DECLINED
    assert sip_cause("missed") is EndCause.MISSED
    assert sip_cause(None) is EndCause.UNAVAILABLE and sip_cause("nonsense") is EndCause.UNAVAILABLE


def test_a_shared_nonce_secret_from_the_settings_or_a_file(tmp_path: Path) -> None:
    assert SipSettings().nonce_key() is None  # a random secret per node
    assert SipSettings(nonce_secret="shared").nonce_key() == b"shared"
    (tmp_path / "nonce").write_text("from-a-file\n")
    assert SipSettings(nonce_secret_file=tmp_path / "nonce").nonce_key() == b"from-a-file"
