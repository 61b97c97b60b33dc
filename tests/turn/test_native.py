"""The native data path (``telex.turn.native``, C in ``_native.c``) against the pure-Python one.

Each semantic test runs on both paths over real loopback sockets: ChannelData both ways, Send and
Data indications (which stay in Python), permissions and channels expiring on the core's timers
(a FakeClock moves them), the C tables full (Python relays what C cannot), the switches that
turn the native path off, a clean stop, and random datagrams from clients and peers that must
never crash the process."""

from __future__ import annotations

import asyncio
import os
import select
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from functools import partial
from ipaddress import ip_address
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from telex.core.clock import FakeClock, SystemClock
from telex.turn import native as native_module
from telex.turn import server as server_module
from telex.turn.native import native_available
from telex.turn.server import TurnServer
from telex.turn.settings import TurnSettings
from telex.turn.stun import Attr, Class, Method, encode_message, encode_xor_address, parse_message
from tests.turn.conftest import (
    IN_CI,
    NATIVE_OR_NOT,
    SECRET,
    credentials,
    free_port_range,
    need_native,
    wait_for,
)
from tests.turn.probe import Probe

PATHS = NATIVE_OR_NOT


def test_ci_builds_the_native_path() -> None:
    if IN_CI:
        assert native_available()


async def _server(clock: Any = None, **overrides: Any) -> TurnServer:
    low, high = free_port_range(100)
    values: dict[str, Any] = {"port": 0, "min_port": low, "max_port": high, "allow_loopback_peers": True}
    server = TurnServer(TurnSettings(**{**values, **overrides}), [SECRET], clock or FakeClock(time.time()))
    await server.start()
    return server


@pytest.fixture
async def servers() -> AsyncIterator[list[TurnServer]]:
    started: list[TurnServer] = []
    yield started
    for server in started:
        await server.stop()


def _udp(timeout: float = 2.0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(timeout)
    return sock


async def _recv(sock: socket.socket) -> tuple[bytes, Any]:
    return await asyncio.to_thread(sock.recvfrom, 65535)


def _nothing_waiting(sock: socket.socket) -> bool:
    return not select.select([sock], [], [], 0)[0]


def _channel_data(number: int, payload: bytes) -> bytes:
    return number.to_bytes(2, "big") + len(payload).to_bytes(2, "big") + payload


class _Session:
    """A probe with an allocation, a channel 0x4000 to ``peer`` and the relayed address."""

    def __init__(self, server: TurnServer, peer: socket.socket) -> None:
        self.server = server
        self.probe = Probe(("127.0.0.1", server.udp_port), *credentials())
        self.peer = peer
        self.peer_addr = peer.getsockname()
        self.relayed: tuple[str, int] = ("", 0)
        self.key: Any = ("udp", self.probe.sock.getsockname()[:2], ("127.0.0.1", server.udp_port))

    async def open(self, *, channel: bool = True) -> None:
        reply = await asyncio.to_thread(self.probe.allocate)
        assert reply is not None and reply.cls == Class.SUCCESS
        assert (await asyncio.to_thread(self.probe.refresh, 3600)).cls == Class.SUCCESS  # type: ignore[union-attr]
        address = self.server.relay_address(self.key)
        assert address is not None
        self.relayed = address
        if channel:
            reply = await asyncio.to_thread(self.probe.channel_bind, 0x4000, *self.peer_addr)
            assert reply is not None and reply.cls == Class.SUCCESS

    async def to_peer(self, payload: bytes) -> bytes:
        self.probe.sock.sendto(_channel_data(0x4000, payload), self.probe.server)
        data, addr = await _recv(self.peer)
        assert addr[1] == self.relayed[1]
        return data

    async def to_client(self, payload: bytes) -> bytes:
        self.peer.sendto(payload, self.relayed)
        data, _ = await _recv(self.probe.sock)
        return data


@pytest.mark.parametrize("native", PATHS)
async def test_channel_data_both_ways_and_counters(servers: list[TurnServer], native: bool) -> None:
    need_native(native)
    server = await _server(native=native)
    servers.append(server)
    assert server.native is native
    with _udp() as peer:
        session = _Session(server, peer)
        await session.open()
        try:
            for i in range(20):
                assert await session.to_peer(b"up %d" % i) == b"up %d" % i
                assert await session.to_client(b"down %d" % i) == _channel_data(0x4000, b"down %d" % i)
        finally:
            session.probe.close()
    stats = server.stats
    assert (stats.packets_to_peer, stats.packets_to_client) == (20, 20)
    counters = server.relay_counters(session.key)
    if native:  # every ChannelData went through C: per-allocation counters say so
        assert counters is not None
        up, down = (sum(len(b"%s %d" % (word, i)) for i in range(20)) for word in (b"up", b"down"))
        assert counters[:4] == (20, up, 20, down)
    else:
        assert counters is None


@pytest.mark.parametrize("native", PATHS)
async def test_send_and_data_indications_stay_in_python(servers: list[TurnServer], native: bool) -> None:
    need_native(native)
    server = await _server(native=native)
    servers.append(server)
    with _udp() as peer:
        session = _Session(server, peer)
        await session.open(channel=False)
        try:
            host, port = peer.getsockname()
            assert (await asyncio.to_thread(session.probe.create_permission, host)).cls == Class.SUCCESS  # type: ignore[union-attr]
            tid = os.urandom(12)
            attrs = [(Attr.XOR_PEER_ADDRESS, encode_xor_address(ip_address(host), port, tid))]
            send = encode_message(Method.SEND, Class.INDICATION, tid, [*attrs, (Attr.DATA, b"hello")])
            session.probe.sock.sendto(send, session.probe.server)
            data, _ = await _recv(peer)
            assert data == b"hello"
            reply = parse_message(await session.to_client(b"back"))
            assert (reply.method, reply.cls, reply.get(Attr.DATA)) == (Method.DATA, Class.INDICATION, b"back")
        finally:
            session.probe.close()


@pytest.mark.parametrize("native", PATHS)
async def test_permission_and_channel_expiry_follow_the_core(servers: list[TurnServer], native: bool) -> None:
    """RFC 8656 §9 and §12 on the core's timers: after 300 s the permission is gone (the peer's
    datagrams are dropped, the client's ChannelData still goes out on its bound channel); a new
    CreatePermission brings the peer back; after 600 s the channel is gone too."""
    need_native(native)
    clock = FakeClock(time.time())
    server = await _server(clock, native=native)
    servers.append(server)
    counters = server.core.counters
    with _udp() as peer:
        session = _Session(server, peer)
        await session.open()
        try:
            assert await session.to_client(b"a") == _channel_data(0x4000, b"a")
            clock.advance(301)
            server.run_timers()
            before = counters.dropped
            peer.sendto(b"no permission", session.relayed)
            await wait_for(lambda: counters.dropped == before + 1)
            assert _nothing_waiting(session.probe.sock)
            assert await session.to_peer(b"still bound") == b"still bound"
            host = session.peer_addr[0]
            assert (await asyncio.to_thread(session.probe.create_permission, host)).cls == Class.SUCCESS  # type: ignore[union-attr]
            assert await session.to_client(b"b") == _channel_data(0x4000, b"b")
            clock.advance(300)
            server.run_timers()
            before = counters.dropped
            session.probe.sock.sendto(_channel_data(0x4000, b"unbound"), session.probe.server)
            await wait_for(lambda: counters.dropped == before + 1)
            assert _nothing_waiting(peer)
        finally:
            session.probe.close()


async def test_full_native_tables_leave_the_rest_to_python(
    servers: list[TurnServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With room for the allocation but not its channel, C relays nothing and Python all of it."""
    need_native(True)
    monkeypatch.setattr(server_module, "NativePath", partial(native_module.NativePath, max_entries=2))
    server = await _server()
    servers.append(server)
    with _udp() as peer:
        session = _Session(server, peer)
        await session.open()
        try:
            assert await session.to_peer(b"up") == b"up"
            assert await session.to_client(b"down") == _channel_data(0x4000, b"down")
        finally:
            session.probe.close()
    assert server.relay_counters(session.key) == (0, 0, 0, 0, 0)
    assert (server.stats.packets_to_peer, server.stats.packets_to_client) == (1, 1)


async def test_switches_turn_the_native_path_off(
    servers: list[TurnServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    off = await _server(native=False)
    servers.append(off)
    assert not off.native
    monkeypatch.setenv("TELEX_TURN_NATIVE", "0")
    env_off = await _server()
    servers.append(env_off)
    assert not env_off.native


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


async def test_stop_joins_the_relay_thread() -> None:
    need_native(True)
    before = _threads()
    server = await _server()
    assert server.native
    assert _threads() == before + 1
    await server.stop()
    assert _threads() == before
    await server.stop()  # twice is fine


# ---------------------------------------------------------------- random datagrams


class _Background:
    """A TurnServer on its own event loop in a thread, for a synchronous hypothesis test."""

    def __init__(self, native: bool) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        # The real clock: the bandwidth bucket of the Python path refills with it.
        self.server: TurnServer = self.run(_server(SystemClock(), native=native))

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def close(self) -> None:
        self.run(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module", params=PATHS)
def fuzz_target(request: pytest.FixtureRequest) -> Iterator[tuple[_Background, Probe, socket.socket, Any]]:
    need_native(request.param)
    background = _Background(request.param)
    server = background.server
    peer = _udp(0.5)
    probe = Probe(("127.0.0.1", server.udp_port), *credentials())
    allocated = probe.allocate()
    assert allocated is not None and allocated.cls == Class.SUCCESS
    bound = probe.channel_bind(0x4000, *peer.getsockname())
    assert bound is not None and bound.cls == Class.SUCCESS
    key = ("udp", probe.sock.getsockname()[:2], ("127.0.0.1", server.udp_port))
    relayed = server.relay_address(key)
    yield background, probe, peer, relayed
    probe.close()
    peer.close()
    background.close()


_payloads = st.one_of(
    st.binary(max_size=200),
    # ChannelData-looking: a channel number (bound, unbound or out of range), any length field.
    st.builds(
        lambda number, length, body: number.to_bytes(2, "big") + length.to_bytes(2, "big") + body,
        st.sampled_from([0x4000, 0x4001, 0x4FFF, 0x7FFF, 0x8000, 0x3FFF]),
        st.integers(0, 0xFFFF),
        st.binary(max_size=300),
    ),
    st.binary(min_size=1400, max_size=9000),
)
_datagrams = st.lists(
    st.tuples(st.sampled_from(["client", "stranger", "peer", "stranger-peer"]), _payloads), max_size=30
)


# No shrinking: a failure prints its example, and the test stays bounded in time.
@settings(
    max_examples=150,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(datagrams=_datagrams)
def test_random_datagrams_never_crash_either_path(
    fuzz_target: tuple[_Background, Probe, socket.socket, Any], datagrams: list[tuple[str, bytes]]
) -> None:
    background, probe, peer, relayed = fuzz_target
    server = background.server
    target = ("127.0.0.1", server.udp_port)
    with _udp() as stranger:
        for source, data in datagrams:
            if source == "client":
                probe.sock.sendto(data, target)
            elif source == "stranger":
                stranger.sendto(data, target)
            elif source == "peer":
                peer.sendto(data, relayed)
            else:
                stranger.sendto(data, relayed)
    # Both directions still work afterwards: a canary each way (resent: the junk may have spent
    # the allocation's bandwidth budget for a moment, and UDP may drop).
    canary = os.urandom(8)
    _expect(peer, relayed, canary, probe.sock, _channel_data(0x4000, canary))
    _expect(probe.sock, target, _channel_data(0x4000, canary), peer, canary)
    assert server.stats.internal_errors == 0


def _expect(sender: socket.socket, to: Any, data: bytes, receiver: socket.socket, wanted: bytes) -> None:
    receiver.settimeout(0.1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        sender.sendto(data, to)
        try:
            while receiver.recv(65535) != wanted:
                pass
            return
        except TimeoutError:
            continue
    raise AssertionError("canary not relayed")
