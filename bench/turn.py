#!/usr/bin/env python3
"""TURN relay benchmark: Telex vs coturn, same client, same machine, same run.

    python bench/turn.py [--scenario saturation|calls|both] [--runs 1]
                         [--clients 50] [--messages 2000] [--size 100]
                         [--streams 200] [--pps 50] [--seconds 20] [--python-path]

Each server is started fresh on 127.0.0.1 (Telex: ``telex turn`` in a subprocess, on uvloop when
installed, UDP ChannelData on its native data path unless ``--python-path``; coturn: Debian's ``turnserver`` with REST auth), then ``turnutils_uclient`` (REST
credentials, ``-c`` one allocation per client, ChannelData) relays round trips to a
``turnutils_peer`` echo peer. One round trip is two relayed datagrams (client → peer and
peer → client), each one receive plus one send inside the server. Two load shapes:

    saturation  ``clients`` x ``messages`` round trips, each client paced at 1 per ms (-z 1): as
                fast as uclient goes. CPU is counted over the whole uclient run.
    calls       ``streams`` allocations at ``pps`` round trips per second each (-z 1000/pps), for
                ``seconds``: the shape of audio calls (50 packets/s per direction). uclient
                allocates serially and staggers the starts, so CPU is counted only over the
                steady state: from uclient's first per-second progress line at the full rate to
                its last one, sampled as each line arrives.

Reported per server: relayed datagrams, datagrams/s, the server's CPU time (the sum of its
threads' scheduler run time, /proc/<pid>/task/*/schedstat), CPU microseconds per relayed datagram
(the comparable figure; uclient is often the throughput bottleneck, performance.md pitfall 4),
and loss. Servers alternate within a run. Bounded: every uclient run has a timeout.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.procs import free_udp_tcp_port

SECRET = "bench-secret"


@dataclass
class Result:
    scenario: str
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


def cpu_seconds(pid: int) -> float:
    """CPU time of every thread of ``pid`` so far, in nanoseconds of scheduler run time (finer
    than /proc/<pid>/stat's 10 ms ticks, which matter over a steady-state window of a few s)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread that ended between listing and reading
    return total / 1e9


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


def start_telex(workdir: Path, port: int, native: bool = True) -> subprocess.Popen[bytes]:
    config = workdir / "telex.toml"
    # Loopback peers: the echo peer is on 127.0.0.1 (bench only). No bandwidth cap, RFC 5766
    # channel numbers because uclient 4.6 picks them from 0x4000-0x7FFF, and credentials valid for
    # a day because that is what uclient -W makes (Telex's default accepts at most 5 minutes).
    config.write_text(
        "[turn]\nallow_loopback_peers = true\nmax_bytes_per_second = 0\nrfc5766_channels = true\n"
        "user_quota = 1000\nmin_port = 49152\nmax_port = 65535\nmax_credential_ttl = 172800\n"
    )
    secret = workdir / "secret"
    secret.write_text(SECRET + "\n")
    cmd = [sys.executable, "-m", "telex", "turn", "--config", str(config)]
    cmd += ["--port", str(port), "--secret-file", str(secret)]
    env = {**os.environ, "TELEX_DATA_DIR": str(workdir), "TELEX_TURN_NATIVE": "1" if native else "0"}
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


def uclient_command(
    port: int, peer_port: int, clients: int, messages: int, interval: int, size: int
) -> list[str]:
    cmd = ["turnutils_uclient", "-W", SECRET, "-u", "bench", "-e", "127.0.0.1", "-r", str(peer_port)]
    cmd += ["-m", str(clients), "-n", str(messages), "-z", str(interval), "-l", str(size), "-c"]
    return [*cmd, "-p", str(port), "127.0.0.1"]


_PROGRESS = re.compile(r"tot_send_msgs=(\d+), tot_recv_msgs=(\d+)")


def run_uclient(cmd: list[str], pid: int, timeout: float) -> tuple[str, list[tuple[float, int, int]]]:
    """Run uclient; return its output and, for each per-second progress line, (server CPU seconds
    when the line arrived, messages sent, messages received)."""
    samples: list[tuple[float, int, int]] = []
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1) as uc:
        assert uc.stdout is not None
        try:
            for line in uc.stdout:
                lines.append(line)
                match = _PROGRESS.search(line)
                if match and "msz=" in line:
                    samples.append((cpu_seconds(pid), int(match[1]), int(match[2])))
                if time.monotonic() > deadline:
                    raise RuntimeError("uclient did not finish in time")
        finally:
            if uc.poll() is None:
                uc.kill()
            uc.wait()
    return "".join(lines), samples


def totals(out: str) -> tuple[int, int, int]:
    totals_ = re.findall(r"tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\n", out)
    transmit = re.findall(r"Total transmit time is (\d+)", out)
    lost = re.findall(r"Total lost packets (\d+)", out)
    if not totals_ or not transmit:
        raise RuntimeError("uclient failed:\n" + out[-3000:])
    return int(totals_[-1][1]), int(transmit[-1]), int(lost[-1]) if lost else -1


def steady_window(samples: list[tuple[float, int, int]], rate: float) -> tuple[float, int, float]:
    """(CPU seconds, relayed datagrams, seconds) between the first and the last progress line at
    which every stream was sending: sent messages grew by at least 95 % of ``rate`` since the line
    before."""
    full = [i for i in range(1, len(samples)) if samples[i][1] - samples[i - 1][1] >= 0.95 * rate]
    if len(full) < 3:
        raise RuntimeError(f"no steady state in uclient's progress: {samples}")
    first, last = samples[full[0]], samples[full[-1]]
    relayed = (last[1] - first[1]) + (last[2] - first[2])
    return last[0] - first[0], relayed, float(full[-1] - full[0])


Starter = Callable[[Path, int], "subprocess.Popen[bytes]"]


def bench(scenario: str, name: str, starter: Starter, peer_port: int, args: argparse.Namespace) -> Result:
    with tempfile.TemporaryDirectory(prefix=f"bench-turn-{name}-") as tmp:
        port = free_udp_tcp_port()
        proc = starter(Path(tmp), port)
        try:
            wait_for_stun(port)
            cpu0, wall0, drops0 = cpu_seconds(proc.pid), time.monotonic(), udp_rcvbuf_errors()
            if scenario == "saturation":
                cmd = uclient_command(port, peer_port, args.clients, args.messages, 1, args.size)
                out, _ = run_uclient(cmd, proc.pid, 120)
            else:
                interval = round(1000 / args.pps)
                cmd = uclient_command(
                    port, peer_port, args.streams, args.pps * args.seconds, interval, args.size
                )
                out, samples = run_uclient(cmd, proc.pid, 60 + args.streams / 5 + 2 * args.seconds)
            cpu1, wall1, drops1 = cpu_seconds(proc.pid), time.monotonic(), udp_rcvbuf_errors()
        finally:
            stop(proc)
    received, transmit, lost = totals(out)
    if scenario == "saturation":
        relayed = 2 * received
        return Result(
            scenario,
            name,
            relayed,
            relayed / max(transmit, 1),
            cpu1 - cpu0,
            lost,
            wall1 - wall0,
            drops1 - drops0,
        )
    cpu, relayed, seconds = steady_window(samples, args.streams * 1000 / interval)
    return Result(scenario, name, relayed, relayed / seconds, cpu, lost, wall1 - wall0, drops1 - drops0)


def retried(scenario: str, name: str, starter: Starter, peer_port: int, args: argparse.Namespace) -> Result:
    """One more try when uclient gives up: on a loaded box its first ChannelBind may time out, and a
    retry with another channel number for the same peer is then refused (400, RFC 8656 §12)."""
    try:
        return bench(scenario, name, starter, peer_port, args)
    except RuntimeError as exc:
        print(f"{name} {scenario}: {str(exc).splitlines()[-1]}; running it again", file=sys.stderr)
        return bench(scenario, name, starter, peer_port, args)


def report(scenario: str, results: list[Result], args: argparse.Namespace) -> None:
    shape = (
        f"clients={args.clients} messages={args.messages}"
        if scenario == "saturation"
        else f"streams={args.streams} pps={args.pps} seconds={args.seconds}"
    )
    print(f"\nscenario={scenario} {shape} size={args.size}")
    print(
        f"{'run':>3} {'server':8} {'relayed':>9} {'datagrams/s':>12} {'cpu s':>7} {'cpu µs/dgram':>13} "
        f"{'lost':>6} {'rcvbuf err':>10} {'wall s':>7}"
    )
    for i, r in enumerate(results):
        print(
            f"{i // 2 + 1:3d} {r.name:8} {r.relayed:9d} {r.per_second:12.0f} {r.cpu_seconds:7.2f} "
            f"{r.us_per_datagram:13.2f} {r.lost:6d} {r.rcvbuf_errors:10d} {r.wall:7.1f}"
        )
    ratios = []
    for telex, coturn in zip(results[::2], results[1::2], strict=True):
        ratios.append(telex.us_per_datagram / coturn.us_per_datagram)
    print(f"ratio telex/coturn cpu per datagram ({scenario}): " + ", ".join(f"{r:.2f}" for r in ratios))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenario", choices=["saturation", "calls", "both"], default="both")
    parser.add_argument("--runs", type=int, default=1, help="repeat each scenario, servers alternating")
    parser.add_argument("--clients", type=int, default=50, help="saturation: uclient sessions")
    parser.add_argument("--messages", type=int, default=2000, help="saturation: round trips per session")
    parser.add_argument("--size", type=int, default=100, help="payload bytes")
    parser.add_argument("--streams", type=int, default=200, help="calls: concurrent allocations")
    parser.add_argument("--pps", type=int, default=50, help="calls: packets per second per stream")
    parser.add_argument("--seconds", type=int, default=20, help="calls: how long each stream sends")
    parser.add_argument(
        "--python-path",
        action="store_true",
        help="run Telex on its pure-Python data path (TELEX_TURN_NATIVE=0)",
    )
    args = parser.parse_args()
    for tool in ("turnserver", "turnutils_uclient", "turnutils_peer"):
        if shutil.which(tool) is None:
            print(f"{tool} not found: apt-get install coturn", file=sys.stderr)
            return 2
    scenarios = ["saturation", "calls"] if args.scenario == "both" else [args.scenario]
    peer_port = free_udp_tcp_port()
    peer = subprocess.Popen(
        ["turnutils_peer", "-L", "127.0.0.1", "-p", str(peer_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    results: dict[str, list[Result]] = {s: [] for s in scenarios}
    try:
        for scenario in scenarios:
            for _ in range(args.runs):
                name, starter = "telex", start_telex
                if args.python_path:
                    name, starter = "telex-py", functools.partial(start_telex, native=False)
                results[scenario].append(retried(scenario, name, starter, peer_port, args))
                results[scenario].append(retried(scenario, "coturn", start_coturn, peer_port, args))
    finally:
        stop(peer)
    print(f"date_utc={time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} cpus={os.cpu_count()}")
    for scenario in scenarios:
        report(scenario, results[scenario], args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
