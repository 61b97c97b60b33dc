"""deploy/haproxy.cfg in front of two `telex serve` nodes: on SIGTERM a node's /readyz turns 503
while it still serves, HAProxy takes it out, and only then does the node stop; no request through
HAProxy fails meanwhile."""

from __future__ import annotations

import base64
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.support.apiversions import hooks
from tests.support.live import LiveServer
from tests.support.pg import PostgresCluster
from tests.support.procs import free_port
from tests.support.signing import HmacSigner

_CONFIG = Path(__file__).parents[2] / "deploy" / "haproxy.cfg"
_DRAIN = 5.0


def _haproxy_config(port: int, stats: Path, nodes: list[LiveServer]) -> str:
    """The repository's file with this test's addresses: each replaced line must be there."""
    text = _CONFIG.read_text()
    replacements = {
        "    log /dev/log local0\n": f"    stats socket {stats} mode 600 level admin\n",
        "    bind :443 ssl crt /etc/haproxy/telex.pem\n": f"    bind 127.0.0.1:{port}\n",
        "    server node1 10.0.0.11:8080 check\n": f"    server node1 127.0.0.1:{nodes[0].port} check\n",
        "    server node2 10.0.0.12:8080 check\n": f"    server node2 127.0.0.1:{nodes[1].port} check\n",
        "    server node3 10.0.0.13:8080 check\n": "",
    }
    for old, new in replacements.items():
        assert old in text, f"deploy/haproxy.cfg lacks {old!r}"
        text = text.replace(old, new)
    return text


def _status(stats: Path) -> dict[str, str]:
    """Each server's state as HAProxy sees it (UP, DOWN, ...), from its stats socket."""
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(stats))
        s.sendall(b"show stat\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    rows = [line.split(",") for line in data.decode().splitlines() if line and not line.startswith("#")]
    return {r[1]: r[17] for r in rows if r[0] == "telex_nodes" and r[1].startswith("node")}


def _until(predicate: object, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.e2e
def test_haproxy_takes_a_draining_node_out_before_it_stops(
    pg_cluster: PostgresCluster, tmp_path: Path
) -> None:
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        pytest.skip("haproxy not installed (scripts/apt-packages.txt)")
    database = pg_cluster.create_database()
    env = {"TELEX_HTTP__DRAIN_SECONDS": str(_DRAIN)}
    nodes = [LiveServer(tmp_path / n, database=database, env=env) for n in ("a", "b")]
    for node in nodes:
        node.start()
    port, stats = free_port(), tmp_path / "haproxy.sock"
    config = tmp_path / "haproxy.cfg"
    config.write_text(_haproxy_config(port, stats, nodes))
    proxy = subprocess.Popen([haproxy, "-db", "-f", str(config)], stderr=subprocess.PIPE, text=True)
    failures: list[str] = []
    stop = threading.Event()

    def load() -> None:
        key = base64.b64decode(nodes[0].access_key)
        with httpx.Client(
            event_hooks=hooks(), base_url=f"http://127.0.0.1:{port}", auth=HmacSigner(key), timeout=10
        ) as c:
            while not stop.is_set():
                try:
                    r = c.post("/identities")
                    if r.status_code != 201:
                        failures.append(f"{r.status_code} {r.text[:100]}")
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                time.sleep(0.02)

    worker = threading.Thread(target=load)
    try:
        _until(lambda: stats.exists() and set(_status(stats).values()) == {"UP"}, 20)
        worker.start()
        time.sleep(0.5)  # load through both nodes before the stop
        sent = time.monotonic()
        nodes[0].signal(signal.SIGTERM)
        _until(lambda: _status(stats)["node1"].startswith("DOWN"), _DRAIN + 10)
        taken_out = time.monotonic() - sent
        assert nodes[0].proc is not None and nodes[0].proc.poll() is None, (
            "the node stopped before HAProxy knew"
        )
        assert nodes[0].proc.wait(_DRAIN + 20) == 0
        exited = time.monotonic() - sent
        time.sleep(0.5)  # load through the remaining node
        stop.set()
        worker.join(15)
        assert not failures, failures[:5]
        print(f"HAProxy took the node out {taken_out:.2f} s after SIGTERM; it exited at {exited:.2f} s")
    finally:
        stop.set()
        proxy.terminate()
        proxy.wait(10)
        for node in nodes:
            node.stop()
