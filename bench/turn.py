#!/usr/bin/env python3
"""TURN relay benchmark: Telex vs coturn, same client, same machine, same run.

    python bench/turn.py [--clients 50] [--messages 2000] [--size 100]

Each server is started fresh on 127.0.0.1 (Telex: ``telex turn`` in a subprocess, on uvloop when
installed; coturn: Debian's ``turnserver`` with REST auth), then ``turnutils_uclient`` (REST
credentials, ``-c`` one allocation per client, ChannelData) relays ``clients x messages``
round trips to a ``turnutils_peer`` echo peer. One round trip is two relayed datagrams (client →
peer and peer → client), each one receive plus one send inside the server.

Reported per server: relayed datagrams, datagrams/s over uclient's transmit time (whole seconds,
a lower bound: uclient paces each client at 1 message per ms and is often the bottleneck,
performance.md pitfall 4), the server's CPU time from /proc/<pid>/stat, CPU microseconds per
relayed datagram (the comparable figure), and loss. Bounded: every run is wrapped in a timeout.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.procs import cpu_seconds, free_udp_tcp_port

SECRET = "bench-secret"


@dataclass
class Result:
    name: str
    relayed: int
    per_second: float
    cpu_seconds: float
    lost: int
    wall: float
    rcvbuf_errors: int

    @property
    def us_per_datagram(self) -> float:
        return self.cpu_seconds / self.relayed * 1e6 if self.relayed else float("nan")


def udp_rcvbuf_errors() -> int:
    """Kernel-wide UDP receive-buffer drops: on loopback, loss is these, not CPU (performance.md §4.5)."""
    header, values = [
        line.split() for line in Path("/proc/net/snmp").read_text().splitlines() if line.startswith("Udp:")
    ][:2]
    return int(values[header.index("RcvbufErrors")])


def wait_for_stun(port: int, timeout: float = 15.0) -> None:
    request = bytes.fromhex("000100002112a442") + os.urandom(12)
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        while time.monotonic() < deadline:
            s.sendto(request, ("127.0.0.1", port))
            try:
                s.recvfrom(2048)
                return
            except TimeoutError:
                continue
    raise RuntimeError(f"no STUN answer on port {port}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_telex(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    config = workdir / "telex.toml"
    # Loopback peers: the echo peer is on 127.0.0.1 (bench only). No bandwidth cap, and RFC 5766
    # channel numbers because uclient 4.6 picks them from 0x4000-0x7FFF.
    config.write_text(
        "[turn]\nallow_loopback_peers = true\nmax_bytes_per_second = 0\nrfc5766_channels = true\n"
        "user_quota = 1000\nmin_port = 49152\nmax_port = 65535\n"
    )
    secret = workdir / "secret"
    secret.write_text(SECRET + "\n")
    cmd = [sys.executable, "-m", "telex.turn.cli", "turn", "--config", str(config)]
    cmd += ["--port", str(port), "--secret-file", str(secret)]
    env = {**os.environ, "TELEX_DATA_DIR": str(workdir)}
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, env=env)


def start_coturn(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    cmd = [
        "turnserver", "-n", "--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1",
        "--listening-port", str(port), "--no-tls", "--no-dtls", "--no-cli",
        "--use-auth-secret", "--static-auth-secret", SECRET, "--realm", "telex",
        "--allow-loopback-peers", "--min-port", "49152", "--max-port", "65535",
        "--userdb", str(workdir / "turndb"), "--pidfile", str(workdir / "turnserver.pid"),
        "--log-file", str(workdir / "turnserver.log"), "--simple-log", "--no-stdout-log",
    ]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run_uclient(port: int, peer_port: int, args: argparse.Namespace) -> tuple[int, int, int, int]:
    cmd = ["turnutils_uclient", "-W", SECRET, "-u", "bench", "-e", "127.0.0.1", "-r", str(peer_port)]
    cmd += ["-m", str(args.clients), "-n", str(args.messages), "-z", "1", "-l", str(args.size), "-c"]
    cmd += ["-p", str(port), "127.0.0.1"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False).stdout
    totals = re.findall(r"tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\n", out)
    transmit = re.findall(r"Total transmit time is (\d+)", out)
    lost = re.findall(r"Total lost packets (\d+)", out)
    if not totals or not transmit:
        raise RuntimeError("uclient failed:\n" + out[-3000:])
    sent, received = map(int, totals[-1])
    return sent, received, int(transmit[-1]), int(lost[-1]) if lost else -1


def bench(name: str, starter: object, peer_port: int, args: argparse.Namespace) -> Result:
    with tempfile.TemporaryDirectory(prefix=f"bench-turn-{name}-") as tmp:
        port = free_udp_tcp_port()
        proc = starter(Path(tmp), port)  # type: ignore[operator]
        try:
            wait_for_stun(port)
            cpu0, wall0, drops0 = cpu_seconds(proc.pid), time.monotonic(), udp_rcvbuf_errors()
            _, received, transmit, lost = run_uclient(port, peer_port, args)
            cpu1, wall1, drops1 = cpu_seconds(proc.pid), time.monotonic(), udp_rcvbuf_errors()
        finally:
            stop(proc)
    relayed = 2 * received
    return Result(
        name, relayed, relayed / max(transmit, 1), cpu1 - cpu0, lost, wall1 - wall0, drops1 - drops0
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--size", type=int, default=100)
    args = parser.parse_args()
    for tool in ("turnserver", "turnutils_uclient", "turnutils_peer"):
        if shutil.which(tool) is None:
            print(f"{tool} not found: apt-get install coturn", file=sys.stderr)
            return 2
    peer_port = free_udp_tcp_port()
    peer = subprocess.Popen(
        ["turnutils_peer", "-L", "127.0.0.1", "-p", str(peer_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        results = [
            bench("telex", start_telex, peer_port, args),
            bench("coturn", start_coturn, peer_port, args),
        ]
    finally:
        stop(peer)
    print(f"date_utc={time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} cpus={os.cpu_count()} "
          f"clients={args.clients} messages={args.messages} size={args.size}")  # fmt: skip
    print(
        f"{'server':8} {'relayed':>9} {'datagrams/s':>12} {'cpu s':>7} {'cpu µs/dgram':>13} "
        f"{'lost':>6} {'rcvbuf err':>10} {'wall s':>7}"
    )
    for r in results:
        print(
            f"{r.name:8} {r.relayed:9d} {r.per_second:12.0f} {r.cpu_seconds:7.2f} "
            f"{r.us_per_datagram:13.1f} {r.lost:6d} {r.rcvbuf_errors:10d} {r.wall:7.1f}"
        )
    telex, coturn = results
    print(
        f"ratio telex/coturn: datagrams/s {telex.per_second / coturn.per_second:.2f}, "
        f"cpu per datagram {telex.us_per_datagram / coturn.us_per_datagram:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
