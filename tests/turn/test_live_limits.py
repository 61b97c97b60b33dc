"""Limits over real sockets: amplification and error rate limiting (G7, T-18/T-19), relay port
exhaustion and recovery (G8, T-10), and the server on uvloop."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from typing import Any

import pytest

from telex.turn.stun import Attr, Class, Method, encode_message, parse_message
from tests.turn.conftest import credentials, wait_for
from tests.turn.probe import Probe, code


def _burst(port: int, requests: list[bytes], listen: float = 0.3) -> list[bytes]:
    """Send every request from one socket, then collect replies until ``listen`` s of silence."""
    replies = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        s.bind(("127.0.0.1", 0))
        for data in requests:
            s.sendto(data, ("127.0.0.1", port))
        s.settimeout(listen)
        try:
            while True:
                replies.append(s.recvfrom(4096)[0])
        except TimeoutError:
            pass
    return replies


async def test_g7_amplification_and_error_rate_limit(start_server: Any) -> None:
    server = await start_server(error_rate_per_source=100.0, binding_rate_per_source=200.0)
    binding = [encode_message(Method.BINDING, Class.REQUEST, os.urandom(12), []) for _ in range(1000)]
    start = time.monotonic()
    replies = await asyncio.to_thread(_burst, server.udp_port, binding)
    elapsed = time.monotonic() - start
    # Binding answers anyone, so it is rate limited per source too (item 10 of the hardening
    # report: it was not): a burst of 200, then 200 a second.
    assert 200 <= len(replies) <= 200 + 200 * elapsed + 1
    assert max(len(r) for r in replies) <= 1.6 * len(binding[0])
    assert all(Attr.SOFTWARE not in parse_message(r).attributes for r in replies)

    # The smallest unauthenticated Allocate (REQUESTED-TRANSPORT only, 28 bytes) gets a 401 of
    # at most twice its size (56 bytes with a 12-character nonce; it was 60, 2.14x).
    transport = (Attr.REQUESTED_TRANSPORT, bytes([17, 0, 0, 0]))
    allocate = [
        encode_message(Method.ALLOCATE, Class.REQUEST, os.urandom(12), [transport]) for _ in range(1000)
    ]
    assert len(allocate[0]) == 28
    start = time.monotonic()
    replies = await asyncio.to_thread(_burst, server.udp_port, allocate)
    elapsed = time.monotonic() - start
    assert all(code(parse_message(r)) == 401 for r in replies)
    assert max(len(r) for r in replies) <= 2.0 * len(allocate[0])
    assert 100 <= len(replies) <= 100 + 100 * elapsed + 1
    # A legitimate client from the same source IP gets through: the bucket refilled while the
    # burst's replies were being collected.
    probe = Probe(("127.0.0.1", server.udp_port), *credentials("legit"))
    try:
        reply = await asyncio.to_thread(probe.allocate)
        assert reply is not None
        assert reply.cls == Class.SUCCESS
    finally:
        probe.close()


async def test_g8_ports_exhausted_then_returned(start_server: Any) -> None:
    from tests.turn.conftest import free_port_range

    low, _ = free_port_range(4)
    server = await start_server(min_port=low, max_port=low + 3, user_quota=2)
    probes = [Probe(("127.0.0.1", server.udp_port), *credentials(f"user{i // 2}")) for i in range(6)]
    try:
        codes = [code(r) if r else -1 for r in [await asyncio.to_thread(p.allocate) for p in probes[:5]]]
        # Two users x quota 2 fill the 4 ports; the third user's first allocation finds none.
        assert codes == [None, None, None, None, 508]
        # A user already holding two allocations gets the quota error, whatever the ports.
        assert code(await asyncio.to_thread(probes[1].refresh, 600)) is None
        extra = Probe(("127.0.0.1", server.udp_port), *credentials("user0"))
        probes.append(extra)
        assert code(await asyncio.to_thread(extra.allocate)) == 486  # type: ignore[arg-type]
        released = await asyncio.to_thread(probes[0].refresh, 0)
        assert released is not None
        assert released.cls == Class.SUCCESS
        reply = await asyncio.to_thread(probes[4].allocate)
        assert reply is not None
        assert reply.cls == Class.SUCCESS
    finally:
        for p in probes:
            p.close()
    assert len(server.core.allocations) == 4


def test_server_runs_on_uvloop() -> None:
    uvloop = pytest.importorskip("uvloop")
    from aioice import turn

    from telex.core.clock import SystemClock
    from telex.turn.server import TurnServer
    from telex.turn.settings import TurnSettings
    from tests.turn.conftest import SECRET, EchoPeer, free_port_range

    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert "uvloop" in type(loop).__module__
        low, high = free_port_range(50)
        server = TurnServer(
            TurnSettings(port=0, allow_loopback_peers=True, min_port=low, max_port=high),
            [SECRET],
            SystemClock(),
        )
        await server.start()
        peer_transport, _ = await loop.create_datagram_endpoint(EchoPeer, local_addr=("127.0.0.1", 0))
        queue: asyncio.Queue[bytes] = asyncio.Queue()

        class Sink(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: Any) -> None:
                queue.put_nowait(data)

        try:
            for transport, port in (("udp", server.udp_port), ("tcp", server.tcp_port)):
                endpoint, _ = await turn.create_turn_endpoint(
                    Sink, server_addr=("127.0.0.1", port), username=credentials()[0],
                    password=credentials()[1], transport=transport,
                )  # fmt: skip
                for i in range(10):
                    endpoint.sendto(b"uv %d" % i, peer_transport.get_extra_info("sockname"))
                    assert await asyncio.wait_for(queue.get(), 5) == b"uv %d" % i
                endpoint.close()
            await wait_for(lambda: not server.core.allocations)
        finally:
            peer_transport.close()
            await server.stop()

    uvloop.run(main())
