"""A throwaway ``redis-server`` (Debian's) on a free loopback port, for the scale-out tests."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support.procs import free_port

__all__ = ["find_redis", "redis_server"]


def find_redis() -> str | None:
    return shutil.which("redis-server")


@contextlib.contextmanager
def redis_server(workdir: Path, port: int = 0) -> Iterator[str]:
    """Run redis-server (no persistence) until the block ends, on ``port`` (0: a free one);
    yields its ``redis://`` URL."""
    binary = find_redis()
    assert binary is not None
    port = port or free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    args += ["--dir", str(workdir)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)
