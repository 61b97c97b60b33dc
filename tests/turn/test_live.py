"""A live TurnServer on loopback: aioice interop over UDP and TCP, a few negative cases over real
sockets, the bandwidth cap, robustness against garbage, metrics, relay configuration, CLI."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from aioice import turn
from aioice.stun import TransactionFailed

from telex.core.errors import TelexError
from telex.turn.relayconfig import issue_relay_configuration
from telex.turn.settings import TurnSettings
from telex.turn.stun import Attr, Class, Method, decode_xor_address, encode_message
from tests.turn.conftest import (
    NATIVE_OR_NOT,
    SECRET,
    EchoPeer,
    credentials,
    has_ipv6_loopback,
    need_native,
    wait_for,
)
from tests.turn.probe import Probe, code


class Sink(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, Any]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.queue.put_nowait((data, addr))


async def _relay_round_trips(
    server_addr: tuple[str, int], transport: str, peer: tuple[str, int], n: int = 20, relay_host: str = ""
) -> None:
    username, password = credentials()
    endpoint, sink = await turn.create_turn_endpoint(
        Sink, server_addr=server_addr, username=username, password=password, transport=transport
    )
    try:
        relayed = endpoint.get_extra_info("sockname")
        assert relayed[0] == (relay_host or server_addr[0])
        for i in range(n):
            endpoint.sendto(b"ping %d" % i, peer)
            data, addr = await asyncio.wait_for(sink.queue.get(), 5)
            assert data == b"ping %d" % i
            assert tuple(addr[:2]) == peer
    finally:
        endpoint.close()


@pytest.mark.parametrize(
    ("transport", "native"),
    [("udp", True), ("udp", False), ("tcp", True)],
    ids=["udp-native", "udp-python", "tcp"],
)
async def test_aioice_allocates_and_relays_both_ways(
    start_server: Any, echo_peer: tuple[EchoPeer, tuple[str, int]], transport: str, native: bool
) -> None:
    need_native(native)
    server = await start_server(allow_loopback_peers=True, native=native)
    assert server.native is native
    peer, peer_addr = echo_peer
    port = server.udp_port if transport == "udp" else server.tcp_port
    await _relay_round_trips(("127.0.0.1", port), transport, peer_addr)
    # The peer saw the relayed address as the source, never the client's own address.
    assert {addr[1] for _, addr in peer.received} <= set(
        range(server.settings.min_port, server.settings.max_port + 1)
    )
    await wait_for(lambda: not server.core.allocations)  # aioice sends Refresh 0 on close


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no ::1")
async def test_ipv6_transport_and_ipv6_allocations(
    start_server: Any, echo_peer: tuple[EchoPeer, tuple[str, int]]
) -> None:
    server = await start_server(
        "::1", allow_loopback_peers=True, relay_address="127.0.0.1", relay_address_v6="::1"
    )
    # aioice over IPv6 asks for the default (IPv4) relayed address (RFC 8656 §7.2).
    await _relay_round_trips(("::1", server.udp_port), "udp", echo_peer[1], n=5, relay_host="127.0.0.1")
    probe = Probe(("::1", server.udp_port), *credentials())
    try:
        reply = await asyncio.to_thread(probe.allocate, ipv6=True)
        assert reply is not None
        assert reply.cls == Class.SUCCESS
        relayed = decode_xor_address(reply.get(Attr.XOR_RELAYED_ADDRESS), reply.transaction_id)
        assert relayed is not None
        assert str(relayed[0]) == "::1"
        assert code(await asyncio.to_thread(probe.create_permission, "127.0.0.1")) == 443  # type: ignore[arg-type]
        assert code(await asyncio.to_thread(probe.create_permission, "::ffff:127.0.0.1")) == 403  # type: ignore[arg-type]
        assert (await asyncio.to_thread(probe.create_permission, "::1")).cls == Class.SUCCESS  # type: ignore[union-attr]
    finally:
        probe.close()


async def test_ipv6_allocation_refused_with_440_without_an_ipv6_relay(start_server: Any) -> None:
    server = await start_server()
    probe = Probe(("127.0.0.1", server.udp_port), *credentials())
    try:
        assert code(await asyncio.to_thread(probe.allocate, ipv6=True)) == 440  # type: ignore[arg-type]
    finally:
        probe.close()


async def test_external_address_is_advertised_in_xor_relayed_address(start_server: Any) -> None:
    server = await start_server(external_address="203.0.113.9")
    probe = Probe(("127.0.0.1", server.udp_port), *credentials())
    try:
        reply = await asyncio.to_thread(probe.allocate)
        assert reply is not None
        relayed = decode_xor_address(reply.get(Attr.XOR_RELAYED_ADDRESS), reply.transaction_id)
        assert relayed is not None
        assert str(relayed[0]) == "203.0.113.9"
        (alloc,) = server.core.allocations.values()
        # Bound locally, advertised outside.
        assert server.relay_address(alloc.key) == ("127.0.0.1", relayed[1])
    finally:
        probe.close()


async def test_closing_the_tcp_connection_deletes_the_allocation(start_server: Any) -> None:
    server = await start_server()
    username, password = credentials()
    endpoint, _ = await turn.create_turn_endpoint(
        Sink,
        server_addr=("127.0.0.1", server.tcp_port),
        username=username,
        password=password,
        transport="tcp",
    )
    assert len(server.core.allocations) == 1
    endpoint.close()
    await wait_for(lambda: not server.core.allocations)


async def test_idle_tcp_connections_without_allocation_are_closed(start_server: Any) -> None:
    server = await start_server(tcp_idle_timeout=0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.tcp_port)
    try:
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the server
    finally:
        writer.close()
    assert not server._tcp_connections


async def test_wrong_secret_is_refused_over_udp(start_server: Any) -> None:
    server = await start_server()
    from telex.turn.credentials import make_credentials

    username, password = make_credentials(b"wrong", "alice", int(time.time()) + 600)
    with pytest.raises(TransactionFailed) as info:
        await turn.create_turn_endpoint(
            Sink, server_addr=("127.0.0.1", server.udp_port), username=username, password=password
        )
    assert info.value.response.error_code == 401
    assert not server.core.allocations


async def test_forbidden_peers_and_state_errors_over_real_udp(start_server: Any) -> None:
    server = await start_server()  # production defaults: no loopback peers
    probe = Probe(("127.0.0.1", server.udp_port), *credentials())
    try:
        assert (await asyncio.to_thread(probe.allocate)).cls == Class.SUCCESS  # type: ignore[union-attr]
        for peer in ("127.0.0.1", "10.0.0.1", "169.254.169.254", "0.0.0.0", "224.0.0.1"):
            reply = await asyncio.to_thread(probe.create_permission, peer)
            assert reply is not None
            assert code(reply) == 403
            reply = await asyncio.to_thread(probe.channel_bind, 0x4000, peer, 80)
            assert reply is not None
            assert code(reply) == 403
        assert code(await asyncio.to_thread(probe.create_permission, "::1")) == 443  # type: ignore[arg-type]
        assert code(await asyncio.to_thread(probe.allocate)) == 437  # type: ignore[arg-type]
        assert (await asyncio.to_thread(probe.create_permission, "8.8.8.8")).cls == Class.SUCCESS  # type: ignore[union-attr]
    finally:
        probe.close()


@pytest.mark.parametrize("native", NATIVE_OR_NOT)
async def test_garbage_never_stops_the_server(start_server: Any, native: bool) -> None:
    need_native(native)
    server = await start_server(native=native)
    target = ("127.0.0.1", server.udp_port)
    rng = __import__("random").Random(7)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        for round_ in range(5):
            for _ in range(1000):
                kind = rng.randrange(3)
                if kind == 0:
                    data = rng.randbytes(rng.randrange(0, 100))
                elif kind == 1:  # a STUN header with a random body
                    body = rng.randbytes(4 * rng.randrange(0, 20))
                    data = (
                        bytes([0, 1])
                        + len(body).to_bytes(2, "big")
                        + b"\x21\x12\xa4\x42"
                        + os.urandom(12)
                        + body
                    )
                else:  # ChannelData from a client without an allocation
                    data = b"\x40\x00\x00\x04abcd"
                s.sendto(data, target)
            canary = encode_message(Method.BINDING, Class.REQUEST, os.urandom(12), [])
            s.sendto(canary, target)
            while True:  # skip stray error responses to earlier garbage
                reply, _ = await asyncio.to_thread(s.recvfrom, 2048)
                if reply[8:20] == canary[8:20]:
                    break
            assert round_ >= 0
    assert server.stats.internal_errors == 0


@pytest.mark.parametrize("native", NATIVE_OR_NOT)
async def test_t20_bandwidth_cap_over_udp(start_server: Any, native: bool) -> None:
    need_native(native)
    cap = 200_000
    server = await start_server(allow_loopback_peers=True, max_bytes_per_second=cap, native=native)
    loop = asyncio.get_running_loop()
    username, password = credentials()
    received = 0

    class Counter(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: Any) -> None:
            nonlocal received
            received += len(data)

    endpoint, _ = await turn.create_turn_endpoint(
        Counter, server_addr=("127.0.0.1", server.udp_port), username=username, password=password
    )
    sender, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    try:
        relayed = endpoint.get_extra_info("sockname")
        endpoint.sendto(b"open", sender.get_extra_info("sockname"))  # binds a channel + permission
        await wait_for(lambda: bool(next(iter(server.core.allocations.values())).channels))
        payload = bytes(1000)
        start = time.monotonic()
        while time.monotonic() - start < 2.0:
            for _ in range(50):
                sender.sendto(payload, relayed)
            await asyncio.sleep(0.005)  # pacing, so the loopback socket buffers do not overflow
        # Datagrams still in flight are not counted, which only makes the bound stricter.
        elapsed = time.monotonic() - start
    finally:
        endpoint.close()
        sender.close()
    assert received > cap  # it did relay
    assert received <= cap * elapsed * 1.1


async def test_two_servers_in_one_process_export_metrics(start_server: Any) -> None:
    a = await start_server()
    b = await start_server()
    probe = Probe(("127.0.0.1", a.udp_port), *credentials())
    try:
        await asyncio.to_thread(probe.allocate)
    finally:
        probe.close()
    values = {s.name: s.value for m in a.registry.collect() for s in m.samples if not s.labels}
    assert values["telex_turn_allocations"] == 1
    errors = {
        s.labels["code"]: s.value for m in a.registry.collect() for s in m.samples if "code" in s.labels
    }
    assert errors == {"401": 1}
    assert {s.name: s.value for m in b.registry.collect() for s in m.samples if not s.labels}[
        "telex_turn_allocations"
    ] == 0


async def test_relay_configuration_credentials_work_on_the_live_server(
    start_server: Any, echo_peer: tuple[EchoPeer, tuple[str, int]]
) -> None:
    server = await start_server(allow_loopback_peers=True)
    config = issue_relay_configuration(
        server.settings, SECRET, "8:acs:abc_123", 3600, time.time(), "127.0.0.1"
    )
    (entry,) = config["iceServers"]
    port = server.settings.port
    assert entry["urls"] == [
        f"stun:127.0.0.1:{port}",
        f"turn:127.0.0.1:{port}?transport=udp",
        f"turn:127.0.0.1:{port}?transport=tcp",
    ]
    endpoint, sink = await turn.create_turn_endpoint(
        Sink,
        server_addr=("127.0.0.1", server.udp_port),
        username=entry["username"],
        password=entry["credential"],
    )
    try:
        endpoint.sendto(b"hi", echo_peer[1])
        assert (await asyncio.wait_for(sink.queue.get(), 5))[0] == b"hi"
    finally:
        endpoint.close()


def test_relay_configuration_shape_and_validation() -> None:
    settings = TurnSettings(
        external_urls=("turn:relay2.example.com:3478?transport=udp",), tcp=False, max_credential_ttl=172800
    )
    config = issue_relay_configuration(settings, b"s", "user1", 172800, 1_700_000_000.5, "::1")
    assert config["expiresOn"] == "2023-11-16T22:13:20Z"
    # By default a credential lives 300 s, whatever the ttl asked for.
    short = issue_relay_configuration(TurnSettings(), b"s", "user1", 172800, 1_700_000_000.5, "::1")
    assert short["expiresOn"] == "2023-11-14T22:18:20Z"
    own, external = config["iceServers"]
    assert own["urls"] == ["stun:[::1]:3478", "turn:[::1]:3478?transport=udp"]
    assert own["routeType"] == "any"
    assert own["username"] == "1700172800:user1"
    assert external["urls"] == ["turn:relay2.example.com:3478?transport=udp"]
    assert external["credential"] == own["credential"]
    for bad in (-1, 172801, True, 1.5):
        with pytest.raises(TelexError) as info:
            issue_relay_configuration(settings, b"s", "user1", bad, 0, "h")  # type: ignore[arg-type]
        assert info.value.code.wire == "ValidationFailed"
    with pytest.raises(TelexError):
        issue_relay_configuration(settings, b"s", "", 60, 0, "h")


def test_settings_defaults_are_safe() -> None:
    settings = TurnSettings()
    assert settings.allow_loopback_peers is False
    assert settings.min_port >= 1024
    assert settings.max_bytes_per_second > 0
    assert settings.user_quota < settings.total_quota
    from pydantic import ValidationError

    for bad in ({"min_port": 80}, {"min_port": 5000, "max_port": 4000}, {"unknown": 1}):
        with pytest.raises(ValidationError):
            TurnSettings(**bad)  # type: ignore[arg-type]


async def test_standalone_cli_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET.decode() + "\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "telex.turn.cli", "turn", "--port", "0", "--secret-file", str(secret_file),
        stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert line.startswith("telex turn: listening udp 127.0.0.1:")
        port = int(line.split()[4].rsplit(":", 1)[1])
        probe = Probe(("127.0.0.1", port), *credentials())
        try:
            reply = await asyncio.to_thread(probe.allocate)
            assert reply is not None
            assert reply.cls == Class.SUCCESS
        finally:
            probe.close()
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_coturn_config_command_refuses_without_secret(capsys: pytest.CaptureFixture[str]) -> None:
    from telex.turn.cli import main

    assert main(["turn", "coturn-config"]) == 2
    assert "no secret" in capsys.readouterr().err


def test_wildcard_listen_needs_a_concrete_relayed_address() -> None:
    from telex.core.clock import SystemClock
    from telex.turn.server import TurnServer

    with pytest.raises(ValueError, match="wildcard"):
        TurnServer(TurnSettings(), [SECRET], SystemClock(), "0.0.0.0")
    TurnServer(TurnSettings(external_address="203.0.113.7"), [SECRET], SystemClock(), "0.0.0.0")
