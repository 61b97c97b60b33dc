"""The HTTP listeners' limits (web/protocol.py), against ``telex serve`` on the pinned uvicorn.

Each attack comes from its own loopback address (127.0.0.0/8 is all loopback), so the per-address
cap of one never touches another, and the probe from 127.0.0.1 stands for everyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.live import LiveServer

LIMITS = {
    "TELEX_HTTP__HEADER_TIMEOUT_SECONDS": "1",
    "TELEX_HTTP__BODY_TIMEOUT_SECONDS": "1",
    "TELEX_HTTP__MAX_CONNECTIONS_PER_IP": "50",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(tmp_path_factory.mktemp("limits") / "data", env=LIMITS) as live:
        yield live


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def connect(server: LiveServer, source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", server.port, local_addr=(source, 0))


async def closed_by_server(reader: asyncio.StreamReader, within: float) -> bytes:
    """Everything the server sent until it closed the connection (fails if it did not in time)."""
    async with asyncio.timeout(within):
        data = b""
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(65536):
                data += chunk
        return data


async def healthz(server: LiveServer) -> int:
    async with httpx.AsyncClient(timeout=5) as http:
        return (await http.get(f"{server.http_url}/healthz")).status_code


async def test_header_flood_is_cut_off_and_memory_stays_flat(server: LiveServer) -> None:
    """Item 5: 8 connections streaming headers without end. Each is cut off after at most the
    head limit (32 KiB) plus a read and a lingering close, and the server's memory barely moves
    (it grew by 496 MiB for 8 x 64 MiB before, and kept 416 MiB)."""
    assert server.proc is not None
    before = rss_mib(server.proc.pid)
    chunk = b"a" * 65536  # one header value that never ends

    async def flood(i: int) -> int:
        _, writer = await connect(server, f"127.0.0.{10 + i}")
        sent = 0
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Flood: ")
        with contextlib.suppress(ConnectionError):
            while sent < 64 << 20:  # 64 MiB each unless the server stops it first
                writer.write(chunk)
                await writer.drain()
                sent += len(chunk)
        writer.close()
        return sent

    sent = await asyncio.wait_for(asyncio.gather(*(flood(i) for i in range(8))), 30)
    assert max(sent) < 16 << 20  # cut off long before the end (kernel buffers hold a few MiB)
    assert rss_mib(server.proc.pid) - before < 24
    assert await healthz(server) == 200


async def test_oversized_head_gets_431(server: LiveServer) -> None:
    reader, writer = await connect(server, "127.0.0.19")
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"b" * 40_000 + b"\r\n\r\n")
    assert (await closed_by_server(reader, 5)).startswith(b"HTTP/1.1 431 ")
    writer.close()


async def test_request_line_and_header_count_limits(server: LiveServer) -> None:
    reader, writer = await connect(server, "127.0.0.20")
    writer.write(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await closed_by_server(reader, 5)).startswith(b"HTTP/1.1 414 ")
    writer.close()
    reader, writer = await connect(server, "127.0.0.20")
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(101)))
    assert (await closed_by_server(reader, 5)).startswith(b"HTTP/1.1 431 ")
    writer.close()
    # Right at the limits is fine.
    headers = {f"x-{i}": "1" for i in range(90)}
    async with httpx.AsyncClient(timeout=5) as http:
        assert (await http.get(f"{server.http_url}/healthz", headers=headers)).status_code == 200


async def test_slowloris_connections_are_closed(server: LiveServer) -> None:
    """Item 6: connections that never finish their head (or never start one, or never finish a
    body) are closed after the timeout (1 s here), while the server keeps answering others. Before,
    none was ever closed."""
    conns = []
    for _ in range(40):  # three kinds, from three addresses, under the per-address cap
        reader, writer = await connect(server, "127.0.0.30")
        conns.append((reader, writer))  # silent
        reader, writer = await connect(server, "127.0.0.31")
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        conns.append((reader, writer))  # a head that stops
        reader, writer = await connect(server, "127.0.0.32")
        writer.write(b"POST /identities?api-version=2023-10-01 HTTP/1.1\r\n")
        writer.write(b"Host: x\r\nContent-Type: application/json\r\n")
        writer.write(b"Content-Length: 1000\r\n\r\n{")
        conns.append((reader, writer))  # a body that stops
    started = time.monotonic()
    assert await healthz(server) == 200
    answers = await asyncio.gather(*(closed_by_server(reader, 5) for reader, _ in conns))
    assert time.monotonic() - started < 4
    assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers), {a[:20] for a in answers}
    for _, writer in conns:
        writer.close()


async def test_per_address_cap(server: LiveServer) -> None:
    """Item 6: one address holds at most max_connections_per_ip (50 here); the next gets a 503
    at once, and the others still get through."""
    held = [await connect(server, "127.0.0.40") for _ in range(50)]
    reader, writer = await connect(server, "127.0.0.40")
    refused = await closed_by_server(reader, 5)
    assert refused.startswith(b"HTTP/1.1 503 ") and b"Too many connections from this address" in refused
    writer.close()
    assert await healthz(server) == 200
    for _, w in held:
        w.close()
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(f"{server.admin_url}/metrics")).text
    assert 'telex_http_refused_total{reason="connections_per_ip"}' in text
    assert 'telex_http_refused_total{reason="header_timeout"}' in text
    assert "refused a connection or request from 127.0.0.40: connections_per_ip" in server.stderr_text()


async def test_total_cap_refuses_clearly(tmp_path: Path) -> None:
    env = {"TELEX_HTTP__MAX_CONNECTIONS": "30", "TELEX_HTTP__MAX_CONNECTIONS_PER_IP": "0"}
    with LiveServer(tmp_path / "data", env=env) as live:
        held = [await connect(live, f"127.0.1.{i}") for i in range(30)]
        reader, writer = await connect(live, "127.0.0.1")
        refused = await closed_by_server(reader, 5)
        assert refused.startswith(b"HTTP/1.1 503 ") and b"too many connections" in refused
        assert b"retry-after: 1" in refused
        writer.close()
        for _, w in held:
            w.close()
        await asyncio.sleep(0)
        deadline = time.monotonic() + 5
        while (status := await _healthz_or_503(live)) != 200 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert status == 200  # the places come back as connections close


async def test_a_request_waiting_when_keep_alive_runs_out_is_answered(tmp_path: Path) -> None:
    """The keep-alive timer of a loop that was busy past its deadline must not close a
    connection whose next request has already arrived: that reset the client's request (seen as
    "Connection reset by peer" from the Azure SDK on a reused connection). The server is stopped
    to stand for the busy loop; the request arrives while it is."""
    with LiveServer(tmp_path / "data", env={"TELEX_HTTP__KEEP_ALIVE_TIMEOUT_SECONDS": "1"}) as live:
        assert live.proc is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
        request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        writer.write(request)
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200 ")
        os.kill(live.proc.pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(1.5)  # past the keep-alive deadline
            writer.write(request)
            await writer.drain()
            await asyncio.sleep(0.1)
        finally:
            os.kill(live.proc.pid, signal.SIGCONT)
        async with asyncio.timeout(5):
            data = b""
            with contextlib.suppress(ConnectionError):
                while b"HTTP/1.1 200 " not in data and (chunk := await reader.read(65536)):
                    data += chunk
        assert b"HTTP/1.1 200 " in data
        await closed_by_server(reader, 5)  # and once idle, the connection is still closed
        writer.close()


async def _healthz_or_503(live: LiveServer) -> int:
    try:
        return await healthz(live)
    except httpx.HTTPError:
        return 503


async def test_security_headers_and_no_banner(server: LiveServer) -> None:
    """Item 11: nosniff everywhere, a CSP on HTML, HSTS on HTTPS for a named host, no Server."""
    async with httpx.AsyncClient(timeout=5, verify=ssl.create_default_context(cafile=server.ca)) as http:
        for url in (f"{server.http_url}/healthz", f"{server.http_url}/", f"{server.http_url}/nowhere"):
            r = await http.get(url)
            assert r.headers["x-content-type-options"] == "nosniff", url
            assert "server" not in r.headers, url
            assert "strict-transport-security" not in r.headers  # plain HTTP
        home = await http.get(f"{server.http_url}/")
        assert "default-src 'none'" in home.headers["content-security-policy"]
        r = await http.get(f"{server.https_url}/healthz")
        assert "strict-transport-security" not in r.headers  # an IP literal: browsers ignore it
        r = await http.get(f"{server.https_url}/healthz", headers={"Host": "telex.example"})
        assert r.headers["strict-transport-security"] == "max-age=31536000"


async def test_metrics_only_on_the_admin_listener(server: LiveServer) -> None:
    """Item 11: /metrics is not on the public listeners; the admin one is on loopback."""
    async with httpx.AsyncClient(timeout=5, verify=ssl.create_default_context(cafile=server.ca)) as http:
        assert (await http.get(f"{server.http_url}/metrics")).status_code == 404
        assert (await http.get(f"{server.https_url}/metrics")).status_code == 404
        r = await http.get(f"{server.admin_url}/metrics")
        assert r.status_code == 200 and "telex_http_connections" in r.text


async def test_metrics_token(tmp_path: Path) -> None:
    with LiveServer(tmp_path / "data", env={"TELEX_HTTP__METRICS_TOKEN": "s3cret"}) as live:
        async with httpx.AsyncClient(timeout=5) as http:
            assert (await http.get(f"{live.admin_url}/metrics")).status_code == 401
            r = await http.get(f"{live.admin_url}/metrics", headers={"Authorization": "Bearer s3cret"})
            assert r.status_code == 200


def test_the_access_key_is_never_printed_in_full(server: LiveServer) -> None:
    """Item 11: the banner shows the start of the key; ``telex connection-string`` the whole."""
    key = server.access_key
    assert len(key) > 20
    printed = "".join(server.output) + server.stderr_text()
    assert key not in printed
    assert f"accesskey={key[:4]}…" in printed and "telex connection-string" in printed
