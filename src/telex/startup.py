"""What ``telex serve`` checks and records before and as it starts: failures a person can act on.

    settings ─► data_dir usable? ─► TURN relay address for a wildcard host ─► (server.py: TLS,
                store, listeners) ─► endpoint.json in data_dir, read by ``telex connection-string``

Every check raises ``StartupError``: one line naming the setting, port or path, which the command
prints instead of a traceback (``--debug`` shows the traceback too).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import tempfile
from collections.abc import Iterator
from ipaddress import ip_address
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from telex.config import Settings

__all__ = [
    "ENDPOINT_FILE",
    "StartupError",
    "busy_port",
    "check_data_dir",
    "describe",
    "is_wildcard",
    "listen_error",
    "read_endpoint",
    "record_endpoint",
    "safe_url",
    "step",
    "with_turn_relay_address",
]

ENDPOINT_FILE = "endpoint.json"
# Route lookups only (a UDP connect sends nothing): the source address the kernel would use
# toward the documentation prefixes (RFC 5737, RFC 3849), i.e. the default route's interface.
_PROBES = {socket.AF_INET: "198.51.100.1", socket.AF_INET6: "2001:db8::1"}


class StartupError(Exception):
    """The server cannot start; the message is one line that names what to change."""


def describe(exc: BaseException) -> str:
    """One line for an exception: the path and the reason for an ``OSError``, else its text."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror}"
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def safe_url(url: str) -> str:
    """``url`` with its password hidden (it goes into messages and logs)."""
    parts = urlsplit(url)
    if parts.password:
        url = url.replace(f":{parts.password}@", ":***@", 1)
    return url


@contextlib.contextmanager
def step(what: str) -> Iterator[None]:
    """Turn any failure inside into ``StartupError("<what>: <reason>")``."""
    try:
        yield
    except StartupError:
        raise
    except Exception as exc:
        raise StartupError(f"{what}: {describe(exc)}") from exc


def check_data_dir(path: Path) -> None:
    """``path`` is (or can be made) a directory this process can write in."""
    if path.exists() and not path.is_dir():
        raise StartupError(f"data_dir {path}: exists and is not a directory (--data-dir)")
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise StartupError(f"data_dir {path}: cannot create it: {exc.strerror} (--data-dir)") from exc
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-check-", dir=path)
    except OSError as exc:
        raise StartupError(f"data_dir {path}: not writable: {exc.strerror} (--data-dir)") from exc
    os.close(fd)
    os.unlink(probe)


def is_wildcard(host: str) -> bool:
    return host in ("0.0.0.0", "::")


def _route_source(family: socket.AddressFamily) -> str | None:
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect((_PROBES[family], 9))
        except OSError:
            return None
        address = str(sock.getsockname()[0])
    ip = ip_address(address)
    return None if ip.is_unspecified or ip.is_loopback else address


def with_turn_relay_address(settings: Settings) -> tuple[Settings, str]:
    """Settings whose TURN server can start on a wildcard ``host``, and a note for the banner.

    TURN must tell clients a relayed address peers can reach (XOR-RELAYED-ADDRESS), never
    0.0.0.0: with ``turn.relay_address`` and ``turn.external_address`` unset, the address of the
    interface that holds the default route becomes the relay address; without a default route,
    a ``StartupError`` asks for the setting."""
    turn = settings.turn
    hosts = turn.listen_addresses or (settings.host,)
    if not turn.enabled:
        return settings, ""
    update: dict[str, str] = {}
    notes = []
    for wildcard, family, relay, external, key in (
        ("0.0.0.0", socket.AF_INET, turn.relay_address, turn.external_address, "relay_address"),
        ("::", socket.AF_INET6, turn.relay_address_v6, turn.external_address_v6, "relay_address_v6"),
    ):
        if wildcard not in hosts:
            continue
        if (relay and not ip_address(relay).is_unspecified) or external:
            continue
        found = _route_source(family)
        if found is None:
            raise StartupError(
                f"host {wildcard}: TURN needs the address clients relay through and "
                f"this host has no default route to take it from: set turn.external_address (the public "
                f"address) or turn.relay_address (this host's), e.g. TELEX_TURN__{key.upper()}=192.0.2.10"
            )
        update[key] = found
        notes.append(f"turn.{key} {found} (the default route's; set it to change)")
    if not update:
        return settings, ""
    settings = settings.model_copy(update={"turn": turn.model_copy(update=update)})
    return settings, "; ".join(notes)


def busy_port(host: str, port: int, kind: socket.SocketKind) -> bool:
    """Whether ``port`` is taken for ``kind`` on ``host`` right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as sock:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host or "0.0.0.0", port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def listen_error(host: str, port: int, setting: str, exc: OSError) -> StartupError:
    reason = {
        errno.EADDRINUSE: "address already in use (another server holds it)",
        errno.EACCES: "permission denied (ports below 1024 need privileges)",
        errno.EADDRNOTAVAIL: "this host has no such address (--host)",
    }.get(exc.errno or 0, exc.strerror or str(exc))
    shown = f"[{host}]" if ":" in host else host
    return StartupError(f"cannot listen on {shown}:{port} ({setting}): {reason}")


def record_endpoint(data_dir: Path, endpoint: dict[str, Any]) -> None:
    """Write what this server advertises (``telex connection-string`` reads it), atomically."""
    target = data_dir / ENDPOINT_FILE
    fd, tmp = tempfile.mkstemp(prefix=".endpoint-", dir=data_dir)
    with os.fdopen(fd, "w") as fh:
        json.dump(endpoint, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, target)


def read_endpoint(data_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((data_dir / ENDPOINT_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
