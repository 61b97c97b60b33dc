"""TurnCore driven directly with a FakeClock: the security.md §1.6 cases that apply to a
UDP-relay-only server (T-01…T-19, T-22), with exact RFC 8656 error codes."""

from __future__ import annotations

import os

import pytest

from telex.turn.core import Reply, ToPeer
from telex.turn.credentials import make_credentials
from telex.turn.stun import Attr, Class, Method, decode_uint, encode_message, encode_uint, parse_message
from tests.turn.helpers import SECRET, code_of, make_harness, relayed, xor_peer

V6 = (Attr.REQUESTED_ADDRESS_FAMILY, bytes([2, 0, 0, 0]))


def test_t01_unauthenticated_allocate_gets_small_401_with_realm_and_nonce() -> None:
    h = make_harness()
    c = h.client()
    request = c.build(
        Method.ALLOCATE,
        [(Attr.REQUESTED_TRANSPORT, bytes([17, 0, 0, 0])), (Attr.LIFETIME, encode_uint(600))],
        auth=False,
    )
    reply = c.send(request)
    assert reply is not None
    assert code_of(reply) == 401
    assert reply.get(Attr.REALM) == b"telex"
    assert reply.get(Attr.NONCE)
    assert not reply.has(Attr.MESSAGE_INTEGRITY)
    assert not reply.has(Attr.SOFTWARE)
    assert len(reply.raw) <= 2 * len(request)
    assert not h.core.allocations


def test_successful_allocate_is_signed_and_advertises_relay_and_lifetime() -> None:
    h = make_harness()
    c = h.client()
    reply = c.allocate()
    assert reply.cls == Class.SUCCESS
    assert reply.check_integrity(c.key_bytes)
    assert relayed(reply) is not None
    assert decode_uint(reply.get(Attr.LIFETIME)) == 600
    assert reply.get(Attr.XOR_MAPPED_ADDRESS)
    assert len(h.core.allocations) == 1


@pytest.mark.parametrize("case", ["wrong-password", "unknown-secret", "flipped-mi", "wrong-realm"])
def test_t02_bad_credentials_get_401_and_no_allocation(case: str) -> None:
    h = make_harness()
    c = h.client()
    c.fetch_nonce()
    if case == "wrong-password":
        c.set_credentials(c.username, "not-the-password")
    elif case == "unknown-secret":
        c.set_credentials(*make_credentials(b"other-secret", "alice", int(h.clock.now()) + 600))
    elif case == "wrong-realm":
        c.realm = "other"
    data = bytearray(c.build(Method.ALLOCATE, [(Attr.REQUESTED_TRANSPORT, bytes([17, 0, 0, 0]))]))
    if case == "flipped-mi":
        data[-1] ^= 0x01
    reply = c.send(bytes(data))
    assert reply is not None
    assert code_of(reply) == 401
    assert not h.core.allocations
    assert not h.opener.open_relays


@pytest.mark.parametrize(
    "username",
    ["EXPIRED", "TOO-FAR", "abc:alice", "alice", ":alice", "123:", "-5:alice", "１２３:alice"],
)
def test_t03_rest_username_expired_too_far_or_malformed_gets_401(username: str) -> None:
    h = make_harness(max_credential_ttl=3600)
    now = int(h.clock.now())
    username = {"EXPIRED": f"{now - 1}:alice", "TOO-FAR": f"{now + 3601}:alice"}.get(username, username)
    c = h.client()
    c.set_credentials(*(username, make_credentials(SECRET, "x", 0)[1]))
    from telex.turn.credentials import rest_password

    c.set_credentials(username, rest_password(SECRET, username))
    assert code_of(c.allocate()) == 401
    assert not h.core.allocations


def test_t04_expired_nonce_gets_438_then_the_new_nonce_works() -> None:
    h = make_harness(nonce_lifetime=5)
    c = h.client()
    assert c.allocate().cls == Class.SUCCESS
    h.clock.advance(6)
    reply = c.request(Method.REFRESH, [(Attr.LIFETIME, encode_uint(600))])
    assert code_of(reply) == 438
    new_nonce = reply.get(Attr.NONCE)
    assert new_nonce is not None
    assert new_nonce.decode() != c.nonce
    c.nonce = new_nonce.decode()
    assert c.request(Method.REFRESH, [(Attr.LIFETIME, encode_uint(600))]).cls == Class.SUCCESS


def test_nonce_is_bound_to_the_5_tuple() -> None:
    h = make_harness()
    a, b = h.client(port=40000), h.client(port=40001)
    a.fetch_nonce()
    b.nonce = a.nonce
    assert code_of(b.allocate()) == 401


@pytest.mark.parametrize(
    "nonce", ["", "garbage", "!!!!!!!!!!!!!!!!", "AAAAAAAAAAAAAAAA", "aVW7WEjbyPNSQnS6x"]
)
def test_forged_or_mangled_nonces_get_401(nonce: str) -> None:
    h = make_harness()
    c = h.client()
    c.nonce = nonce
    assert code_of(c.allocate()) == 401


def test_t05_second_allocate_on_same_5_tuple_is_437_but_a_retransmission_is_answered() -> None:
    h = make_harness()
    c = h.client()
    tid = os.urandom(12)
    first = c.build(Method.ALLOCATE, [(Attr.REQUESTED_TRANSPORT, bytes([17, 0, 0, 0]))], tid=tid)
    reply = c.send(first)
    assert reply is not None
    assert reply.cls == Class.SUCCESS
    again = c.send(first)
    assert again is not None
    assert again.raw == reply.raw
    assert code_of(c.allocate()) == 437
    assert len(h.core.allocations) == 1


@pytest.mark.parametrize("method", [Method.REFRESH, Method.CREATE_PERMISSION, Method.CHANNEL_BIND])
def test_t06_other_users_valid_credentials_get_441(method: Method) -> None:
    h = make_harness()
    alice = h.client("alice")
    alice.allocate()
    bob = h.client("bob")  # same 5-tuple, different user
    attrs: list[tuple[int, object]] = {
        Method.REFRESH: [],
        Method.CREATE_PERMISSION: [(Attr.XOR_PEER_ADDRESS, lambda t: xor_peer("8.8.8.8", 1, t))],
        Method.CHANNEL_BIND: [
            (Attr.CHANNEL_NUMBER, encode_uint(0x4000 << 16)),
            (Attr.XOR_PEER_ADDRESS, lambda t: xor_peer("8.8.8.8", 1, t)),
        ],
    }[method]
    assert code_of(bob.request(method, attrs)) == 441


def test_requests_without_an_allocation_get_437() -> None:
    h = make_harness()
    c = h.client()
    assert code_of(c.request(Method.REFRESH)) == 437
    assert code_of(c.permission("8.8.8.8")) == 437


def test_t07_lifetimes_are_clamped_defaulted_and_zero_deletes() -> None:
    h = make_harness()
    c = h.client()
    assert decode_uint(c.allocate(lifetime=100000).get(Attr.LIFETIME)) == 3600
    assert decode_uint(c.request(Method.REFRESH).get(Attr.LIFETIME)) == 600
    huge = c.request(Method.REFRESH, [(Attr.LIFETIME, encode_uint(100000))])
    assert decode_uint(huge.get(Attr.LIFETIME)) == 3600
    relay = next(iter(h.opener.open_relays.values()))
    gone = c.request(Method.REFRESH, [(Attr.LIFETIME, encode_uint(0))])
    assert gone.cls == Class.SUCCESS
    assert decode_uint(gone.get(Attr.LIFETIME)) == 0
    assert not h.core.allocations
    assert relay.closed
    # A short requested lifetime on Allocate is raised to the default (RFC 8656 §7.2).
    assert decode_uint(h.client(port=40001).allocate(lifetime=10).get(Attr.LIFETIME)) == 600


def test_allocation_expires_on_timer_and_releases_its_port() -> None:
    h = make_harness()
    c = h.client()
    c.allocate()
    relay = next(iter(h.opener.open_relays.values()))
    deadline = h.core.next_timer()
    assert deadline == h.clock.now() + 600
    h.clock.advance(599)
    h.run_timers()
    assert h.core.allocations
    h.clock.advance(1)
    h.run_timers()
    assert not h.core.allocations
    assert relay.closed


@pytest.mark.parametrize("transport", [6, 99])
def test_t08_requested_transport_other_than_udp_is_442(transport: int) -> None:
    h = make_harness()
    c = h.client()
    reply = c.request(Method.ALLOCATE, [(Attr.REQUESTED_TRANSPORT, bytes([transport, 0, 0, 0]))])
    assert code_of(reply) == 442
    assert reply.check_integrity(c.key_bytes)
    assert not h.core.allocations


def test_allocate_without_requested_transport_is_400() -> None:
    h = make_harness()
    assert code_of(h.client().request(Method.ALLOCATE, [])) == 400


def test_t09_user_quota_486_while_another_user_still_allocates() -> None:
    h = make_harness(user_quota=3)
    codes = [code_of(h.client("mallory", port=41000 + i).allocate()) for i in range(5)]
    assert codes == [None, None, None, 486, 486]
    assert h.client("alice", port=42000).allocate().cls == Class.SUCCESS


def test_t10_ports_exhausted_508_then_recovers_after_release() -> None:
    h = make_harness(user_quota=100)
    clients = [h.client(f"u{i}", port=41000 + i) for i in range(11)]
    codes = [code_of(c.allocate()) for c in clients]
    assert codes == [None] * 10 + [508]
    clients[0].request(Method.REFRESH, [(Attr.LIFETIME, encode_uint(0))])
    assert clients[10].allocate().cls == Class.SUCCESS


def test_t10_total_quota_508() -> None:
    h = make_harness(total_quota=2)
    assert [code_of(h.client(f"u{i}", port=41000 + i).allocate()) for i in range(3)] == [None, None, 508]


def test_t13_peer_family_mismatch_is_443() -> None:
    h = make_harness()
    v4 = h.client(port=40000)
    v4.allocate()
    assert code_of(v4.permission("2001:4860:4860::8888")) == 443
    v6 = h.client(port=40001)
    v6.allocate(V6)
    assert code_of(v6.permission("8.8.8.8")) == 443
    assert v6.permission("2001:4860:4860::8888").cls == Class.SUCCESS


def test_address_family_checks_440() -> None:
    h = make_harness()
    bad = (Attr.REQUESTED_ADDRESS_FAMILY, bytes([3, 0, 0, 0]))
    assert code_of(h.client(port=40000).allocate(bad)) == 440
    no_v6 = make_harness(ipv6_relay=False)
    assert code_of(no_v6.client(port=40000).allocate(V6)) == 440
    v6 = h.client(port=40001).allocate(V6)
    address = relayed(v6)
    assert address is not None
    assert address[0].version == 6


def test_t14_permission_expires_after_300_seconds() -> None:
    h = make_harness()
    c = h.client()
    c.allocate(lifetime=3600)
    c.permission("8.8.8.8")
    alloc = h.core.allocations[c.key]
    assert h.core.handle_peer(alloc, b"hi", ("8.8.8.8", 53), h.clock.now()) is not None
    h.clock.advance(299)
    h.run_timers()
    assert h.core.handle_peer(alloc, b"hi", ("8.8.8.8", 53), h.clock.now()) is not None
    h.clock.advance(2)
    h.run_timers()
    assert h.core.handle_peer(alloc, b"hi", ("8.8.8.8", 53), h.clock.now()) is None


def test_t15_data_from_a_peer_without_permission_is_dropped() -> None:
    h = make_harness()
    c = h.client()
    c.allocate()
    c.permission("8.8.8.8")
    alloc = h.core.allocations[c.key]
    assert h.core.handle_peer(alloc, b"x", ("1.1.1.1", 53), h.clock.now()) is None


def test_peer_data_becomes_data_indication_or_channel_data() -> None:
    h = make_harness()
    c = h.client()
    c.allocate()
    c.permission("8.8.8.8")
    alloc = h.core.allocations[c.key]
    out = h.core.handle_peer(alloc, b"payload", ("8.8.8.8", 53), h.clock.now())
    assert out is not None
    indication = parse_message(out)
    assert (indication.method, indication.cls) == (Method.DATA, Class.INDICATION)
    assert indication.get(Attr.DATA) == b"payload"
    assert c.channel_bind(0x4001, "8.8.8.8", 53).cls == Class.SUCCESS
    out = h.core.handle_peer(alloc, b"payload", ("8.8.8.8", 53), h.clock.now())
    assert out == b"\x40\x01\x00\x07payload"


def test_send_indication_and_channel_data_reach_the_peer() -> None:
    h = make_harness()
    c = h.client()
    c.allocate()
    assert c.send_indication("8.8.8.8", 53, b"early") == []  # no permission yet
    c.permission("8.8.8.8")
    (event,) = c.send_indication("8.8.8.8", 53, b"hello")
    assert isinstance(event, ToPeer)
    assert bytes(event.data) == b"hello"
    assert event.peer == ("8.8.8.8", 53)
    c.channel_bind(0x4000, "8.8.8.8", 53)
    (event,) = c.raw(b"\x40\x00\x00\x03abc\x00")  # padded as over TCP
    assert isinstance(event, ToPeer)
    assert bytes(event.data) == b"abc"
    assert c.raw(b"\x40\x05\x00\x03abc") == []  # unbound channel
    assert c.raw(b"\x40\x00\x00\x09abc") == []  # length beyond datagram


@pytest.mark.parametrize("number", [0x3FFF, 0x5000, 0x7FFF, 0])
def test_t16_channel_number_outside_range_is_400(number: int) -> None:
    h = make_harness()
    c = h.client()
    c.allocate()
    assert code_of(c.channel_bind(number, "8.8.8.8", 53)) == 400


def test_rfc5766_channel_range_is_opt_in() -> None:
    h = make_harness(max_channel=0x7FFF)
    c = h.client()
    c.allocate()
    assert c.channel_bind(0x7FFF, "8.8.8.8", 53).cls == Class.SUCCESS
    assert code_of(c.channel_bind(0x8000, "8.8.8.8", 54)) == 400


def test_t16_rebinding_rules() -> None:
    h = make_harness()
    c = h.client()
    c.allocate()
    assert c.channel_bind(0x4000, "8.8.8.8", 53).cls == Class.SUCCESS
    assert c.channel_bind(0x4000, "8.8.8.8", 53).cls == Class.SUCCESS  # refresh: same pair
    assert code_of(c.channel_bind(0x4000, "1.1.1.1", 53)) == 400  # number already bound elsewhere
    assert code_of(c.channel_bind(0x4001, "8.8.8.8", 53)) == 400  # peer already has a number
    assert c.channel_bind(0x4001, "8.8.8.8", 54).cls == Class.SUCCESS  # another port is another peer


def test_channel_expires_at_600_seconds_even_after_its_permission_expired() -> None:
    h = make_harness(nonce_lifetime=86400)
    c = h.client()
    c.allocate(lifetime=3600)
    c.channel_bind(0x4000, "8.8.8.8", 53)
    alloc = h.core.allocations[c.key]
    start = h.clock.now()
    h.clock.advance(300)
    h.run_timers()
    assert alloc.permissions == {}
    assert alloc.channels == {0x4000: ("8.8.8.8", 53)}
    assert h.core.next_timer() == start + 600
    h.clock.advance(300)
    h.run_timers()
    assert alloc.channels == {}
    assert h.core.next_timer() == start + 900  # the cool-down ends


def test_expired_channel_cools_down_for_five_minutes() -> None:
    h = make_harness(nonce_lifetime=86400)
    c = h.client()
    c.allocate(lifetime=3600)
    c.channel_bind(0x4000, "8.8.8.8", 53)
    h.clock.advance(601)
    h.run_timers()
    assert code_of(c.channel_bind(0x4000, "1.1.1.1", 53)) == 400  # number still reserved
    assert code_of(c.channel_bind(0x4001, "8.8.8.8", 53)) == 400  # peer still reserved
    assert c.channel_bind(0x4000, "8.8.8.8", 53).cls == Class.SUCCESS  # same pair may come back
    h.clock.advance(601 + 300)
    h.run_timers()
    assert c.channel_bind(0x4002, "8.8.8.8", 53).cls == Class.SUCCESS  # free again


def test_password_guessing_per_user_id_goes_silent() -> None:
    h = make_harness()
    answered = 0
    for i in range(40):  # each from a different source port, like a distributed guesser
        c = h.client("victim", port=41000 + i)
        c.fetch_nonce()
        c.set_credentials(c.username, f"guess-{i}")
        data = c.build(Method.ALLOCATE, [(Attr.REQUESTED_TRANSPORT, bytes([17, 0, 0, 0]))])
        answered += c.send(data) is not None
    assert answered == 20
    assert h.client("someone-else", port=42000).allocate().cls == Class.SUCCESS
    h.clock.advance(4)
    assert h.client("victim", port=42001).allocate().cls == Class.SUCCESS  # the real user is not locked out


def test_channel_binding_expires_after_600_seconds_but_refresh_keeps_it() -> None:
    h = make_harness()
    c = h.client()
    c.allocate(lifetime=3600)
    c.channel_bind(0x4000, "8.8.8.8", 53)
    alloc = h.core.allocations[c.key]
    h.clock.advance(590)
    c.channel_bind(0x4000, "8.8.8.8", 53)
    h.clock.advance(20)
    h.run_timers()
    assert alloc.channels == {0x4000: ("8.8.8.8", 53)}
    h.clock.advance(600)
    h.run_timers()
    assert alloc.channels == {}
    assert alloc.peer_channels == {}


def test_t17_malformed_datagrams_are_dropped_and_counted() -> None:
    h = make_harness()
    c = h.client()
    good = c.build(Method.BINDING, [], auth=False, fingerprint=True)
    bad_fp = bytearray(good)
    bad_fp[-1] ^= 1
    truncated_attr = bytearray(
        encode_message(Method.BINDING, Class.REQUEST, os.urandom(12), [(0x8022, b"abcd")])
    )
    truncated_attr[22:24] = (40).to_bytes(2, "big")  # attribute longer than the message
    cases = [
        good[:12],  # truncated header
        good[:2] + (5).to_bytes(2, "big") + good[4:],  # length not a multiple of 4
        bytes(truncated_attr),
        bytes(bad_fp),
        b"\x80" + good[1:],  # top bits set
        b"",
    ]
    for data in cases:
        assert c.raw(data) == []
    assert h.core.counters.malformed == len(cases)
    assert c.send(good) is not None  # still answering


def test_t17_unknown_comprehension_required_attribute_is_420() -> None:
    h = make_harness()
    c = h.client()
    reply = c.send(c.build(Method.BINDING, [(0x7FFF, b"x")], auth=False))
    assert reply is not None
    assert code_of(reply) == 420
    assert reply.get(Attr.UNKNOWN_ATTRIBUTES) == b"\x7f\xff"
    reply = c.request(Method.ALLOCATE, [(Attr.REQUESTED_TRANSPORT, bytes([17, 0, 0, 0])), (0x0031, b"")])
    assert code_of(reply) == 420
    assert reply.check_integrity(c.key_bytes)
    # Unknown comprehension-optional attributes are ignored.
    assert c.send(c.build(Method.BINDING, [(0xC001, b"x")], auth=False)).cls == Class.SUCCESS  # type: ignore[union-attr]


def test_t17_duplicate_attributes_only_the_first_counts() -> None:
    h = make_harness()
    c = h.client()
    c.allocate()
    reply = c.request(
        Method.CHANNEL_BIND,
        [
            (Attr.CHANNEL_NUMBER, encode_uint(0x4000 << 16)),
            (Attr.XOR_PEER_ADDRESS, lambda t: xor_peer("8.8.8.8", 53, t)),
            (Attr.XOR_PEER_ADDRESS, lambda t: xor_peer("127.0.0.1", 53, t)),
        ],
    )
    assert reply.cls == Class.SUCCESS
    assert h.core.allocations[c.key].channels == {0x4000: ("8.8.8.8", 53)}


@pytest.mark.parametrize("fingerprint", [False, True])
def test_t18_binding_response_is_small_and_has_no_software(fingerprint: bool) -> None:
    h = make_harness()
    c = h.client()
    request = c.build(Method.BINDING, [], auth=False, fingerprint=fingerprint)
    reply = c.send(request)
    assert reply is not None
    assert reply.cls == Class.SUCCESS
    expected = {Attr.XOR_MAPPED_ADDRESS} | ({Attr.FINGERPRINT} if fingerprint else set())
    assert set(reply.attributes) == expected
    assert len(reply.raw) <= 1.6 * len(request)
    assert reply.fingerprint_ok in (None, True)


def test_t19_error_responses_are_rate_limited_per_source_and_recover() -> None:
    h = make_harness(error_rate_per_source=100.0)
    flood = h.client(port=40000)
    replies = sum(1 for _ in range(5000) if flood.send(flood.build(Method.ALLOCATE, [], auth=False)))
    assert replies == 100
    assert h.core.counters.rate_limited == 4900
    h.clock.advance(1)
    assert h.client(port=40001).allocate().cls == Class.SUCCESS


def test_t22_sha256_integrity_is_accepted_and_answered_in_kind() -> None:
    h = make_harness()
    c = h.client()
    c.fetch_nonce()
    reply = c.send(c.build(Method.ALLOCATE, [(Attr.REQUESTED_TRANSPORT, bytes([17, 0, 0, 0]))], sha256=True))
    assert reply is not None
    assert reply.cls == Class.SUCCESS
    assert reply.has(Attr.MESSAGE_INTEGRITY_SHA256)
    assert reply.check_integrity(c.key_bytes)


def test_t22_truncated_sha256_and_password_algorithm_are_400() -> None:
    h = make_harness()
    c = h.client()
    signed = c.build(Method.ALLOCATE, [(Attr.REQUESTED_TRANSPORT, bytes([17, 0, 0, 0]))], sha256=True)
    # Cut the 32-byte MESSAGE-INTEGRITY-SHA256 down to 12 bytes.
    short = bytearray(signed[:-36] + (0x001C).to_bytes(2, "big") + (12).to_bytes(2, "big") + signed[-32:-20])
    short[2:4] = (len(short) - 20).to_bytes(2, "big")
    assert code_of(c.send(bytes(short))) == 400  # type: ignore[arg-type]
    reply = c.request(
        Method.ALLOCATE,
        [(Attr.REQUESTED_TRANSPORT, bytes([17, 0, 0, 0])), (Attr.PASSWORD_ALGORITHM, b"\x00\x02\x00\x00")],
    )
    assert code_of(reply) == 400


def test_secret_rotation_accepts_every_configured_secret() -> None:
    h = make_harness()
    h.secrets[:] = [b"new-secret", SECRET]
    assert h.client(port=40000).allocate().cls == Class.SUCCESS  # signed with the old secret
    h.secrets[:] = [b"new-secret"]
    assert code_of(h.client(port=40001).allocate()) == 401


def test_even_port_reservation_token_and_dont_fragment() -> None:
    h = make_harness()
    reply = h.client(port=40000).allocate((Attr.EVEN_PORT, b"\x00"), (Attr.DONT_FRAGMENT, b""))
    address = relayed(reply)
    assert address is not None
    assert address[1] % 2 == 0
    assert h.opener.dont_fragment == [True]
    assert code_of(h.client(port=40001).allocate((Attr.EVEN_PORT, b"\x80"))) == 400
    assert code_of(h.client(port=40002).allocate((Attr.RESERVATION_TOKEN, bytes(8)))) == 400


def test_unknown_method_and_non_requests() -> None:
    h = make_harness()
    c = h.client()
    assert code_of(c.send(c.build(0x0FF, [], auth=False))) == 400  # type: ignore[arg-type]
    success = encode_message(Method.BINDING, Class.SUCCESS, os.urandom(12), [])
    assert c.raw(success) == []
    indication = encode_message(Method.BINDING, Class.INDICATION, os.urandom(12), [])
    assert c.raw(indication) == []


def test_bandwidth_cap_drops_beyond_the_budget() -> None:
    h = make_harness(max_bytes_per_second=1000)
    c = h.client()
    c.allocate()
    c.channel_bind(0x4000, "8.8.8.8", 53)
    packet = b"\x40\x00\x01\x00" + bytes(256)
    sent = sum(1 for _ in range(10) if any(isinstance(e, ToPeer) for e in c.raw(packet)))
    assert sent == 5  # the bucket holds 1500 bytes at this tiny rate
    h.clock.advance(1)
    # 220 bytes left + 1000 refilled: four more 256-byte datagrams.
    assert sum(1 for _ in range(10) if c.raw(packet)) == 4


def test_replies_are_reply_events() -> None:
    h = make_harness()
    events = h.client().raw(encode_message(Method.BINDING, Class.REQUEST, os.urandom(12), []))
    assert len(events) == 1
    assert isinstance(events[0], Reply)
