#!/usr/bin/env python3
"""Realtime fan-out: Telex's /realtime against a bare ``websockets`` broadcast server, same run.

    python bench/realtime.py [--sockets 200] [--messages 300] [--idle 10000] [--json out.json]

Fan-out. One node, one chat thread of ``--sockets`` members, each connected on its own
/realtime socket (the sink clients run in this process and only count frames). A sender posts
``--messages`` messages; every one reaches every socket. Server CPU per delivery is
(CPU of the run − CPU of the same sends with no socket open) ÷ deliveries, so the request path
of the sends is not counted: what is left is the hub, the session and the socket writes.
The peer is the ``websockets`` library's own ``broadcast()`` in a bare server (a subprocess of
this script) sending frames of the same size to the same number of sockets of the same client,
one event at a time at the rate Telex sustained (the same shape of work: each event's writes,
then a pause): the ceiling of Python WebSocket fan-out on this machine. It also runs flat out,
events back to back, where the kernel and the client batch more per wake-up; both are printed.
Reported: deliveries per CPU-second of each, and Telex's share of each ceiling.

Idle. ``--idle`` authenticated sockets held open doing nothing; server RSS growth per socket, for
Telex and for the bare server (whose sockets hold nothing but the library's own state).

The machine is shared (2 cores, client and servers on it): read the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.apiversions import async_hooks
from tests.support.procs import access_key, cpu_seconds, free_port
from tests.support.signing import HmacSigner

OPEN_LIMITS = {
    "TELEX_CHAT__MESSAGES_PER_THREAD_PER_10S": "0",
    "TELEX_CHAT__MESSAGES_PER_THREAD_PER_MINUTE": "0",
    "TELEX_CHAT__THREADS_PER_USER_PER_10S": "0",
    # Idle sockets must outlive the run's pauses; heartbeats would be traffic.
    "TELEX_REALTIME__HEARTBEAT_SECONDS": "600",
    # Thousands of sockets from one address (and per user in the fan-out run): lift the caps.
    "TELEX_REALTIME__MAX_SOCKETS_PER_IP": "0",
    "TELEX_REALTIME__MAX_SOCKETS_PER_USER": "0",
    "TELEX_HTTP__MAX_CONNECTIONS_PER_IP": "0",
}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def raise_fd_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Sinks:
    """Sockets that only count the frames they receive."""

    def __init__(self) -> None:
        self.frames = 0
        self.frame_bytes = 0
        self.tasks: list[asyncio.Task[None]] = []
        self.sockets: list[ClientConnection] = []

    def add(self, ws: ClientConnection) -> None:
        self.sockets.append(ws)
        self.tasks.append(asyncio.create_task(self._read(ws)))

    async def _read(self, ws: ClientConnection) -> None:
        with contextlib.suppress(Exception):
            async for frame in ws:
                self.frames += 1
                self.frame_bytes = len(frame)

    async def until(self, total: int, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while self.frames < total and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)


# the peer: a bare websockets broadcast server (this script, run with --peer) -------------------


def run_peer(port: int) -> None:
    from websockets.asyncio.server import ServerConnection, broadcast, serve

    clients: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        if ws.request.path.startswith("/go/"):  # the control connection: /go/<count>/<size>/<rate>
            _, _, count, size, rate = ws.request.path.split("/")
            frame, interval = "x" * int(size), 1 / float(rate)
            loop = asyncio.get_running_loop()
            start = loop.time()
            for i in range(int(count)):
                broadcast(clients, frame)
                # One event at a time, at the rate Telex sustained: the same shape of work.
                await asyncio.sleep(max(0.0, start + (i + 1) * interval - loop.time()))
            await ws.send("done")
            return
        clients.add(ws)
        try:
            await ws.wait_closed()
        finally:
            clients.discard(ws)

    async def main() -> None:
        async with serve(handler, "127.0.0.1", port, max_size=2**20, compression=None):
            print("ready", flush=True)
            await asyncio.Future()

    asyncio.run(main())


class Peer:
    def __init__(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--peer", str(self.port)], stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "ready"
        self.url = f"ws://127.0.0.1:{self.port}/"

    async def open(self, sinks: Sinks, count: int) -> None:
        gate = asyncio.Semaphore(100)

        async def one() -> None:
            async with gate:
                sinks.add(await connect(self.url, compression=None, max_size=2**20))

        await asyncio.gather(*(one() for _ in range(count)))

    async def broadcast(self, count: int, size: int, rate: float) -> None:
        async with connect(f"{self.url}go/{count}/{size}/{rate}", compression=None) as control:
            assert await control.recv() == "done"

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# Telex -------------------------------------------------------------------------------------------


class Telex:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TELEX_")} | OPEN_LIMITS
        # Never the default admin port (9464): another server on this machine may hold it.
        env["TELEX_HTTP__ADMIN_PORT"] = str(free_port())
        env["TELEX_TURN__TLS_PORT"] = str(free_port())  # never the default 5349: another server may hold it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "telex", "serve", "--data-dir", str(workdir / "telex"), "--port", str(self.port),
             "--tls-port", str(free_port()), "--turn-port", str(free_port(socket.SOCK_DGRAM))],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
        )  # fmt: skip
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if "accesskey=" in line:  # the banner: the node is up (it shows only the key's start)
                break
        key = access_key(workdir / "telex", env)
        self.url = f"http://127.0.0.1:{self.port}"
        self.signer = HmacSigner(key)

    async def users(self, http: httpx.AsyncClient, n: int) -> list[tuple[str, str]]:
        out = []
        for _ in range(n):
            r = await http.post("/identities", json={"createTokenWithScopes": ["chat"]}, auth=self.signer)
            r.raise_for_status()
            out.append((r.json()["identity"]["id"], r.json()["accessToken"]["token"]))
        return out

    async def socket(self, token: str) -> ClientConnection:
        ws = await connect(self.url.replace("http", "ws") + "/realtime", compression=None, max_size=2**22)
        await ws.send(json.dumps({"type": "auth", "token": token}))
        assert json.loads(await ws.recv())["type"] == "ready"
        return ws

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def telex_fanout(telex: Telex, sockets: int, messages: int) -> dict[str, float]:
    async with httpx.AsyncClient(event_hooks=async_hooks(), base_url=telex.url, timeout=60) as http:
        users = await telex.users(http, sockets)
        owner = users[0]
        headers = {"authorization": f"Bearer {owner[1]}"}
        body = {
            "topic": "fan-out",
            "participants": [{"communicationIdentifier": {"rawId": u}} for u, _ in users],
        }
        thread = (await http.post("/chat/threads", json=body, headers=headers)).json()["chatThread"]["id"]
        text = "m" * 100

        async def send_all() -> float:
            cpu0 = cpu_seconds(telex.proc.pid)
            for _ in range(messages):
                r = await http.post(
                    f"/chat/threads/{thread}/messages", json={"content": text}, headers=headers
                )
                assert r.status_code == 201, r.text
            return cpu_seconds(telex.proc.pid) - cpu0

        baseline = await send_all()  # nobody connected: the sends alone
        sinks = Sinks()
        gate = asyncio.Semaphore(50)

        async def one(token: str) -> None:
            async with gate:
                sinks.add(await telex.socket(token))

        await asyncio.gather(*(one(t) for _, t in users))
        await asyncio.sleep(0.5)
        start = sinks.frames
        t0 = time.perf_counter()
        cpu0 = cpu_seconds(telex.proc.pid)
        await send_all()
        await sinks.until(start + messages * sockets)
        total_cpu = cpu_seconds(telex.proc.pid) - cpu0
        wall = time.perf_counter() - t0
        delivered = sinks.frames - start
        await sinks.close()
    fanout_cpu = max(total_cpu - baseline, 1e-9)
    return {
        "deliveries": delivered,
        "expected": messages * sockets,
        "wall_s": wall,
        "send_cpu_ms_per_msg": baseline / messages * 1000,
        "fanout_cpu_us_per_delivery": fanout_cpu / max(delivered, 1) * 1e6,
        "deliveries_per_cpu_s": delivered / fanout_cpu,
        "frame_bytes": sinks.frame_bytes,
    }


async def peer_fanout(
    peer: Peer, sockets: int, messages: int, frame_bytes: int, rate: float
) -> dict[str, float]:
    sinks = Sinks()
    await peer.open(sinks, sockets)
    await asyncio.sleep(0.5)
    cpu0 = cpu_seconds(peer.proc.pid)
    await peer.broadcast(messages, frame_bytes, rate)
    await sinks.until(messages * sockets)
    cpu = cpu_seconds(peer.proc.pid) - cpu0
    delivered = sinks.frames
    await sinks.close()
    return {
        "deliveries": delivered,
        "cpu_us_per_delivery": cpu / max(delivered, 1) * 1e6,
        "deliveries_per_cpu_s": delivered / max(cpu, 1e-9),
    }


async def telex_idle(telex: Telex, count: int) -> float:
    async with httpx.AsyncClient(event_hooks=async_hooks(), base_url=telex.url, timeout=60) as http:
        users = await telex.users(http, 50)
    before = rss_kib(telex.proc.pid)
    sinks = Sinks()
    gate = asyncio.Semaphore(100)

    async def one(i: int) -> None:
        async with gate:
            sinks.add(await telex.socket(users[i % len(users)][1]))

    await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(count))), 900)
    await asyncio.sleep(2)
    per = (rss_kib(telex.proc.pid) - before) / count
    await sinks.close()
    return per


async def peer_idle(peer: Peer, count: int) -> float:
    before = rss_kib(peer.proc.pid)
    sinks = Sinks()
    await peer.open(sinks, count)
    await asyncio.sleep(2)
    per = (rss_kib(peer.proc.pid) - before) / count
    await sinks.close()
    return per


async def main(args: argparse.Namespace) -> dict[str, Any]:
    raise_fd_limit()
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="telex-bench-") as tmp:
        telex = Telex(Path(tmp))
        try:
            report["telex"] = await telex_fanout(telex, args.sockets, args.messages)
            if args.idle:
                report["telex_idle_kib"] = await telex_idle(telex, args.idle)
        finally:
            telex.stop()
    peer = Peer()
    try:
        t = report["telex"]
        rate = args.messages / t["wall_s"]  # one event at a time, at the rate Telex sustained
        report["peer"] = await peer_fanout(peer, args.sockets, args.messages, int(t["frame_bytes"]), rate)
        # and flat out: broadcast() as fast as it goes, events back to back
        report["peer_burst"] = await peer_fanout(
            peer, args.sockets, args.messages, int(t["frame_bytes"]), 1e9
        )
        if args.idle:
            report["peer_idle_kib"] = await peer_idle(peer, args.idle)
    finally:
        peer.stop()
    t, p, b = report["telex"], report["peer"], report["peer_burst"]
    report["share_of_ceiling"] = t["deliveries_per_cpu_s"] / p["deliveries_per_cpu_s"]
    report["share_of_burst_ceiling"] = t["deliveries_per_cpu_s"] / b["deliveries_per_cpu_s"]
    print(f"fan-out: {args.messages} messages to {args.sockets} sockets ({t['frame_bytes']} B frames)")
    print(
        f"  Telex      {t['deliveries']:>7} deliveries  {t['fanout_cpu_us_per_delivery']:6.1f} µs CPU each  "
        f"{t['deliveries_per_cpu_s']:>9,.0f} per CPU-second  (the sends alone: {t['send_cpu_ms_per_msg']:.2f} ms/msg)"
    )
    for label, q in (("same event rate: the ceiling", p), ("events back to back", b)):
        print(
            f"  websockets {q['deliveries']:>7} deliveries  {q['cpu_us_per_delivery']:6.1f} µs CPU each  "
            f"{q['deliveries_per_cpu_s']:>9,.0f} per CPU-second  (bare broadcast(), {label})"
        )
    print(
        f"  Telex reaches {report['share_of_ceiling']:.0%} of the ceiling "
        f"({report['share_of_burst_ceiling']:.0%} of the back-to-back one)"
    )
    if args.idle:
        print(f"idle: {args.idle} sockets, server RSS per socket: Telex {report['telex_idle_kib']:.1f} KiB, "
              f"bare websockets {report['peer_idle_kib']:.1f} KiB")  # fmt: skip
    return report


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--peer":
        run_peer(int(sys.argv[2]))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=200)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--idle", type=int, default=10_000, help="idle sockets to hold open (0: skip)")
    parser.add_argument("--json", type=Path)
    ns = parser.parse_args()
    out = asyncio.run(main(ns))
    if ns.json:
        ns.json.write_text(json.dumps(out, indent=2))
