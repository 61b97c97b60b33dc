"""Interop with Debian's coturn, both ways.

* coturn's own clients against Telex: ``turnutils_stunclient`` and ``turnutils_uclient -W``
  (TURN REST credentials), relaying to ``turnutils_peer``.
* coturn as a relay next to Telex: started with the config ``telex turn coturn-config``
  generates, it accepts Telex-issued credentials (aioice allocates and relays through it) and
  refuses forbidden peers. The production config denies 127.0.0.1 like every other private
  class; only the relay test adds ``--test-allow-loopback`` (``allow-loopback-peers`` plus
  ``allowed-peer-ip=127.0.0.1``), because its echo peer can only live on loopback here.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aioice import turn

from telex.turn.coturn import coturn_config
from telex.turn.relayconfig import issue_relay_configuration
from telex.turn.settings import TurnSettings
from telex.turn.stun import Class, Method
from tests.support.procs import free_udp_tcp_port
from tests.turn.conftest import SECRET, EchoPeer, credentials, free_port_range, has_ipv6_loopback, need_binary
from tests.turn.probe import Probe, code


def _wait_for_stun(port: int, timeout: float = 15.0) -> None:
    probe = Probe(("127.0.0.1", port), "x", "y", timeout=0.2)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if probe.request(Method.BINDING, [], auth=False) is not None:
                return
        raise AssertionError(f"nothing answers STUN on {port}")
    finally:
        probe.close()


async def _run(cmd: list[str], timeout: float) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        out, _ = await proc.communicate()
        raise AssertionError(f"{cmd[0]} timed out: {out.decode(errors='replace')[-2000:]}") from None
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")


async def test_turnutils_stunclient_against_telex(start_server: Any) -> None:
    binary = need_binary("turnutils_stunclient")
    server = await start_server()
    rc, out = await _run([binary, "-p", str(server.udp_port), "127.0.0.1"], 20)
    assert rc == 0, out
    assert "UDP reflexive addr: 127.0.0.1:" in out


@pytest.fixture
async def turnutils_peer() -> AsyncIterator[int]:
    binary = need_binary("turnutils_peer")
    port = free_udp_tcp_port()
    proc = subprocess.Popen(
        [binary, "-L", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(5)


@pytest.mark.parametrize("mode", ["send-indications", "channels"])
async def test_turnutils_uclient_rest_auth_against_telex(
    start_server: Any, turnutils_peer: int, mode: str
) -> None:
    binary = need_binary("turnutils_uclient")
    # uclient 4.6 picks channel numbers from RFC 5766's 0x4000-0x7FFF; -c: no RTCP allocation
    # (it would ask for an EVEN-PORT reservation, which Telex refuses with 400).
    # uclient makes its own REST credentials, valid for days: far above the 300 s default.
    server = await start_server(
        allow_loopback_peers=True, rfc5766_channels=(mode == "channels"), max_credential_ttl=604800
    )
    cmd = [binary, "-W", SECRET.decode(), "-u", "uclient", "-e", "127.0.0.1", "-r", str(turnutils_peer)]
    cmd += ["-m", "4", "-n", "50", "-l", "120", "-c", "-p", str(server.udp_port)]
    if mode == "send-indications":
        cmd.append("-s")
    rc, out = await _run([*cmd, "127.0.0.1"], 60)
    assert rc == 0, out
    assert "tot_send_msgs=200, tot_recv_msgs=200" in out, out[-2000:]
    assert "Total lost packets 0" in out
    assert server.stats.packets_to_peer >= 200


@pytest.fixture
async def coturn(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    binary = need_binary("turnserver")
    procs: list[subprocess.Popen[bytes]] = []

    async def start(*, test_allow_loopback: bool) -> int:
        port = free_udp_tcp_port()
        low, high = free_port_range(100)
        settings = TurnSettings(port=port, min_port=low, max_port=high)
        conf = tmp_path / f"turnserver-{port}.conf"
        conf.write_text(
            coturn_config(
                settings,
                [SECRET.decode()],
                listening_ips=["127.0.0.1"],
                relay_ips=["127.0.0.1", "::1"] if has_ipv6_loopback() else ["127.0.0.1"],
                test_allow_loopback=test_allow_loopback,
            )
        )
        proc = subprocess.Popen(
            [
                binary, "-c", str(conf), "--pidfile", str(tmp_path / f"{port}.pid"),
                "--userdb", str(tmp_path / f"{port}.db"), "--log-file", str(tmp_path / f"{port}.log"),
                "--simple-log", "--no-stdout-log",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        procs.append(proc)
        await asyncio.to_thread(_wait_for_stun, port)
        return port

    yield start
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_coturn_accepts_telex_credentials_and_relays(coturn: Any) -> None:
    port = await coturn(test_allow_loopback=True)
    settings = TurnSettings(enabled=False, external_urls=(f"turn:127.0.0.1:{port}?transport=udp",))
    config = issue_relay_configuration(settings, SECRET, "8:acs:res_user", 600, time.time(), "unused")
    (entry,) = config["iceServers"]
    assert entry["urls"] == [f"turn:127.0.0.1:{port}?transport=udp"]
    loop = asyncio.get_running_loop()
    peer_transport, peer = await loop.create_datagram_endpoint(EchoPeer, local_addr=("127.0.0.1", 0))
    queue: asyncio.Queue[bytes] = asyncio.Queue()

    class Sink(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: Any) -> None:
            queue.put_nowait(data)

    for transport in ("udp", "tcp"):
        endpoint, _ = await turn.create_turn_endpoint(
            Sink,
            server_addr=("127.0.0.1", port),
            username=entry["username"],
            password=entry["credential"],
            transport=transport,
        )
        try:
            for i in range(5):
                endpoint.sendto(b"via coturn %d" % i, peer_transport.get_extra_info("sockname"))
                assert await asyncio.wait_for(queue.get(), 5) == b"via coturn %d" % i
        finally:
            endpoint.close()
    peer_transport.close()
    assert len(peer.received) == 10


async def test_coturn_refuses_expired_telex_credentials(coturn: Any) -> None:
    port = await coturn(test_allow_loopback=False)
    from telex.turn.credentials import make_credentials

    probe = Probe(("127.0.0.1", port), *make_credentials(SECRET, "alice", int(time.time()) - 10))
    try:
        reply = await asyncio.to_thread(probe.allocate)
        assert reply is not None
        assert code(reply) == 401
    finally:
        probe.close()


FORBIDDEN_FOR_COTURN = [
    "127.0.0.1", "0.0.0.0", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
    "224.0.0.1", "255.255.255.255", "198.18.0.1", "192.0.0.9",
]  # fmt: skip
FORBIDDEN_ENCODINGS_FOR_COTURN = [
    "::1", "::", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1", "64:ff9b::7f00:1",
    "64:ff9b:1::7f00:1", "2002:7f00:1::", "2001::1", "::ffff:0:7f00:1", "fd00:ec2::254", "fe80::1",
    "ff02::1", "100::1", "2001:db8::1",
]  # fmt: skip


async def test_hardened_coturn_refuses_forbidden_peers(coturn: Any) -> None:
    port = await coturn(test_allow_loopback=False)
    cases = [(False, FORBIDDEN_FOR_COTURN, "8.8.8.8")]
    if has_ipv6_loopback():
        cases.append((True, FORBIDDEN_ENCODINGS_FOR_COTURN, "2001:4860:4860::8888"))
    for ipv6, forbidden, control in cases:
        probe = Probe(("127.0.0.1", port), *credentials())
        try:
            reply = await asyncio.to_thread(probe.allocate, ipv6=ipv6)
            assert reply is not None
            assert reply.cls == Class.SUCCESS, code(reply)
            verdicts = {}
            for peer in forbidden:
                reply = await asyncio.to_thread(probe.create_permission, peer)
                assert reply is not None
                verdicts[peer] = code(reply)
            assert set(verdicts.values()) == {403}, verdicts
            reply = await asyncio.to_thread(probe.create_permission, control)
            assert reply is not None
            assert reply.cls == Class.SUCCESS  # a permission only: nothing is sent to it
        finally:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(probe.refresh, 0)
            probe.close()
