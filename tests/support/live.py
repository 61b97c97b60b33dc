"""Run ``telex serve`` as a real subprocess on free loopback ports, as a user would."""

from __future__ import annotations

import os
import queue
import signal as signals
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

import httpx

from tests.support.procs import free_port

__all__ = ["LiveServer", "free_port"]


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)
    stream.close()


class LiveServer:
    def __init__(
        self,
        data_dir: Path,
        *,
        database: str | None = None,
        env: dict[str, str] | None = None,
        extra_args: list[str] | None = None,
        wrapper: list[str] | None = None,
        address: str = "127.0.0.1",
    ) -> None:
        """``wrapper``: a command the server runs under (e.g. ``nsenter`` into another network
        namespace); ``address``: where clients reach it (its listening host by default)."""
        self.data_dir = data_dir
        self.wrapper = wrapper or []
        self.address = address
        self.database = database
        self.env = env or {}
        self.extra_args = extra_args or []
        self.port = free_port()
        self.tls_port = free_port()
        self.turn_port = free_port(socket.SOCK_DGRAM)
        self.turns_port = free_port()
        self.admin_port = free_port()
        self.proc: subprocess.Popen[str] | None = None
        self.output: list[str] = []
        self._connection_string = ""
        self._asking = threading.Lock()  # tests' threads may all want it at once: ask once
        self._reader: threading.Thread | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stderr_path = Path(tempfile.mkstemp(prefix="telex-serve-", suffix=".log")[1])

    @property
    def http_url(self) -> str:
        return f"http://{self.address}:{self.port}"

    @property
    def https_url(self) -> str:
        return f"https://{self.address}:{self.tls_port}"

    @property
    def admin_url(self) -> str:
        """The admin listener (``/metrics``), on loopback."""
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def connection_string(self) -> str:
        """The full connection string, from ``telex connection-string`` (the banner shows only the
        start of the key): asked once, when a test first needs it."""
        with self._asking:
            return self._ask_connection_string()

    def _ask_connection_string(self) -> str:
        if not self._connection_string:
            args = [sys.executable, "-m", "telex", "connection-string", "--data-dir", str(self.data_dir)]
            if self.database:
                args += ["--database", self.database]
            env = self._env()
            done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60, check=True)
            self._connection_string = done.stdout.strip()
        return self._connection_string

    @property
    def ca(self) -> Path:
        return self.data_dir / "tls" / "ca.pem"

    @property
    def access_key(self) -> str:
        return self.connection_string.split("accesskey=", 1)[1]

    def start(self, timeout: float = 60.0, attempts: int = 3) -> LiveServer:
        """Start and wait until ready. Free ports are only probably free (another process may take
        one between the probe and the bind), so an early exit is retried on fresh ports."""
        for attempt in range(attempts):
            if self._start_once(timeout):
                return self
            if attempt + 1 < attempts:
                self.port, self.tls_port, self.turn_port, self.turns_port, self.admin_port = (
                    free_port(),
                    free_port(),
                    free_port(socket.SOCK_DGRAM),
                    free_port(),
                    free_port(),
                )
        raise RuntimeError(f"telex serve exited early: {''.join(self.output)}{self.stderr_tail()}")

    def stderr_tail(self) -> str:
        return "\n".join(self.stderr_text().splitlines()[-20:])

    def stderr_text(self) -> str:
        """Everything the server wrote to stderr so far (its logs)."""
        try:
            return self._stderr_path.read_text()
        except OSError:
            return ""

    def _start_once(self, timeout: float) -> bool:
        args = [*self.wrapper, sys.executable, "-m", "telex", "serve", "--data-dir", str(self.data_dir)]
        args += [
            "--port",
            str(self.port),
            "--tls-port",
            str(self.tls_port),
            "--turn-port",
            str(self.turn_port),
            "--turns-port",
            str(self.turns_port),
        ]
        if self.database:
            args += ["--database", self.database]
        env = self._env()
        self.output = []
        with self._stderr_path.open("w") as stderr:
            self.proc = subprocess.Popen(
                args + self.extra_args, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env
            )
        assert self.proc.stdout is not None
        # A thread reads stdout (to its end), so that waiting for the connection string has a
        # deadline: a server stuck before printing it fails this start instead of blocking.
        lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=_pump, args=(self.proc.stdout, lines), daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.proc.kill()
                printed = "".join(self.output)
                raise RuntimeError(f"telex serve printed no connection string in time: {printed}") from None
            if line is None:  # it exited
                self.proc.wait()
                self.proc = None
                return False
            self.output.append(line)
            if "connection string:" in line:
                self._connection_string = ""
                break
        self._lines = lines
        self._wait_ready(deadline)
        return True

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TELEX_")}
        env["TELEX_HTTP__ADMIN_PORT"] = str(self.admin_port)
        env.update(self.env)
        return env

    def _wait_ready(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.http_url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("telex serve did not become ready")

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, sig: int = signals.SIGTERM, timeout: float = 20.0) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        if self._reader is not None:
            self._reader.join(5)
            while not self._lines.empty():
                rest = self._lines.get_nowait()
                if rest is not None:
                    self.output.append(rest)
        self.proc = None
        self._stderr_path.unlink(missing_ok=True)
        return code

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
