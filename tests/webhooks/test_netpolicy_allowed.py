"""``telex.netpolicy``'s operator allow-list (``allowed``) and ``address_in``: the override wins over
the built-in denies, never over ``denied`` or the encodings refused outright; TURN's default
behaviour (no ``allowed``) is unchanged (tests/turn/test_forbidden_peers.py)."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

import pytest

from telex.netpolicy import address_in, peer_allowed
from tests.turn.test_forbidden_peers import ALLOWED, FORBIDDEN_V4, FORBIDDEN_V6


def test_address_in_matches_literal_and_canonical_forms() -> None:
    nets = [ip_network("10.0.0.0/8"), ip_address("127.0.0.1")]
    assert address_in(ip_address("10.1.2.3"), nets)
    assert address_in(ip_address("::ffff:10.1.2.3"), nets)
    assert address_in(ip_address("64:ff9b::7f00:1"), nets)
    assert not address_in(ip_address("11.0.0.1"), nets)
    assert not address_in(ip_address("::1"), nets)
    assert address_in(ip_address("fd00::5"), [ip_network("fd00::/8")])


@pytest.mark.parametrize("address", FORBIDDEN_V4 + FORBIDDEN_V6)
def test_no_allow_list_changes_nothing(address: str) -> None:
    assert peer_allowed(address, allowed=()) is peer_allowed(address)


def test_allowed_overrides_builtin_denies() -> None:
    assert not peer_allowed("127.0.0.1")
    assert peer_allowed("127.0.0.1", allowed=[ip_address("127.0.0.1")])
    assert not peer_allowed("127.0.0.2", allowed=[ip_address("127.0.0.1")])
    assert peer_allowed("10.9.8.7", allowed=[ip_network("10.0.0.0/8")])
    assert peer_allowed("::ffff:10.9.8.7", allowed=[ip_network("10.0.0.0/8")])
    assert peer_allowed("fd00:ec2::254", allowed=[ip_network("fd00::/8")])


def test_denied_and_refused_encodings_beat_allowed() -> None:
    everything = [ip_network("0.0.0.0/0"), ip_network("::/0")]
    assert not peer_allowed("10.0.0.1", allowed=everything, denied=[ip_network("10.0.0.0/8")])
    for encoding in ("2001::1", "64:ff9b:1::7f00:1", "::ffff:0:7f00:1"):
        assert not peer_allowed(encoding, allowed=everything)
    assert not peer_allowed("not an address", allowed=everything)


@pytest.mark.parametrize("address", ALLOWED)
def test_public_still_allowed(address: str) -> None:
    assert peer_allowed(address, allowed=[ip_address("127.0.0.1")])
