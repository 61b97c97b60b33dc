"""Process and port helpers shared by tests and benchmarks (which import ``tests.support``)."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
from pathlib import Path

__all__ = ["access_key", "cpu_seconds", "free_port", "free_udp_tcp_port"]

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A loopback port free right now for ``kind`` (another process may still take it)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_udp_tcp_port() -> int:
    """A loopback port free for both UDP and TCP right now (TURN servers listen on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def access_key(data_dir: Path, env: dict[str, str] | None = None) -> bytes:
    """The primary access key of the node whose data dir is ``data_dir`` (the serve banner shows
    only the start of it), from ``telex connection-string``."""
    done = subprocess.run(
        [sys.executable, "-m", "telex", "connection-string", "--data-dir", str(data_dir)],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    )  # fmt: skip
    return base64.b64decode(done.stdout.strip().split("accesskey=", 1)[1])
