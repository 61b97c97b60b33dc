"""A throwaway PostgreSQL cluster (Debian's ``postgresql``) for the tests, on a Unix socket.

initdb refuses to run as root, so when the tests run as root the cluster belongs to the
``postgres`` system user (created by the Debian package) and is started through ``runuser``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

__all__ = ["PostgresCluster", "find_pg_bin"]


def find_pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class PostgresCluster:
    def __init__(self) -> None:
        bin_dir = find_pg_bin()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="telex-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "sock"
        self._as_postgres = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self.socket_dir.mkdir(parents=True)
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(self.socket_dir, "postgres", "postgres")
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync"
        )
        self.resume()

    def pause(self) -> None:
        """Stop the server as a crash would (``-m immediate``), keeping its data (``resume``)."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def resume(self) -> None:
        opts = f"-k {self.socket_dir} -c listen_addresses='' -c fsync=off -c max_connections=200"
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            opts,
            "-w",
            "-l",
            str(self.root / "log"),
            "start",
        )

    def resume_if_stopped(self) -> None:
        running = subprocess.run(
            [str(self.bin / "pg_ctl"), "-D", str(self.data), "status"], capture_output=True, check=False
        )
        if running.returncode == 3:  # pg_ctl status: no server running
            self.resume()

    def stop(self) -> None:
        try:
            with contextlib.suppress(subprocess.CalledProcessError):  # already stopped (pause)
                self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@/{database}?host={self.socket_dir}"

    def create_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        name = "t_" + uuid.uuid4().hex[:12]
        self._run(
            str(self.bin / "psql"),
            "-h",
            str(self.socket_dir),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-c",
            f"CREATE DATABASE {name}",
        )
        return self.url(name)
