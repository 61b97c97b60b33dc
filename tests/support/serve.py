"""Serve an in-process ``Node`` over real sockets (for WebSockets), as ``telex serve`` does."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import uvicorn

from telex.app import Node, build_app
from telex.server import uvicorn_options
from telex.web.protocol import ConnectionGuard

__all__ = ["running"]


@contextlib.asynccontextmanager
async def running(node: Node, *, hub_only: bool = False, turn: bool = False) -> AsyncIterator[str]:
    """Serve ``node`` with uvicorn and the protocols ``telex serve`` uses (web/protocol.py,
    web/websocket.py) on 127.0.0.1; yields the base URL. The node's background work (hub,
    timers) runs for the duration; ``turn`` also starts its TURN server (``Node.start``);
    ``hub_only`` starts just the hub (a node on a ``FakeClock`` must not run the keyring
    refresher, which sleeps on it)."""
    options = uvicorn_options(node.settings, ConnectionGuard(node.settings.http))
    config = uvicorn.Config(build_app(node), host="127.0.0.1", port=0, log_level="warning", **options)
    server = uvicorn.Server(config)
    hub_task = asyncio.create_task(node.hub.run(node.bus)) if hub_only else None
    if turn:
        await node.start()
    elif not hub_only:
        node.start_background()
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started or not node.hub.started.is_set():
            await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        if hub_task is not None:
            hub_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await hub_task
