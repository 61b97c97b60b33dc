"""security.md T-11 / G5: every forbidden peer class, in every encoding, refused with 403 on
CreatePermission, ChannelBind and Send — through the core, deterministic and fast."""

from __future__ import annotations

import pytest

from telex.netpolicy import peer_allowed
from telex.turn.core import ToPeer
from telex.turn.stun import Attr, Class
from tests.turn.helpers import Client, code_of, make_harness

V6 = (Attr.REQUESTED_ADDRESS_FAMILY, bytes([2, 0, 0, 0]))

FORBIDDEN_V4 = [
    "127.0.0.1", "127.0.0.2", "127.255.255.254", "0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255",
    "172.16.0.1", "172.31.255.254", "192.168.1.1", "169.254.169.254", "169.254.0.1", "100.64.0.1",
    "100.127.255.254", "192.0.0.9", "192.0.0.170", "198.18.0.1", "198.19.255.254", "224.0.0.1",
    "239.255.255.250", "240.0.0.1", "255.255.255.255", "192.0.2.1", "198.51.100.1", "203.0.113.1",
]  # fmt: skip
FORBIDDEN_V6 = [
    "::", "::1", "fe80::1", "fc00::1", "fd00:ec2::254", "ff02::1", "ff0e::1", "2001:db8::1", "100::1",
    # IPv4-in-IPv6 encodings of loopback, metadata, private and even public addresses: on an IPv6
    # allocation every such encoding is refused outright (security.md §1.4).
    "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:0.0.0.0", "::ffff:10.0.0.1", "::ffff:8.8.8.8",
    "::127.0.0.1", "::169.254.169.254", "::8.8.8.8", "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe",
    "64:ff9b::808:808", "64:ff9b:1::7f00:1", "2002:7f00:1::", "2002:a9fe:a9fe::", "2002:808:808::1",
    "2001::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "::ffff:0:7f00:1",
]  # fmt: skip
ALLOWED = ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "2606:4700::1111"]


def _client(address: str) -> tuple[Client, object]:
    h = make_harness(own=("127.0.0.1", "8.8.4.4"))
    c = h.client()
    reply = c.allocate(V6) if ":" in address else c.allocate()
    assert reply.cls == Class.SUCCESS
    return c, h


def test_case_count_meets_g5() -> None:
    assert len(FORBIDDEN_V4) + len(FORBIDDEN_V6) >= 40


@pytest.mark.parametrize("address", FORBIDDEN_V4 + FORBIDDEN_V6)
def test_create_permission_refused(address: str) -> None:
    c, _ = _client(address)
    assert code_of(c.permission(address)) == 403


@pytest.mark.parametrize("address", FORBIDDEN_V4 + FORBIDDEN_V6)
def test_channel_bind_refused(address: str) -> None:
    c, h = _client(address)
    assert code_of(c.channel_bind(0x4000, address, 5000)) == 403
    assert not h.core.allocations[c.key].channels  # type: ignore[attr-defined]


@pytest.mark.parametrize("address", FORBIDDEN_V4 + FORBIDDEN_V6)
def test_send_indication_dropped(address: str) -> None:
    c, h = _client(address)
    # Even with a forged permission entry, the policy is applied on Send itself.
    h.core.allocations[c.key].permissions[address] = h.clock.now() + 300  # type: ignore[attr-defined]
    assert c.send_indication(address, 5000, b"x") == []


@pytest.mark.parametrize("address", FORBIDDEN_V4 + FORBIDDEN_V6)
def test_one_forbidden_peer_fails_the_whole_create_permission(address: str) -> None:
    c, h = _client(address)
    control = "2001:4860:4860::8888" if ":" in address else "8.8.8.8"
    assert code_of(c.permission(control, address)) == 403
    assert not h.core.allocations[c.key].permissions  # type: ignore[attr-defined]


@pytest.mark.parametrize("address", ALLOWED)
def test_public_controls_are_allowed(address: str) -> None:
    c, _ = _client(address)
    assert c.permission(address).cls == Class.SUCCESS
    assert c.channel_bind(0x4000, address, 5000).cls == Class.SUCCESS
    (event,) = c.send_indication(address, 5000, b"x")
    assert isinstance(event, ToPeer)


def test_own_address_is_refused_except_on_relay_ports() -> None:
    c, _ = _client("8.8.4.4")
    assert c.permission("8.8.4.4").cls == Class.SUCCESS  # no port: needed for relay-to-relay
    assert code_of(c.channel_bind(0x4000, "8.8.4.4", 3478)) == 403
    assert c.send_indication("8.8.4.4", 22, b"x") == []
    assert c.channel_bind(0x4001, "8.8.4.4", 50001).cls == Class.SUCCESS


def test_loopback_needs_the_test_only_flag() -> None:
    h = make_harness(allow_loopback=True)
    c = h.client()
    c.allocate()
    assert c.permission("127.0.0.1").cls == Class.SUCCESS
    assert code_of(c.permission("10.0.0.1")) == 403  # the flag opens loopback only


@pytest.mark.parametrize(
    "address",
    FORBIDDEN_V4
    + [
        a
        for a in FORBIDDEN_V6
        if a not in ("::8.8.8.8", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1")
    ],
)
def test_netpolicy_denies(address: str) -> None:
    assert not peer_allowed(address)


@pytest.mark.parametrize("address", [*ALLOWED, "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"])
def test_netpolicy_allows_public_unicast_in_any_encoding(address: str) -> None:
    # Outside TURN (webhooks), an encoded public address is canonicalised and allowed.
    assert peer_allowed(address)


def test_netpolicy_extra_denies_and_garbage() -> None:
    from ipaddress import ip_address, ip_network

    assert not peer_allowed("8.8.8.8", denied=[ip_network("8.8.8.0/24")])
    assert not peer_allowed("::ffff:8.8.8.8", denied=[ip_address("8.8.8.8")])
    assert not peer_allowed("not-an-ip")
    assert not peer_allowed("fe80::1%eth0", allow_loopback=True)
    assert peer_allowed("127.0.0.1", allow_loopback=True)
