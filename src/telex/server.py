"""``telex serve``: one process, the HTTP and HTTPS listeners on one event loop, graceful stop.

start: data_dir usable ─► descriptor limit raised ─► TLS files ─► open Node (store, keyring)
       ─► bind HTTP, HTTPS, admin ─► start TURN ─► servers up ─► banner + data_dir/endpoint.json
       ─► serve
       any failure before "up": a StartupError, printed as one line naming the setting, port or path
The public listeners speak HTTP through ``web/protocol.py`` (header, timeout and connection
limits); ``/metrics`` is served only by the admin listener (loopback by default). The banner never
prints the access key in full: ``telex connection-string`` is the way to get it.
SIGHUP (or a change of tls.cert_file/key_file, looked at every few seconds): reload the certificate
SIGTERM/SIGINT: /readyz 503, still serving (http.drain_seconds) ─► stop accepting, realtime sockets
       get 1012 ─► drain in-flight requests (≤ shutdown_grace_seconds) ─► close Node
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import resource
import signal
import socket
import sys
import traceback
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime
from typing import Any

import uvicorn

from telex import __version__
from telex.app import Node, build_admin_app, build_app
from telex.config import Settings
from telex.core.outage import QuietOutages
from telex.identity import encode_key
from telex.startup import (
    StartupError,
    busy_port,
    check_data_dir,
    describe,
    is_wildcard,
    listen_error,
    record_endpoint,
    safe_url,
    step,
    with_turn_relay_address,
)
from telex.tls import CertificateReloader, TlsFiles, check_key_pair, server_tls
from telex.web.middleware import JsonLogFormatter
from telex.web.protocol import ConnectionGuard, http_protocol
from telex.web.websocket import TelexWebSocketProtocol

__all__ = [
    "connection_string",
    "endpoint_url",
    "masked_key",
    "raise_descriptor_limit",
    "run_server",
    "serve",
    "uvicorn_options",
]

log = logging.getLogger(__name__)

# How often the operator's certificate files are looked at for a renewal (SIGHUP is immediate).
_CERT_CHECK_SECONDS = 5.0


class _Server(uvicorn.Server):
    """A uvicorn server whose signals the caller handles (several servers share one process), and
    whose TLS handshakes have a deadline."""

    def __init__(self, config: uvicorn.Config, handshake_timeout: float = 60.0) -> None:
        super().__init__(config)
        self._handshake_timeout = handshake_timeout

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's start-up for listening sockets handed over (the only way Telex starts it),
        plus ``ssl_handshake_timeout``: uvicorn leaves asyncio's 60 s, so a connection that never
        sends a TLS ClientHello held a descriptor for a minute (slowloris on the HTTPS port)."""
        assert sockets is not None
        config = self.config
        loop = asyncio.get_running_loop()

        def create_protocol(_loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Protocol:
            return config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=self.server_state, app_state={}, _loop=_loop
            )

        self.servers = []
        for sock in sockets:
            if config.ssl is None:
                server = await loop.create_server(create_protocol, sock=sock, backlog=config.backlog)
            else:
                server = await loop.create_server(
                    create_protocol, sock=sock, ssl=config.ssl, backlog=config.backlog,
                    ssl_handshake_timeout=self._handshake_timeout,
                )  # fmt: skip
            self.servers.append(server)
        self.started = True


def _bind(host: str, port: int, setting: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise listen_error(host, port, setting, exc) from exc
    sock.setblocking(False)
    return sock


def _url_host(host: str) -> str:
    if is_wildcard(host):
        return "localhost"
    return f"[{host}]" if ":" in host else host


def endpoint_url(settings: Settings, https_port: int) -> str:
    """The endpoint clients are told to use: ``public_url``, else the first of ``tls.hostnames``
    (or the listening host) with the HTTPS port."""
    if settings.public_url:
        return settings.public_url
    name = settings.tls.hostnames[0] if settings.tls.hostnames else settings.host
    return f"https://{_url_host(name)}:{https_port}/"


def connection_string(endpoint: str, key_b64: str) -> str:
    return f"endpoint={endpoint};accesskey={key_b64}"


def masked_key(key_b64: str) -> str:
    """Enough of an access key to tell keys apart, never enough to use one: what the banner
    shows, since stdout ends up in log collectors."""
    return key_b64[:4] + "…"


def raise_descriptor_limit() -> tuple[int, int]:
    """Raise the soft limit on open files to the hard one (Python starts with the soft limit,
    often 1,024: a few hundred idle connections would exhaust it). Returns the limits now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def uvicorn_options(settings: Settings, guard: ConnectionGuard) -> dict[str, Any]:
    """The uvicorn settings every public listener of a node shares (``tests/support/serve.py``
    uses them too, so in-process tests run the same protocols)."""
    http = settings.http
    return {
        "lifespan": "off",
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": http.shutdown_grace_seconds,
        "http": http_protocol(guard),
        "ws": TelexWebSocketProtocol,
        # The protocol layer refuses oversized frames (1009) before buffering them; the gateway
        # checks again. Compression would let a small frame inflate past the limit.
        "ws_max_size": settings.realtime.max_frame_bytes,
        "ws_per_message_deflate": False,
        "timeout_keep_alive": http.keep_alive_timeout_seconds,
        # No "server: uvicorn": a version banner helps nobody but a scanner.
        "server_header": False,
    }


def _tls_files(settings: Settings) -> TlsFiles:
    if settings.tls.cert_file is not None:
        with step(f"tls.cert_file {settings.tls.cert_file} / tls.key_file {settings.tls.key_file}"):
            files = server_tls(settings)
            check_key_pair(files.cert, files.key)
        return files
    with step(f"data_dir {settings.data_dir}: the self-signed certificate"):
        return server_tls(settings)


async def _open_node(settings: Settings) -> Node:
    where = (
        "database " + safe_url(settings.database) if settings.database else f"data_dir {settings.data_dir}"
    )
    with step(where):
        return await Node.open(settings)


async def _start_turn(node: Node, settings: Settings) -> None:
    try:
        await node.start()
    except OSError as exc:
        sip = settings.sip
        if sip.enabled:  # first: the gateway starts after TURN, whose own ports are then taken
            sip_host = sip.host or settings.host
            for port, kind, setting in (
                (sip.udp_port, socket.SOCK_DGRAM, "sip.udp_port"),
                (sip.tcp_port, socket.SOCK_STREAM, "sip.tcp_port"),
                (sip.tls_port, socket.SOCK_STREAM, "sip.tls_port"),
            ):
                if port and busy_port(sip_host, port, kind):
                    raise listen_error(sip_host, port, setting, exc) from exc
        turn = settings.turn
        hosts = turn.listen_addresses or (settings.host,)
        checks = [(turn.port, socket.SOCK_DGRAM, "turn.port, --turn-port")]
        if turn.tcp:
            checks.append((turn.port, socket.SOCK_STREAM, "turn.port, --turn-port"))
        if turn.tls_cert_file is not None:
            checks.append((turn.tls_port, socket.SOCK_STREAM, "turn.tls_port, --turns-port"))
        for host in hosts:
            for port, kind, setting in checks:
                if busy_port(host, port, kind):
                    raise listen_error(host, port, setting, exc) from exc
        raise StartupError(f"TURN on {','.join(hosts)} port {turn.port}: {exc.strerror or exc}") from exc


async def _wait_started(servers: list[_Server], tasks: list[asyncio.Task[None]]) -> bool:
    """Until every server is up (True) or one has stopped (False): uvicorn has no start event."""
    while not all(s.started for s in servers):
        if any(t.done() for t in tasks):
            return False
        await asyncio.sleep(0.01)
    return True


def _banner(
    settings: Settings, node: Node, ports: tuple[int, int, int | None], tls: TlsFiles, note: str
) -> str:
    http_port, https_port, admin_port = ports
    host = _url_host(settings.host)
    endpoint = endpoint_url(settings, https_port)
    trust = f"CA: {tls.ca.resolve()}" if tls.ca is not None else f"certificate: {tls.cert}"
    lines = [
        f"Telex {__version__} {settings.data_dir.resolve()} (resource {node.keyring.state.resource_id})",
        f"  HTTP   http://{host}:{http_port}/",
        f"  HTTPS  https://{host}:{https_port}/  {trust}",
    ]
    if node.turn is not None:
        turns = f", turns: {node.turn.tls_port}" if node.turn.tls_port else ""
        lines.append(f"  STUN/TURN {host}:{node.turn.udp_port} (udp, tcp{turns})")
        if settings.turn.allow_loopback_peers and not (
            is_wildcard(settings.host) or settings.host.startswith("127.")
        ):
            lines.append(
                "  warning: turn.allow_loopback_peers lets TURN clients reach this host's own services"
            )
    if node.pstn is not None:
        gw = node.pstn
        tcp = f", tcp {gw.tcp_port}" if gw.tcp_port else ""
        tcp += f", tls {gw.tls_port}" if gw.tls_port else ""
        trunks = ", ".join(
            f"{t.name} {t.settings.host}"
            + (f" ({t.settings.transport})" if t.settings.transport != "udp" else "")
            for t in gw.router.trunks
        )
        lines.append(f"  SIP    {gw.bind_host}:{gw.udp_port} (udp{tcp}) trunks: {trunks}")
    if note:
        lines.append(f"  {note}")
    if is_wildcard(settings.host) and not settings.public_url and not settings.tls.hostnames:
        lines.append("  note: set public_url to the name other machines use (certificate, connection string)")
    if node.demo is not None:
        lines.append(f"  demo   http://{host}:{http_port}/  (signs anyone in)")
    if settings.http.allowed_origins:
        lines.append(f"  browser origins: {', '.join(settings.http.allowed_origins)}")
    if admin_port is not None:
        lines.append(f"  admin  http://{_url_host(settings.http.admin_host)}:{admin_port}/metrics")
    primary = masked_key(encode_key(node.keyring.state.primary_key))
    lines.append(
        f"  connection string: {connection_string(endpoint, primary)}"
        f"  (the whole of it: telex connection-string --data-dir {settings.data_dir})"
    )
    return "\n".join(lines)


def _endpoint_record(
    settings: Settings, node: Node, ports: tuple[int, int, int | None], tls: TlsFiles
) -> dict[str, Any]:
    http_port, https_port, admin_port = ports
    admin = f"http://{_url_host(settings.http.admin_host)}:{admin_port}/" if admin_port is not None else None
    return {
        "endpoint": endpoint_url(settings, https_port),
        "http": f"http://{_url_host(settings.host)}:{http_port}/",
        "admin": admin,
        "ca": str(tls.ca.resolve()) if tls.ca is not None else None,
        "resource": str(node.keyring.state.resource_id),
        "version": __version__,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _libc_trim() -> Callable[[], object] | None:
    """glibc's ``malloc_trim``, if this is glibc (musl and others have none)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


async def _trim_memory(every: float) -> None:
    """Return freed memory to the system every ``every`` seconds. CPython hands objects over
    512 bytes (request bodies, frames, query results) to malloc, and glibc keeps the pages a
    burst made it grow by: without this, the node's RSS stays at its high-water mark for good
    (docs/security.md, "Memory"). A trim of a few hundred MiB of heap takes about a millisecond."""
    trim = _libc_trim()
    if trim is None:
        return
    while True:
        await asyncio.sleep(every)
        trim()


async def _watch_certificate(reloader: CertificateReloader) -> None:
    while True:
        await asyncio.sleep(_CERT_CHECK_SECONDS)
        reloader.check()


async def serve(settings: Settings, on_started: Callable[[], None] | None = None) -> None:
    """Run until SIGTERM/SIGINT; ``StartupError`` (one line) when it cannot start. ``on_started``
    is called once the listeners are up (the banner is out)."""
    check_data_dir(settings.data_dir)
    raise_descriptor_limit()
    settings, note = with_turn_relay_address(settings)
    tls = _tls_files(settings)
    if settings.turn.enabled and settings.turn.tls_cert_file is None:
        # turns: uses the HTTPS certificate (and is reloaded with it).
        turn = settings.turn.model_copy(update={"tls_cert_file": tls.cert, "tls_key_file": tls.key})
        settings = settings.model_copy(update={"turn": turn})
    node = await _open_node(settings)
    try:
        await _serve(settings, node, tls, note, on_started)
    finally:
        await node.close()
    print("Telex stopped.", flush=True)


async def _serve(
    settings: Settings, node: Node, tls: TlsFiles, note: str, on_started: Callable[[], None] | None
) -> None:
    app = build_app(node)
    http = settings.http
    http_sock = _bind(settings.host, settings.port, "port, --port")
    https_sock = _bind(settings.host, settings.tls_port, "tls_port, --tls-port")
    admin_sock = None
    if http.admin_port is not None:
        admin_sock = _bind(http.admin_host, http.admin_port, "http.admin_port")
    guard = ConnectionGuard(http, node.registry)
    common = uvicorn_options(settings, guard)
    https_config = uvicorn.Config(app, ssl_certfile=str(tls.cert), ssl_keyfile=str(tls.key), **common)
    with step(f"TLS certificate {tls.cert}"):
        https_config.load()  # builds its SSLContext now, so a bad file fails here, in one line
    handshake = http.header_timeout_seconds
    servers = [_Server(uvicorn.Config(app, **common)), _Server(https_config, handshake)]
    sockets = [http_sock, https_sock]
    if admin_sock is not None:
        admin = build_admin_app(node)
        servers.append(_Server(uvicorn.Config(admin, **{**common, "http": "httptools", "ws": "none"})))
        sockets.append(admin_sock)
    await _start_turn(node, settings)
    tasks = [
        asyncio.create_task(server.serve(sockets=[sock]))
        for server, sock in zip(servers, sockets, strict=True)
    ]
    loop = asyncio.get_running_loop()

    def exit_now() -> None:
        log.info("shutting down: draining in-flight requests")
        for server in servers:
            server.should_exit = True

    def stop() -> None:
        # First /readyz turns 503 for drain_seconds while everything is still served, so a load
        # balancer stops sending new work here; then the listeners close and realtime sockets
        # get 1012 (resume elsewhere). A second signal skips the rest of the wait.
        drain = settings.http.drain_seconds
        if node.draining or drain <= 0:
            exit_now()
            return
        node.draining = True
        log.info("draining: /readyz answers 503 for %g s, then the listeners close", drain)
        loop.call_later(drain, exit_now)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    trimmer = None
    if settings.memory_trim_seconds > 0:
        trimmer = asyncio.create_task(_trim_memory(settings.memory_trim_seconds))
    watcher = None
    if tls.ca is None:  # the operator's files: reload on SIGHUP and when they change
        contexts = [
            c for c in (https_config.ssl, node.turn.tls_context if node.turn else None) if c is not None
        ]
        reloader = CertificateReloader(tls, contexts)
        loop.add_signal_handler(signal.SIGHUP, reloader.reload)
        watcher = asyncio.create_task(_watch_certificate(reloader))
    try:
        if await _wait_started(servers, tasks):
            http_port = http_sock.getsockname()[1]
            https_port = https_sock.getsockname()[1]
            admin_port = admin_sock.getsockname()[1] if admin_sock is not None else None
            ports = (http_port, https_port, admin_port)
            with step(f"data_dir {settings.data_dir}"):
                record_endpoint(settings.data_dir, _endpoint_record(settings, node, ports, tls))
            print(_banner(settings, node, ports, tls, note), flush=True)
            if on_started is not None:
                on_started()
        await asyncio.gather(*tasks)
    finally:
        if trimmer is not None:
            trimmer.cancel()
        if watcher is not None:
            watcher.cancel()
        for task in tasks:
            task.cancel()
        app.state.access_log.flush()


def run_server(settings: Settings, *, debug: bool = False) -> int:
    """``telex serve``: the exit status (0 after a clean stop; 1, with one line on stderr, when it
    could not start; the traceback too with ``debug``)."""
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(JsonLogFormatter())
        handler.addFilter(QuietOutages())  # a store outage is logged once, not once per loop round
    if settings.log_level != "debug":
        # Their start-up chatter (migration context, "Started server process" once per listener)
        # would bury the banner, or the one line that says why the server could not start.
        for name in ("alembic", "uvicorn.error"):
            logging.getLogger(name).setLevel(logging.WARNING)
    started = False

    def up() -> None:
        nonlocal started
        started = True

    try:
        _run(serve(settings, up))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if started:  # a crash of a running server: the whole story
            raise
        if debug:
            traceback.print_exc()
        hint = "" if debug or isinstance(exc, StartupError) else " (--debug shows the traceback)"
        print(f"telex: {describe(exc)}{hint}", file=sys.stderr)
        return 1
    return 0


def _run(main: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)
