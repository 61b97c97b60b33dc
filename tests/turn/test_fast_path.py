"""The core's relay-socket effects (``OpenRelay``/``CloseRelay``) and its per-datagram fast-path
rules (``to_peer``/``to_client``), driven directly with a FakeClock: no socket anywhere."""

from __future__ import annotations

from ipaddress import ip_address

from telex.turn.core import CloseRelay, OpenRelay, Reply
from telex.turn.stun import Attr, Class, Method, encode_uint, parse_message
from tests.turn.helpers import Client, Harness, code_of, make_harness, relayed

UDP = (Attr.REQUESTED_TRANSPORT, bytes([17, 0, 0, 0]))


def allocate_request(c: Client, *extra: tuple[int, bytes]) -> bytes:
    c.fetch_nonce()
    return c.build(Method.ALLOCATE, [UDP, *extra])


def open_effect(h: Harness, c: Client, *extra: tuple[int, bytes]) -> OpenRelay:
    events = h.core.handle_client(allocate_request(c, *extra), c.key, h.clock.now())
    assert len(events) == 1
    assert isinstance(events[0], OpenRelay)
    return events[0]


def test_allocate_asks_for_a_relay_socket_and_answers_once_it_is_bound() -> None:
    h = make_harness()
    c = h.client()
    effect = open_effect(h, c)
    assert (effect.family, effect.even_port, effect.dont_fragment) == (4, False, False)
    assert effect.allocation.key == c.key
    assert not h.core.allocations  # nothing is live before the socket exists
    (reply,) = h.core.relay_opened(effect.allocation, ("127.0.0.1", 50123), h.clock.now())
    assert isinstance(reply, Reply)
    msg = parse_message(reply.data)
    assert msg.cls == Class.SUCCESS
    assert msg.check_integrity(c.key_bytes)
    assert relayed(msg) == (ip_address("127.0.0.1"), 50123)
    assert h.core.allocations[c.key] is effect.allocation
    assert h.core.next_timer() == h.clock.now() + 600


def test_open_relay_carries_even_port_dont_fragment_and_family() -> None:
    h = make_harness()
    effect = open_effect(
        h,
        h.client(),
        (Attr.EVEN_PORT, b"\x00"),
        (Attr.DONT_FRAGMENT, b""),
        (Attr.REQUESTED_ADDRESS_FAMILY, bytes([2, 0, 0, 0])),
    )
    assert (effect.family, effect.even_port, effect.dont_fragment) == (6, True, True)


def test_no_free_port_is_508_and_releases_the_quota() -> None:
    h = make_harness(user_quota=1)
    c = h.client()
    effect = open_effect(h, c)
    (reply,) = h.core.relay_failed(effect.allocation, h.clock.now())
    assert isinstance(reply, Reply)
    assert code_of(parse_message(reply.data)) == 508
    assert not h.core.allocations
    # The failed attempt no longer counts against the user's quota of one.
    assert c.allocate().cls == Class.SUCCESS


def test_openings_count_against_quotas_and_retransmissions_wait() -> None:
    h = make_harness(total_quota=1)
    a, b = h.client("a", port=40000), h.client("b", port=40001)
    data = allocate_request(a)
    (effect,) = h.core.handle_client(data, a.key, h.clock.now())
    assert h.core.handle_client(data, a.key, h.clock.now()) == []  # the answer is on its way
    assert code_of(b.allocate()) == 508  # the opening one holds the only slot
    assert isinstance(effect, OpenRelay)
    (reply,) = h.core.relay_opened(effect.allocation, ("127.0.0.1", 50000), h.clock.now())
    assert isinstance(reply, Reply)
    assert parse_message(reply.data).cls == Class.SUCCESS


def test_a_socket_bound_after_its_allocation_went_away_is_closed_again() -> None:
    h = make_harness()
    c = h.client(transport="tcp")
    effect = open_effect(h, c)
    assert h.core.remove(c.key) == []  # the TCP connection closed meanwhile
    assert h.core.relay_opened(effect.allocation, ("127.0.0.1", 50000), h.clock.now()) == [
        CloseRelay(effect.allocation)
    ]
    assert h.core.relay_failed(effect.allocation, h.clock.now()) == []
    assert not h.core.allocations
    assert h.client(transport="tcp").allocate().cls == Class.SUCCESS


def test_every_way_an_allocation_ends_closes_its_relay() -> None:
    h = make_harness()
    refresh, expire, tcp, stop = (h.client(port=40000 + i) for i in range(4))
    for c in (refresh, expire, tcp, stop):
        c.allocate()
    allocs = {c.key: h.core.allocations[c.key] for c in (refresh, expire, tcp, stop)}

    data = refresh.build(Method.REFRESH, [(Attr.LIFETIME, encode_uint(0))])
    close, reply = h.core.handle_client(data, refresh.key, h.clock.now())
    assert close == CloseRelay(allocs[refresh.key])
    assert isinstance(reply, Reply)

    assert h.core.remove(tcp.key) == [CloseRelay(allocs[tcp.key])]

    data = stop.build(Method.REFRESH, [(Attr.LIFETIME, encode_uint(3600))])
    assert isinstance(h.core.handle_client(data, stop.key, h.clock.now())[0], Reply)
    h.clock.advance(600)
    assert h.core.handle_timer(h.clock.now()) == [CloseRelay(allocs[expire.key])]

    assert h.core.close_all() == [CloseRelay(allocs[stop.key])]
    assert not h.core.allocations


def bound(h: Harness) -> tuple[Harness, Client]:
    """An allocation with channel 0x4000 bound to 8.8.8.8:53 and a permission for 1.1.1.1."""
    c = h.client()
    c.allocate(lifetime=3600)
    assert c.channel_bind(0x4000, "8.8.8.8", 53).cls == Class.SUCCESS
    assert c.permission("1.1.1.1").cls == Class.SUCCESS
    return h, c


def test_to_peer_names_the_bound_peer_and_drops_unbound_channels() -> None:
    h, c = bound(make_harness())
    alloc, now = h.core.allocations[c.key], h.clock.now()
    assert h.core.to_peer(alloc, 0x4000, 100, now) == ("8.8.8.8", 53)
    assert h.core.to_peer(alloc, 0x4001, 100, now) is None
    assert h.core.counters.dropped == 1


def test_to_client_checks_permission_then_picks_channel_or_data_indication() -> None:
    h, c = bound(make_harness())
    alloc, now = h.core.allocations[c.key], h.clock.now()
    assert h.core.to_client(alloc, ("8.8.8.8", 53), 100, now) == 0x4000  # ChannelData
    assert h.core.to_client(alloc, ("8.8.8.8", 54), 100, now) == 0  # permitted IP, no channel
    assert h.core.to_client(alloc, ("1.1.1.1", 53), 100, now) == 0
    assert h.core.to_client(alloc, ("9.9.9.9", 53), 100, now) == -1  # no permission (T-15)
    assert h.core.counters.dropped == 1


def test_to_client_drops_a_bound_channel_once_its_permission_expired() -> None:
    h, c = bound(make_harness(nonce_lifetime=86400))
    alloc = h.core.allocations[c.key]
    h.clock.advance(301)
    h.run_timers()
    assert alloc.channels == {0x4000: ("8.8.8.8", 53)}  # the binding lives 600 s
    assert h.core.to_client(alloc, ("8.8.8.8", 53), 100, h.clock.now()) == -1
    assert h.core.to_peer(alloc, 0x4000, 100, h.clock.now()) == ("8.8.8.8", 53)


def test_both_directions_share_one_bandwidth_bucket() -> None:
    h, c = bound(make_harness(max_bytes_per_second=1000))  # a 1500-byte bucket
    alloc, now = h.core.allocations[c.key], h.clock.now()
    assert h.core.to_peer(alloc, 0x4000, 1000, now) is not None
    assert h.core.to_client(alloc, ("8.8.8.8", 53), 400, now) == 0x4000
    assert h.core.to_client(alloc, ("8.8.8.8", 53), 200, now) == -1
    assert h.core.to_peer(alloc, 0x4000, 200, now) is None
    h.clock.advance(0.2)  # 200 bytes refilled
    assert h.core.to_peer(alloc, 0x4000, 200, h.clock.now()) is not None
    assert h.core.counters.dropped == 2


def test_framing_entries_follow_the_fast_path_rules() -> None:
    h, c = bound(make_harness())
    alloc, now = h.core.allocations[c.key], h.clock.now()
    assert h.core.handle_peer(alloc, b"abc", ("8.8.8.8", 53), now) == b"\x40\x00\x00\x03abc"
    indication = h.core.handle_peer(alloc, b"abc", ("1.1.1.1", 7), now)
    assert indication is not None
    msg = parse_message(indication)
    assert (msg.method, msg.cls, msg.get(Attr.DATA)) == (Method.DATA, Class.INDICATION, b"abc")
    assert h.core.handle_peer(alloc, b"abc", ("9.9.9.9", 53), now) is None
    event = h.core.channel_data(b"\x40\x00\x00\x02hi", c.key, now)
    assert event is not None
    assert (bytes(event.data), event.peer) == (b"hi", ("8.8.8.8", 53))
    assert h.core.channel_data(b"\x40\x01\x00\x02hi", c.key, now) is None


def test_relay_changes_name_what_an_outside_data_path_must_mirror() -> None:
    h = make_harness(nonce_lifetime=86400)
    assert h.core.take_relay_changes() == []
    h, c = bound(h)
    alloc = h.core.allocations[c.key]
    assert h.core.take_relay_changes() == [alloc]  # a channel and a permission, once
    assert h.core.take_relay_changes() == []
    h.clock.advance(301)
    h.run_timers()  # the permission for 1.1.1.1 (and for 8.8.8.8) expired
    assert h.core.take_relay_changes() == [alloc]
    assert "1.1.1.1" not in alloc.permissions
    assert c.permission("1.1.1.1").cls == Class.SUCCESS
    data = c.build(Method.REFRESH, [(Attr.LIFETIME, encode_uint(0))])
    h.apply(h.core.handle_client(data, c.key, h.clock.now()))
    assert h.core.take_relay_changes() == []  # deleted: CloseRelay says it, not a change


def test_a_meter_keeps_the_bucket_outside_the_allocation() -> None:
    h, c = bound(make_harness(max_bytes_per_second=1000))
    alloc, now = h.core.allocations[c.key], h.clock.now()
    spent: list[int] = []
    alloc.meter = lambda size: spent.append(size) is None and size <= 100
    assert h.core.to_peer(alloc, 0x4000, 100, now) is not None
    assert h.core.to_client(alloc, ("8.8.8.8", 53), 101, now) == -1
    assert spent == [100, 101]
    assert alloc.tokens == alloc.burst  # the allocation's own bucket was not touched
