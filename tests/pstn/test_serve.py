"""``telex serve`` with a SIP trunk: the banner names the gateway's ports and trunks, and a SIP
port another process holds is one line naming the setting."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.live import LiveServer
from tests.support.procs import free_port

pytestmark = pytest.mark.timeout(90)


def config(tmp_path: Path, udp: int) -> Path:
    path = tmp_path / "telex.toml"
    path.write_text(
        f'[sip]\nudp_port = {udp}\ntcp_port = 0\n\n[[sip.trunks]]\nname = "acme"\nhost = "127.0.0.1"\n'
    )
    return path


def test_the_banner_shows_the_gateway(tmp_path: Path) -> None:
    udp = free_port(socket.SOCK_DGRAM)
    with LiveServer(tmp_path / "data", extra_args=["--config", str(config(tmp_path, udp))]) as server:
        line = next(line for line in server.output if "SIP" in line)
        assert f"127.0.0.1:{udp} (udp) trunks: acme 127.0.0.1" in line


def test_a_busy_sip_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as held:
        held.bind(("127.0.0.1", 0))
        udp = held.getsockname()[1]
        turn = free_port(socket.SOCK_DGRAM)
        ports = ["--port", str(free_port()), "--tls-port", str(free_port()),
                 "--turn-port", str(turn), "--turns-port", str(free_port())]  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-m", "telex", "serve", "--data-dir", str(tmp_path / "data"), *ports,
             "--config", str(config(tmp_path, udp))],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "sip.udp_port" in line and str(udp) in line
