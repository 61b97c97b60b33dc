"""Chat benchmark: Telex against Matrix Synapse on this machine, the same workload in the same run.

    python bench/chat.py [--quick] [--synapse-venv DIR] [--idle 5000] [--json out.json]

For threads (rooms) of 2, 10 and 100 members, every member connected (Telex: one WebSocket
each on /realtime; Synapse: one /sync long-poll loop each), a few members send messages in a
closed loop, after a few unmeasured warm-up messages each. Reported per system and size: sustained sends/s, send→deliver latency p50/p99 over
every delivery to a non-sending member, and server CPU per message (from /proc). Then 5,000 idle
authenticated realtime connections to Telex and its RSS growth (connections per GiB).

Both servers run on 127.0.0.1 with SQLite and their rate limits lifted. Synapse runs with SQLite,
its client listener only and presence off; it needs a venv with ``matrix-synapse`` (``--synapse-venv``, default $SYNAPSE_VENV or
$TMPDIR/chatwork/synapse-venv); without one, only Telex is measured. Every loop is bounded by a
count and a timeout; the bench client shares the 2 cores with the server under test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from telex.identity.hmac_auth import sign

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.notifications.client import NotificationClient
from tests.support.apiversions import async_hooks
from tests.support.procs import access_key, cpu_seconds, free_port

OPEN_LIMITS = {
    "TELEX_CHAT__MESSAGES_PER_THREAD_PER_10S": "0",
    "TELEX_CHAT__MESSAGES_PER_THREAD_PER_MINUTE": "0",
    "TELEX_CHAT__THREADS_PER_USER_PER_10S": "0",
    "TELEX_CHAT__TYPING_PER_USER_PER_10S": "0",
    "TELEX_HTTP__MAX_CONNECTIONS_PER_IP": "0",
    "TELEX_REALTIME__MAX_SOCKETS_PER_IP": "0",
    "TELEX_REALTIME__MAX_SOCKETS_PER_USER": "0",
    "TELEX_NOTIFICATIONS__MAX_SOCKETS_PER_IP": "0",
    "TELEX_NOTIFICATIONS__MAX_SOCKETS_PER_USER": "0",
}
DELIVERY_TIMEOUT = 120.0


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


class Server:
    """A server process and its CPU and memory as /proc reports them."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=cwd
        )

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Result:
    system: str
    members: int
    messages: int
    sends_per_s: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_msg: float
    deliveries: int
    missing: int

    def row(self) -> str:
        return (
            f"| {self.system} | {self.members} | {self.messages} | {self.sends_per_s:.0f} | {self.p50_ms:.1f} | "
            f"{self.p99_ms:.1f} | {self.cpu_ms_per_msg:.2f} | {self.missing} |"
        )


@dataclass
class Run:
    """Send timestamps by message tag and delivery times by (receiver, tag)."""

    sent_at: dict[str, float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    expected: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def delivered(self, tag: str) -> None:
        started = self.sent_at.get(tag)
        if started is not None:
            self.latencies.append(time.perf_counter() - started)
            if len(self.latencies) >= self.expected:
                self.done.set()


class Sender:
    """One sender's HTTP/1.1 keep-alive connection, as lean as a client gets: the request line
    and headers written by hand, the response read up to its Content-Length. Both servers get
    the same client, so the client's own CPU (httpx takes more per request than Telex's server
    does) is not what limits the closed loop."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        url = httpx.URL(base_url)
        self._host, self._port = url.host, url.port or 80
        self._headers = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        data = json.dumps(body).encode()
        head = (
            f"{method} {path} HTTP/1.1\r\nhost: {self._host}:{self._port}\r\n{self._headers}"
            f"content-type: application/json\r\ncontent-length: {len(data)}\r\n\r\n"
        ).encode()
        for _ in range(2):  # a server may close an idle keep-alive connection: reconnect once
            if self._writer is None:
                self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
            assert self._reader is not None
            self._writer.write(head + data)
            status_line = await self._reader.readline()
            if status_line:
                return int(status_line.split()[1]), await self._body()
            await self.close()
        raise ConnectionError("the server closed the connection")

    async def _body(self) -> bytes:
        assert self._reader is not None
        length, chunked, close = 0, False, False
        while (line := await self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                chunked = "chunked" in value
            elif name == "connection":
                close = value == "close"
        if chunked:
            body = b""
            while (size := int((await self._reader.readline()).strip() or b"0", 16)) > 0:
                body += await self._reader.readexactly(size)
                await self._reader.readline()
            await self._reader.readline()
        else:
            body = await self._reader.readexactly(length)
        if close:
            await self.close()
        return body

    async def close(self) -> None:
        if self._writer is not None:
            writer, self._writer, self._reader = self._writer, None, None
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


WARM_UP = 20  # messages per sender before the measured ones


async def warm_up(senders: list[Any], send: Any) -> None:
    """Unmeasured messages first, for both systems alike: a fresh thread's first sends pay
    one-time costs (caches filling, first queries planned) that are not the steady state, and at
    ~1,000 sends/s they were a visible part of a one-second run. Their deliveries are not counted."""

    async def one(k: int, who: Any) -> None:
        for i in range(WARM_UP):
            await send(who, f"warm{k}-{i}")

    await asyncio.gather(*(one(k, s) for k, s in enumerate(senders)))
    await asyncio.sleep(0.5)  # their deliveries arrive before the measured run starts


async def closed_loop(senders: list[Any], per_sender: int, run: Run, send: Any) -> float:
    """Each sender sends ``per_sender`` tagged messages back to back; returns the wall time."""

    async def one(k: int, who: Any) -> None:
        for i in range(per_sender):
            tag = f"b{k}-{i}-{uuid.uuid4().hex[:6]}"
            run.sent_at[tag] = time.perf_counter()
            await send(who, tag)

    started = time.perf_counter()
    await asyncio.gather(*(one(k, s) for k, s in enumerate(senders)))
    return time.perf_counter() - started


def plan(members: int, quick: bool) -> tuple[int, int]:
    """(senders, messages per sender) for a thread of ``members``."""
    senders = 1 if members == 2 else 4
    # 1,000 at 2 members: one sender there is the fastest case, and 400 lasted under half a second.
    total = {2: 1000, 10: 400, 100: 160}[members] // (4 if quick else 1)
    return senders, total // senders


# Telex -----------------------------------------------------------------------------------------


class Telex:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TELEX_")} | OPEN_LIMITS
        # Never the default admin port (9464): another server on this machine may hold it.
        env["TELEX_HTTP__ADMIN_PORT"] = str(free_port())
        env["TELEX_TURN__TLS_PORT"] = str(free_port())  # never the default 5349: another server may hold it
        self.server = Server(
            [sys.executable, "-m", "telex", "serve", "--data-dir", str(workdir / "telex"), "--port", str(self.port),
             "--tls-port", str(free_port()), "--turn-port", str(free_port(socket.SOCK_DGRAM))],
            env=env,
        )  # fmt: skip
        try:
            self.key = self._started(workdir, env)
        except BaseException:
            self.server.stop()  # never leave a server behind a failed start
            raise
        self.url = f"http://127.0.0.1:{self.port}"

    def _started(self, workdir: Path, env: dict[str, str]) -> bytes:
        """The access key, once the banner says the node is up (it shows only the key's start)."""
        assert self.server.proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.server.proc.stdout.readline()
            if not line:
                raise RuntimeError("telex serve exited")
            if "accesskey=" in line:
                return access_key(workdir / "telex", env)
        raise RuntimeError("telex serve did not start in 60 s")

    async def users(self, http: httpx.AsyncClient, n: int) -> list[tuple[str, str]]:
        out = []
        for _ in range(n):
            body = json.dumps({"createTokenWithScopes": ["chat"]}).encode()
            path = "/identities?api-version=2023-10-01"
            headers = sign("POST", path, f"127.0.0.1:{self.port}", body, self.key, time.time())
            r = await http.post(path, content=body, headers={**headers, "content-type": "application/json"})
            r.raise_for_status()
            out.append((r.json()["identity"]["id"], r.json()["accessToken"]["token"]))
        return out

    async def connect(self, token: str) -> ClientConnection:
        ws = await connect(self.url.replace("http", "ws") + "/realtime", max_size=2**22, compression=None)
        await ws.send(json.dumps({"type": "auth", "token": token}))
        assert json.loads(await ws.recv())["type"] == "ready"
        return ws

    async def bench(self, members: int, quick: bool, sdk_path: bool = False) -> Result:
        """Messages to a thread of ``members``; receivers on ``/realtime``, or (``sdk_path``) on
        the JS chat SDK's notification socket (tests/notifications/client.py speaks it)."""
        async with httpx.AsyncClient(
            event_hooks=async_hooks(), base_url=self.url, timeout=60, limits=httpx.Limits(max_connections=200)
        ) as http:
            users = await self.users(http, members)
            owner = users[0]
            body = {
                "topic": "bench",
                "participants": [{"communicationIdentifier": {"rawId": u}} for u, _ in users[1:]],
            }
            r = await http.post("/chat/threads", json=body, headers={"authorization": f"Bearer {owner[1]}"})
            thread = r.json()["chatThread"]["id"]
            n_senders, per_sender = plan(members, quick)
            run = Run(expected=n_senders * per_sender * (members - n_senders))
            sockets: list[Any] = []
            if sdk_path:
                clients = [NotificationClient(self.url, t) for _, t in users[n_senders:]]
                for client in clients:
                    await client.connect()
                    sockets.append(client.ws)

                async def receive_sdk(client: NotificationClient) -> None:
                    with contextlib.suppress(Exception):
                        while True:
                            for note in await client.notifications():
                                if note["eventId"] == 200:
                                    run.delivered(note["messageBody"])

                receivers = [asyncio.create_task(receive_sdk(c)) for c in clients]
            else:
                sockets = [await self.connect(t) for _, t in users]

                async def receive(ws: ClientConnection) -> None:
                    async for raw in ws:
                        frame = json.loads(raw)
                        if frame.get("event") == "chatMessageReceived":
                            run.delivered(frame["data"]["message"])

                receivers = [asyncio.create_task(receive(ws)) for ws in sockets[n_senders:]]

            senders = [Sender(self.url, {"authorization": f"Bearer {t}"}) for _, t in users[:n_senders]]

            async def send(sender: Sender, tag: str) -> None:
                status, body = await sender.request(
                    "POST", f"/chat/threads/{thread}/messages?api-version=2024-03-07", {"content": tag}
                )
                assert status == 201, body

            await warm_up(senders, send)
            cpu0 = self.server.cpu()
            wall = await closed_loop(senders, per_sender, run, send)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(run.done.wait(), DELIVERY_TIMEOUT)
            cpu = self.server.cpu() - cpu0
            for task in receivers:
                task.cancel()
            for ws in sockets:
                await ws.close()
            for sender in senders:
                await sender.close()
        system = "Telex (JS SDK notifications)" if sdk_path else "Telex"
        return _result(system, members, n_senders * per_sender, wall, cpu, run)

    async def idle(self, count: int) -> tuple[int, float]:
        """Open ``count`` idle authenticated connections; (connections, KiB of server RSS each)."""
        async with httpx.AsyncClient(event_hooks=async_hooks(), base_url=self.url, timeout=60) as http:
            users = await self.users(http, 50)
        before = self.server.rss_kib()
        gate = asyncio.Semaphore(100)
        sockets: list[ClientConnection] = []

        async def one(i: int) -> None:
            async with gate:
                sockets.append(await self.connect(users[i % len(users)][1]))

        await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(count))), 600)
        await asyncio.sleep(2)
        per = (self.server.rss_kib() - before) / count
        await asyncio.gather(*(ws.close() for ws in sockets))
        return len(sockets), per


def _result(system: str, members: int, messages: int, wall: float, cpu: float, run: Run) -> Result:
    ms = [x * 1000 for x in run.latencies] or [float("nan")]
    return Result(
        system, members, messages, messages / wall, pct(ms, 50), pct(ms, 99), cpu * 1000 / messages,
        len(run.latencies), max(0, run.expected - len(run.latencies)),
    )  # fmt: skip


# Synapse ---------------------------------------------------------------------------------------

_SYNAPSE_CONFIG = r"""
import sys, yaml
path, port = sys.argv[1], int(sys.argv[2])
c = yaml.safe_load(open(path))
c["listeners"] = [{"port": port, "tls": False, "type": "http", "x_forwarded": False,
                   "bind_addresses": ["127.0.0.1"], "resources": [{"names": ["client"], "compress": False}]}]
c.update(report_stats=False, trusted_key_servers=[], suppress_key_server_warning=True, presence={"enabled": False},
         enable_metrics=False, url_preview_enabled=False, federation_domain_whitelist=[])
lots = {"per_second": 100000, "burst_count": 100000}
c["rc_message"] = lots
c["rc_registration"] = lots
c["rc_login"] = {"address": lots, "account": lots, "failed_attempts": lots}
c["rc_joins"] = {"local": lots, "remote": lots}
c["rc_joins_per_room"] = lots
c["rc_room_creation"] = lots
c["rc_invites"] = {"per_room": lots, "per_user": lots}
yaml.safe_dump(c, open(path, "w"))
print(c["registration_shared_secret"])
"""


class Synapse:
    def __init__(self, venv: Path, workdir: Path) -> None:
        python = str(venv / "bin" / "python")
        data = workdir / "synapse"
        data.mkdir(parents=True)
        config = data / "homeserver.yaml"
        subprocess.run(
            [python, "-m", "synapse.app.homeserver", "--server-name", "localhost", "--config-path", str(config),
             "--data-directory", str(data), "--generate-config", "--report-stats=no"],
            check=True, capture_output=True, cwd=data, timeout=120,
        )  # fmt: skip
        self.port = free_port()
        patched = subprocess.run(
            [python, "-c", _SYNAPSE_CONFIG, str(config), str(self.port)],
            check=True,
            capture_output=True,
            text=True,
        )
        self.secret = patched.stdout.strip()
        self.server = Server([python, "-m", "synapse.app.homeserver", "-c", str(config)], cwd=data)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/_matrix/client/versions", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise RuntimeError("synapse did not start")

    async def users(self, http: httpx.AsyncClient, n: int) -> list[tuple[str, str]]:
        out = []
        for _ in range(n):
            name, password = f"u{uuid.uuid4().hex[:10]}", uuid.uuid4().hex
            nonce = (await http.get("/_synapse/admin/v1/register")).json()["nonce"]
            mac = hmac.new(self.secret.encode(), digestmod=hashlib.sha1)
            mac.update(b"\x00".join([nonce.encode(), name.encode(), password.encode(), b"notadmin"]))
            body = {
                "nonce": nonce,
                "username": name,
                "password": password,
                "admin": False,
                "mac": mac.hexdigest(),
            }
            r = await http.post("/_synapse/admin/v1/register", json=body)
            r.raise_for_status()
            out.append((r.json()["user_id"], r.json()["access_token"]))
        return out

    async def bench(self, members: int, quick: bool) -> Result:
        limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
        async with httpx.AsyncClient(
            event_hooks=async_hooks(), base_url=self.url, timeout=90, limits=limits
        ) as http:
            users = await self.users(http, members)
            auth = [{"authorization": f"Bearer {t}"} for _, t in users]
            body = {"preset": "private_chat", "invite": [u for u, _ in users[1:]]}
            room = (await http.post("/_matrix/client/v3/createRoom", json=body, headers=auth[0])).json()[
                "room_id"
            ]
            for h in auth[1:]:
                (await http.post(f"/_matrix/client/v3/join/{room}", json={}, headers=h)).raise_for_status()
            n_senders, per_sender = plan(members, quick)
            run = Run(expected=n_senders * per_sender * (members - n_senders))
            flt = json.dumps({"room": {"timeline": {"limit": 1000}}, "presence": {"types": []}})

            async def initial(h: dict[str, str]) -> str:
                r = await http.get(
                    "/_matrix/client/v3/sync", params={"timeout": "0", "filter": flt}, headers=h
                )
                return str(r.json()["next_batch"])

            tokens = [await initial(h) for h in auth[n_senders:]]

            async def receive(h: dict[str, str], since: str) -> None:
                while True:
                    params = {"timeout": "30000", "since": since, "filter": flt}
                    r = await http.get("/_matrix/client/v3/sync", params=params, headers=h)
                    data = r.json()
                    since = data["next_batch"]
                    joined = data.get("rooms", {}).get("join", {}).get(room, {})
                    for event in joined.get("timeline", {}).get("events", []):
                        if event.get("type") == "m.room.message":
                            run.delivered(event["content"]["body"])

            receivers = [
                asyncio.create_task(receive(h, s)) for h, s in zip(auth[n_senders:], tokens, strict=True)
            ]

            senders = [Sender(self.url, h) for h in auth[:n_senders]]

            async def send(sender: Sender, tag: str) -> None:
                url = f"/_matrix/client/v3/rooms/{room}/send/m.room.message/{uuid.uuid4().hex}"
                status, body = await sender.request("PUT", url, {"msgtype": "m.text", "body": tag})
                assert status == 200, body

            await asyncio.sleep(0.5)  # let every long-poll reach the server
            await warm_up(senders, send)
            cpu0 = self.server.cpu()
            wall = await closed_loop(senders, per_sender, run, send)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(run.done.wait(), DELIVERY_TIMEOUT)
            cpu = self.server.cpu() - cpu0
            for task in receivers:
                task.cancel()
            await asyncio.gather(*receivers, return_exceptions=True)
            for sender in senders:
                await sender.close()
        return _result("Synapse", members, n_senders * per_sender, wall, cpu, run)


# main ------------------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> dict[str, Any]:
    sizes = [2, 10, 100]
    results: list[Result] = []
    idle: tuple[int, float] | None = None
    with tempfile.TemporaryDirectory(prefix="telex-bench-") as tmp:
        telex = Telex(Path(tmp))
        try:
            for n in sizes:
                results.append(await telex.bench(n, args.quick))
                print(results[-1].row(), flush=True)
            # The same load delivered through the JS chat SDK's notification path (docs/js-sdks.md).
            for n in sizes:
                results.append(await telex.bench(n, args.quick, sdk_path=True))
                print(results[-1].row(), flush=True)
            if args.idle:
                idle = await telex.idle(args.idle)
        finally:
            telex.server.stop()
        venv = Path(args.synapse_venv)
        if (venv / "bin" / "python").exists():
            synapse = Synapse(venv, Path(tmp))
            try:
                for n in sizes:
                    try:
                        results.append(await synapse.bench(n, args.quick))
                    except (httpx.HTTPError, AssertionError, KeyError) as exc:
                        print(f"Synapse with {n} members failed: {exc!r}", flush=True)
                        continue
                    print(results[-1].row(), flush=True)
            finally:
                synapse.server.stop()
        else:
            print(f"(no Synapse venv at {venv}: Telex only)", flush=True)
    report: dict[str, Any] = {"results": [r.__dict__ for r in results]}
    print("\n| system | members | messages | sends/s | p50 ms | p99 ms | CPU ms/msg | missing |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(r.row())
    by = {(r.system, r.members): r for r in results}
    ratios = []
    for n in sizes:
        t, s = by.get(("Telex", n)), by.get(("Synapse", n))
        if t and s:
            ratios.append(
                {"members": n, "throughput_x": t.sends_per_s / s.sends_per_s, "p50_x": s.p50_ms / t.p50_ms,
                 "p99_x": s.p99_ms / t.p99_ms, "cpu_x": s.cpu_ms_per_msg / t.cpu_ms_per_msg}
            )  # fmt: skip
    if ratios:
        print(
            "\n| members | throughput Telex/Synapse | p50 Synapse/Telex | p99 Synapse/Telex | CPU/msg Synapse/Telex |"
        )
        print("|---|---|---|---|---|")
        for q in ratios:
            print(
                f"| {q['members']} | {q['throughput_x']:.1f}× | {q['p50_x']:.1f}× | {q['p99_x']:.1f}× | {q['cpu_x']:.1f}× |"
            )
    report["ratios"] = ratios
    if idle:
        count, per_kib = idle
        report["idle"] = {"connections": count, "kib_per_connection": per_kib, "per_gib": (1 << 20) / per_kib}
        print(f"\nidle realtime connections: {count}, {per_kib:.1f} KiB of server RSS each "
              f"≈ {(1 << 20) / per_kib:,.0f} connections per GiB")  # fmt: skip
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a quarter of the messages (smoke run)")
    parser.add_argument("--idle", type=int, default=5000, help="idle realtime connections to open (0: skip)")
    parser.add_argument(
        "--synapse-venv",
        default=os.environ.get(
            "SYNAPSE_VENV", str(Path(tempfile.gettempdir()) / "chatwork" / "synapse-venv")
        ),
        help="venv with matrix-synapse",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    ns = parser.parse_args()
    out = asyncio.run(main(ns))
    if ns.json:
        ns.json.write_text(json.dumps(out, indent=2))
