"""The Perl SMSC (tests/telephony/smsc.pl on Debian's libnet-smpp-perl) as a fixture."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.procs import free_port

SMSC_SCRIPT = Path(__file__).with_name("smsc.pl")


def has_net_smpp() -> bool:
    if shutil.which("perl") is None:
        return False
    return (
        subprocess.run(["perl", "-MNet::SMPP", "-e", "1"], capture_output=True, check=False).returncode == 0
    )


@dataclass
class PerlSmsc:
    """One run of smsc.pl; ``start`` again (same port) to simulate an SMSC restart."""

    port: int
    workdir: Path
    runs: list[subprocess.Popen[str]] = field(default_factory=list)

    def start(self, *options: str, log: str = "smsc.log") -> subprocess.Popen[str]:
        process = subprocess.Popen(
            ["perl", str(SMSC_SCRIPT), "--port", str(self.port), "--log", str(self.workdir / log), *options],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until it listens, or EOF if it died
        if not line.startswith("LISTENING"):
            process.kill()
            raise RuntimeError("smsc.pl did not start")
        self.runs.append(process)
        return process

    def log(self, name: str = "smsc.log") -> list[list[str]]:
        path = self.workdir / name
        if not path.exists():
            return []
        return [line.split("\t") for line in path.read_text().splitlines()]

    def submits(self, name: str = "smsc.log") -> list[list[str]]:
        return [row for row in self.log(name) if row[0] == "SUBMIT"]

    def stop(self) -> None:
        for process in self.runs:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)
            if process.stdout is not None:
                process.stdout.close()


@pytest.fixture
def perl_smsc(tmp_path: Path) -> Iterator[PerlSmsc]:
    if not has_net_smpp():
        if os.environ.get("CI"):
            pytest.fail("libnet-smpp-perl is required in CI (scripts/apt-packages.txt)")
        pytest.skip("needs Debian's libnet-smpp-perl")
    smsc = PerlSmsc(free_port(), tmp_path)
    try:
        yield smsc
    finally:
        smsc.stop()
