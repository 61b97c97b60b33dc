"""Fixtures for the TURN tests: a live TurnServer on 127.0.0.1, binaries, an echo peer."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from telex.core.clock import SystemClock
from telex.turn.credentials import make_credentials
from telex.turn.native import native_available
from telex.turn.server import TurnServer
from telex.turn.settings import TurnSettings

SECRET = b"live-test-secret"
IN_CI = bool(os.environ.get("CI"))


def need_binary(name: str) -> str:
    """The binary's path; skip without it, except in CI where it must be installed."""
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is required in CI (scripts/apt-packages.txt installs it)")
        pytest.skip(f"{name} not installed")
    return path


# Tests that run on both data paths: the native (C) one and the pure-Python fallback.
NATIVE_OR_NOT = [pytest.param(True, id="native"), pytest.param(False, id="python")]


def need_native(native: bool) -> None:
    """Skip a native-path case without the built extension, except in CI where it must be built."""
    if native and not native_available():
        if IN_CI:
            pytest.fail("the native TURN path must be built in CI (pip install -e . builds it)")
        pytest.skip("telex.turn._native not built")


def free_port_range(size: int) -> tuple[int, int]:
    """A random block of ports for relay sockets; collisions with other tests just mean the
    server tries the next port in its range."""
    start = 20000 + (os.getpid() * 97 + int(time.time() * 1000)) % 20000
    start -= start % 2
    return start, start + size - 1


def credentials(user: str = "alice", ttl: int = 240) -> tuple[str, str]:
    return make_credentials(SECRET, user, int(time.time()) + ttl)


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


StartServer = Callable[..., "asyncio.Future[TurnServer]"]


@pytest.fixture
async def start_server() -> AsyncIterator[Callable[..., object]]:
    servers: list[TurnServer] = []

    async def start(host: str = "127.0.0.1", **overrides: object) -> TurnServer:
        low, high = free_port_range(200)
        values: dict[str, object] = {"port": 0, "min_port": low, "max_port": high, **overrides}
        server = TurnServer(TurnSettings(**values), [SECRET], SystemClock(), host)  # type: ignore[arg-type]
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


class EchoPeer(asyncio.DatagramProtocol):
    """A UDP peer that echoes every datagram and records what it saw."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, tuple[str, int]]] = []
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The stdlib's datagram transport does not subclass asyncio.DatagramTransport.
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.append((data, addr))
        assert self.transport is not None
        self.transport.sendto(data, addr)


@pytest.fixture
async def echo_peer() -> AsyncIterator[tuple[EchoPeer, tuple[str, int]]]:
    loop = asyncio.get_running_loop()
    transport, peer = await loop.create_datagram_endpoint(EchoPeer, local_addr=("127.0.0.1", 0))
    yield peer, transport.get_extra_info("sockname")[:2]
    transport.close()


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``predicate`` until true; fail after ``timeout`` seconds (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
