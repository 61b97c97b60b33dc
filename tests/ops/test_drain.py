"""Draining on SIGTERM: /readyz turns 503 at once while the node still serves, for
http.drain_seconds; then realtime sockets get 1012 (resume elsewhere) and the process exits."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import time
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.support.apiversions import async_hooks
from tests.support.live import LiveServer
from tests.support.signing import HmacSigner

_DRAIN = 2.0


async def _until_closed(ws: ClientConnection) -> None:
    while True:
        await ws.recv()


async def test_sigterm_drains_then_closes_realtime_with_1012(tmp_path: Path) -> None:
    env = {"TELEX_HTTP__DRAIN_SECONDS": str(_DRAIN)}
    server = LiveServer(tmp_path / "data", env=env).start()
    try:
        signer = HmacSigner(base64.b64decode(server.access_key))
        async with httpx.AsyncClient(
            event_hooks=async_hooks(), base_url=server.http_url, auth=signer, timeout=5
        ) as api:
            r = await api.post("/identities", json={"createTokenWithScopes": ["chat"]})
            token = r.json()["accessToken"]["token"]
            ws_url = server.http_url.replace("http://", "ws://") + "/realtime"
            async with connect(ws_url) as ws:
                await ws.send(json.dumps({"type": "auth", "token": token}))
                assert json.loads(await ws.recv())["type"] == "ready"
                assert (await api.get("/readyz")).status_code == 200
                sent = time.monotonic()
                server.signal(signal.SIGTERM)
                async with asyncio.timeout(5):
                    while (ready := await api.get("/readyz")).status_code == 200:
                        await asyncio.sleep(0.02)
                flipped = time.monotonic() - sent
                assert ready.status_code == 503
                assert ready.json()["reason"].startswith("draining")
                # still serving everything meanwhile, new connections included
                assert (await api.post("/identities")).status_code == 201
                assert (await api.get("/healthz")).status_code == 200
                async with asyncio.timeout(_DRAIN + 15):
                    with pytest.raises(ConnectionClosed) as closing:
                        await _until_closed(ws)
                assert closing.value.rcvd is not None and closing.value.rcvd.code == 1012
                closed = time.monotonic() - sent
        assert flipped < 1.0, flipped
        assert closed >= _DRAIN, closed
        assert server.proc is not None and server.proc.wait(20) == 0
        print(f"readyz 503 after {flipped * 1000:.0f} ms; realtime 1012 after {closed:.2f} s")
    finally:
        server.stop()
