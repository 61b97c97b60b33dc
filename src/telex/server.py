"""``telex serve``: one process, the HTTP and HTTPS listeners on one event loop, graceful stop.

start: open Node ─► TLS files ─► bind sockets ─► print connection string ─► serve
SIGTERM/SIGINT: stop accepting ─► drain in-flight requests (≤ shutdown_grace_seconds) ─► close Node
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Iterator

import uvicorn

from telex.app import Node, build_app
from telex.config import Settings
from telex.identity import encode_key
from telex.tls import ensure_certificate
from telex.web.middleware import JsonLogFormatter
from telex.web.websocket import TelexWebSocketProtocol

__all__ = ["connection_string", "run_server", "serve"]

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """A uvicorn server whose signals the caller handles (two servers share one process)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "localhost"
    return f"[{host}]" if ":" in host else host


def connection_string(host: str, tls_port: int, key_b64: str) -> str:
    return f"endpoint=https://{_url_host(host)}:{tls_port}/;accesskey={key_b64}"


async def serve(settings: Settings) -> None:
    node = await Node.open(settings)
    tls = ensure_certificate(settings.data_dir)
    app = build_app(node)
    http_sock = _bind(settings.host, settings.port)
    https_sock = _bind(settings.host, settings.tls_port)
    common = {
        "lifespan": "off",
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": settings.http.shutdown_grace_seconds,
        "ws": TelexWebSocketProtocol,
        # The protocol layer refuses oversized frames (1009) before buffering them; the gateway
        # checks again. Compression would let a small frame inflate past the limit.
        "ws_max_size": settings.realtime.max_frame_bytes,
        "ws_per_message_deflate": False,
    }
    servers = [
        _Server(uvicorn.Config(app, **common)),  # type: ignore[arg-type]
        _Server(uvicorn.Config(app, ssl_certfile=str(tls.cert), ssl_keyfile=str(tls.key), **common)),  # type: ignore[arg-type]
    ]
    http_port = http_sock.getsockname()[1]
    https_port = https_sock.getsockname()[1]
    primary = encode_key(node.keyring.state.primary_key)
    print(f"Telex {settings.data_dir.resolve()} (resource {node.keyring.state.resource_id})", flush=True)
    print(f"  HTTP   http://{_url_host(settings.host)}:{http_port}/", flush=True)
    assert tls.ca is not None  # the self-signed files (own certificates come with telex serve's TLS settings)
    print(f"  HTTPS  https://{_url_host(settings.host)}:{https_port}/  CA: {tls.ca.resolve()}", flush=True)
    await node.start()
    if node.turn is not None:
        turns = f", turns: {node.turn.tls_port}" if node.turn.tls_port else ""
        print(f"  STUN/TURN {_url_host(settings.host)}:{node.turn.udp_port} (udp, tcp{turns})", flush=True)
    if node.demo is not None:
        print(f"  demo   http://{_url_host(settings.host)}:{http_port}/  (signs anyone in)", flush=True)
    print(f"  connection string: {connection_string(settings.host, https_port, primary)}", flush=True)

    loop = asyncio.get_running_loop()

    def stop() -> None:
        log.info("shutting down: draining in-flight requests")
        for server in servers:
            server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    try:
        await asyncio.gather(
            servers[0].serve(sockets=[http_sock]),
            servers[1].serve(sockets=[https_sock]),
        )
    finally:
        app.state.access_log.flush()
        await node.close()
    print("Telex stopped.", flush=True)


def run_server(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(JsonLogFormatter())
    try:
        import uvloop

        uvloop.run(serve(settings))
    except ImportError:
        asyncio.run(serve(settings))
