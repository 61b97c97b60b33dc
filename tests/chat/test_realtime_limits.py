"""Realtime under abuse: an event too large for a frame, a client's own frame limit, many sockets
that never read behind large events, and the per-user and per-address socket caps."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import InvalidStatus

from telex.client import ChatClient, RealtimeClient, RealtimeError
from tests.api.test_http_limits import rss_mib
from tests.chat.conftest import open_node, users_of
from tests.chat.test_realtime import close_code, collect, raw, ws_url
from tests.support.live import LiveServer
from tests.support.serve import running
from tests.support.signing import HmacSigner


async def test_an_event_too_large_for_a_frame_is_skipped_and_later_ones_arrive(tmp_path: Path) -> None:
    """Item 2: an event whose frame is over realtime.max_event_bytes goes out as a small
    "skipped" frame with its cursor and ids; the client passes over it, reports it, and gets the
    next event on the same connection (it used to reconnect 143 times in 20 s, never past it)."""
    node = await open_node(tmp_path, max_event_bytes=4096)
    make = users_of(node)
    a, b = await make(), await make()
    try:
        async with running(node) as url, ChatClient(url, a.token) as chat:
            tid = await chat.create_thread("t", [b.id])
            async with RealtimeClient(url, b.token) as rt:
                async with asyncio.timeout(10):
                    await rt.wait_connected()
                big = await chat.send_message(tid, "x" * 8000)
                await chat.send_message(tid, "after")
                got = await collect(rt, 1)
                assert got[0].data["message"] == "after"
                assert rt.connects == 1
                [skipped] = rt.skipped
                assert skipped.type == "chatMessageReceived" and skipped.reason == "tooLarge"
                assert skipped.size > 8000 and skipped.ref == {"threadId": tid, "messageId": big}
                assert int(skipped.cursor or 0) < int(got[0].cursor)
    finally:
        await node.close()


async def test_a_frame_larger_than_the_client_takes_ends_it_without_a_loop() -> None:
    """Item 2, the client's side: against a server that sends a frame over the client's 4 MiB,
    the client stops with RealtimeError(1009) after that one connection instead of reconnecting
    to the same frame for ever."""
    connections = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        auth = json.loads(await ws.recv())
        await ws.send(json.dumps({"type": "ready", "userId": "u", "cursor": auth["cursor"] or "0"}))
        huge = {"type": "event", "event": "e", "cursor": "1", "data": {"x": "y" * (5 << 20)}}
        await ws.send(json.dumps(huge))
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        async with RealtimeClient(f"http://127.0.0.1:{port}", "token") as rt:
            with pytest.raises(RealtimeError) as failed:
                async with asyncio.timeout(10):
                    await anext(rt)
    assert failed.value.code == 1009
    assert connections == 1


async def _stalled(url: str, token: str, source: str) -> ClientConnection:
    """A socket that authenticates, then never reads again (small receive buffer, so the
    server's writes back up after a few kilobytes)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", int(url.rsplit(":", 1)[1])))
    ws = await connect(ws_url(url), sock=sock, max_queue=1, compression=None)
    await ws.send(json.dumps({"type": "auth", "token": token}))
    assert json.loads(await ws.recv())["type"] == "ready"
    return ws


OPEN = {
    "TELEX_CHAT__MESSAGES_PER_THREAD_PER_10S": "0",
    "TELEX_CHAT__MESSAGES_PER_THREAD_PER_MINUTE": "0",
    "TELEX_REALTIME__MAX_SOCKETS_PER_USER": "0",
    "TELEX_REALTIME__QUEUE_BYTES": str(8 << 20),
}


async def test_slow_sockets_share_one_copy_of_each_event(tmp_path: Path) -> None:
    """Item 3: 40 sockets of one user that never read, behind 320 events of 25 KB (8 MB). Past
    what the kernel buffers for each (about 4 MiB on loopback) the frames wait in each socket's
    outbox; they share the event's encoded head there, so the server grows by one copy of the
    backlog, not forty (+160 MiB when each socket held its own; 9.1 MiB a socket for a 10 MB
    event in the report)."""
    with LiveServer(tmp_path / "data", env=OPEN) as live:
        assert live.proc is not None
        signer = HmacSigner(base64.b64decode(live.access_key))
        async with httpx.AsyncClient(base_url=live.http_url, auth=signer, timeout=30) as admin:
            users = []
            for _ in range(2):
                r = await admin.post("/identities", json={"createTokenWithScopes": ["chat"]})
                users.append((r.json()["identity"]["id"], r.json()["accessToken"]["token"]))
        (_, a_token), (b, b_token) = users
        async with ChatClient(live.http_url, a_token) as chat:
            tid = await chat.create_thread("t", [b])
            stalled = [await _stalled(live.http_url, b_token, "127.0.2.1") for _ in range(40)]
            await asyncio.sleep(0.5)
            before = rss_mib(live.proc.pid)
            for _ in range(320):
                await chat.send_message(tid, "y" * 25_000)
            await asyncio.sleep(1)
            grown = rss_mib(live.proc.pid) - before
            assert grown < 40, f"{grown:.1f} MiB for 40 sockets"
            for ws in stalled:
                ws.transport.abort()


async def test_socket_caps_per_user_and_per_address(tmp_path: Path) -> None:
    node = await open_node(tmp_path, max_sockets_per_user=3, max_sockets_per_ip=5)
    make = users_of(node)
    a, b = await make(), await make()
    try:
        async with running(node) as url:
            mine = [await raw(url, a) for _ in range(3)]
            extra = await connect(ws_url(url))
            await extra.send(json.dumps({"type": "auth", "token": a.token}))
            assert await close_code(extra) == 4029  # the user's fourth
            others = [await raw(url, b) for _ in range(2)]  # five from 127.0.0.1 in all
            with pytest.raises(InvalidStatus) as refused:
                await connect(ws_url(url))
            assert refused.value.response.status_code == 503
            body: dict[str, Any] = json.loads(refused.value.response.body)
            assert "realtime.max_sockets_per_ip" in body["error"]["message"]
            refusals = {
                reason: node.registry.get_sample_value(
                    "telex_socket_refused_total", {"socket": "realtime", "reason": reason}
                )
                for reason in ("user", "address")
            }
            assert refusals == {"user": 1.0, "address": 1.0}  # an operator sees both in /metrics
            await mine[0].close()
            await asyncio.sleep(0.1)
            again = await raw(url, a)  # a place came back
            for ws in [*mine[1:], *others, again]:
                await ws.close()
    finally:
        await node.close()
