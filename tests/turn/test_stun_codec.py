"""The STUN codec against the RFC 5769 test vectors, plus property tests."""

from __future__ import annotations

import contextlib
import os
from ipaddress import IPv4Address, IPv6Address

from hypothesis import given, settings
from hypothesis import strategies as st

from telex.turn import stun
from telex.turn.core import TurnCore
from telex.turn.stun import Attr, Class, Method
from telex.turn.tcpframing import StreamFramer
from tests.turn import vectors
from tests.turn.helpers import make_harness

SHORT = vectors.SHORT_TERM_PASSWORD.encode()


def test_rfc5769_sample_request() -> None:
    msg = stun.parse_message(vectors.SAMPLE_REQUEST)
    assert (msg.method, msg.cls, msg.transaction_id) == (Method.BINDING, Class.REQUEST, vectors.TID)
    assert msg.get(Attr.SOFTWARE) == b"STUN test client"
    assert msg.get(Attr.USERNAME) == b"evtj:h6vY"
    assert msg.get(Attr.PRIORITY) == bytes.fromhex("6e0001ff")
    assert msg.fingerprint_ok is True
    assert msg.check_integrity(SHORT)
    assert not msg.check_integrity(b"wrong")


def test_rfc5769_ipv4_response() -> None:
    msg = stun.parse_message(vectors.IPV4_RESPONSE)
    assert msg.cls == Class.SUCCESS
    assert msg.fingerprint_ok
    assert msg.check_integrity(SHORT)
    value = msg.get(Attr.XOR_MAPPED_ADDRESS)
    assert stun.decode_xor_address(value, vectors.TID) == (IPv4Address("192.0.2.1"), 32853)
    assert stun.encode_xor_address(IPv4Address("192.0.2.1"), 32853, vectors.TID) == value


def test_rfc5769_ipv6_response() -> None:
    msg = stun.parse_message(vectors.IPV6_RESPONSE)
    assert msg.fingerprint_ok
    assert msg.check_integrity(SHORT)
    address = IPv6Address("2001:db8:1234:5678:11:2233:4455:6677")
    value = msg.get(Attr.XOR_MAPPED_ADDRESS)
    assert stun.decode_xor_address(value, vectors.TID) == (address, 32853)
    assert stun.encode_xor_address(address, 32853, vectors.TID) == value


def test_rfc5769_long_term_request_verifies_and_reencodes_byte_for_byte() -> None:
    msg = stun.parse_message(vectors.LONG_TERM_REQUEST)
    assert msg.fingerprint_ok is None
    assert msg.get(Attr.REALM) == b"example.org"
    assert msg.get(Attr.NONCE) == b"f//499k954d6OL34oL9FSTvy64sA"
    # The RFC's password "TheMatrIX" is already the SASLprep output.
    key = stun.long_term_key("マトリックス", "example.org", "TheMatrIX")
    assert msg.check_integrity(key)
    assert not msg.check_integrity(stun.long_term_key("マトリックス", "example.org", "thematrix"))
    attrs = [(a, msg.attributes[a]) for a in (Attr.USERNAME, Attr.NONCE, Attr.REALM)]
    again = stun.encode_message(Method.BINDING, Class.REQUEST, msg.transaction_id, attrs, integrity_key=key)
    assert again == vectors.LONG_TERM_REQUEST


def test_method_and_class_bits() -> None:
    for method in (Method.ALLOCATE, Method.SEND, Method.DATA, Method.CHANNEL_BIND, 0xFFF):
        for cls in Class:
            data = stun.encode_message(method, cls, bytes(12), [])
            msg = stun.parse_message(data)
            assert (msg.method, msg.cls) == (method, cls)
    assert stun.encode_message(Method.ALLOCATE, Class.ERROR, bytes(12), [])[:2] == b"\x01\x13"


def test_attributes_after_integrity_are_ignored() -> None:
    tid = os.urandom(12)
    signed = stun.encode_message(
        Method.ALLOCATE, Class.REQUEST, tid, [(Attr.LIFETIME, bytes(4))], integrity_key=b"k"
    )
    tampered = bytearray(signed + b"\x00\x13\x00\x04abcd")
    tampered[2:4] = (len(tampered) - 20).to_bytes(2, "big")
    msg = stun.parse_message(bytes(tampered))
    assert not msg.has(Attr.DATA)
    assert msg.check_integrity(b"k")


def test_error_code_round_trip() -> None:
    assert stun.decode_error_code(stun.encode_error_code(438, "Stale Nonce")) == 438
    assert stun.decode_error_code(b"\x00") is None


@settings(max_examples=300, deadline=None)
@given(
    method=st.integers(0, 0xFFF),
    cls=st.sampled_from(list(Class)),
    tid=st.binary(min_size=12, max_size=12),
    attrs=st.lists(
        st.tuples(st.integers(0x8000, 0xFFFF), st.binary(max_size=40)), max_size=6, unique_by=lambda a: a[0]
    ),
    key=st.one_of(st.none(), st.binary(min_size=1, max_size=32)),
    sha=st.booleans(),
    fingerprint=st.booleans(),
)
def test_round_trip(
    method: int,
    cls: Class,
    tid: bytes,
    attrs: list[tuple[int, bytes]],
    key: bytes | None,
    sha: bool,
    fingerprint: bool,
) -> None:
    attrs = [(t, v) for t, v in attrs if t not in (Attr.FINGERPRINT, Attr.MESSAGE_INTEGRITY_SHA256)]
    data = stun.encode_message(
        method, cls, tid, attrs, integrity_key=key, sha256=sha, fingerprint=fingerprint
    )
    msg = stun.parse_message(data)
    assert (msg.method, msg.cls, msg.transaction_id) == (method, cls, tid)
    for t, v in attrs:
        assert msg.get(t) == v
    if key is not None:
        assert msg.check_integrity(key)
    assert msg.fingerprint_ok is (True if fingerprint else None)


@settings(max_examples=300, deadline=None)
@given(
    ip=st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)),
    port=st.integers(0, 65535),
    tid=st.binary(min_size=12, max_size=12),
)
def test_xor_address_round_trip(ip: IPv4Address | IPv6Address, port: int, tid: bytes) -> None:
    assert stun.decode_xor_address(stun.encode_xor_address(ip, port, tid), tid) == (ip, port)


SEEDS = [vectors.SAMPLE_REQUEST, vectors.IPV4_RESPONSE, vectors.IPV6_RESPONSE, vectors.LONG_TERM_REQUEST]


def _exercise(core: TurnCore, data: bytes) -> None:
    core.handle_client(data, ("udp", ("127.0.0.1", 40000), ("127.0.0.1", 3478)), 1.0e9)
    try:
        msg = stun.parse_message(data)
    except stun.StunError:
        return
    msg.check_integrity(b"k")
    for value in msg.attributes.values():
        stun.decode_xor_address(value, msg.transaction_id)
        stun.decode_error_code(value)


@settings(max_examples=1500, deadline=None)
@given(data=st.binary(max_size=200))
def test_random_datagrams_never_raise(data: bytes) -> None:
    _exercise(make_harness().core, data)
    framer = StreamFramer()
    with contextlib.suppress(ValueError):
        framer.feed(data)


@settings(max_examples=1500, deadline=None)
@given(
    seed=st.sampled_from(SEEDS),
    flips=st.lists(st.tuples(st.integers(0, 200), st.integers(0, 7)), min_size=1, max_size=6),
    cut=st.integers(0, 200),
)
def test_mutated_datagrams_never_raise(seed: bytes, flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(seed)
    for pos, bit in flips:
        data[pos % len(data)] ^= 1 << bit
    _exercise(make_harness().core, bytes(data[: max(cut, 20)]))


@settings(max_examples=500, deadline=None)
@given(body=st.lists(st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=24)), max_size=10))
def test_valid_header_with_random_attributes_never_raises(body: list[tuple[int, bytes]]) -> None:
    for method in (Method.ALLOCATE, Method.CHANNEL_BIND, Method.SEND, Method.BINDING):
        cls = Class.INDICATION if method == Method.SEND else Class.REQUEST
        _exercise(make_harness().core, stun.encode_message(method, cls, os.urandom(12), body))


def test_tcp_framer_splits_stun_and_padded_channel_data() -> None:
    request = stun.encode_message(Method.REFRESH, Class.REQUEST, os.urandom(12), [(Attr.LIFETIME, bytes(4))])
    stream = b"\x40\x01\x00\x05hello\x00\x00\x00" + request + b"\x40\x02\x00\x00"
    framer = StreamFramer()
    out: list[bytes] = []
    for i in range(0, len(stream), 3):  # arbitrary TCP segmentation
        out += framer.feed(stream[i : i + 3])
    assert out == [b"\x40\x01\x00\x05hello", request, b"\x40\x02\x00\x00"]
