#!/usr/bin/env python3
"""Bot benchmark: concurrent Call Automation calls with server-side media, against plain aiortc
peers doing the same, in the same run.

    python bench/bots.py [--calls 4] [--seconds 15] [--json out.json]

One ``telex serve`` on 127.0.0.1 (SQLite, its TURN server with loopback peers allowed). In both
phases ``--calls`` far ends run in this process (aiortc ``CallClient``s, relay-only through Telex
TURN), each receiving a call that plays a 16 kHz WAV prompt in a loop while the far end presses
``5`` once a second:

* **bots**: the calls are Call Automation calls (``POST /calling/callConnections`` to each far
  end), their media is Telex's server-side media (an aiortc participant per call inside the
  server, a 20 ms beat, the play queue, continuous DTMF recognition);
* **peers**: the calls come from plain ``CallClient``s in a worker subprocess, sending the same
  prompt as PCM frames, no recognition.

Measured over the same window: the RFC 3550 interarrival jitter the far ends compute on what
they receive (mean and worst of one sample per second per call, ms), packets lost, CPU of the
server and of the worker (/proc), and for bots the keys recognized against the keys pressed.
Server-side media CPU per call = (server CPU with bots − server CPU with peers, which is the
TURN relay and signaling of the same streams) / calls; a plain aiortc peer's = worker CPU /
calls. Calls per core = 1 / server-side media CPU per call. Everything shares this machine's
two cores: absolute figures are this machine's, the ratios are the point.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.live import LiveServer
from tests.support.procs import cpu_seconds
from tests.support.signing import HmacSigner
from tests.support.wav import wav_bytes

from telex.automation.media.dtmf import tones_pcm
from telex.bots import CallAutomation
from telex.client.calling import SAMPLES, Call, CallClient

TIMEOUT = 90.0


def prompt_pcm(rate: int) -> bytes:
    """Two seconds of a speech-like signal: a few harmonics, amplitude-modulated at 4 Hz."""
    out = bytearray()
    for i in range(2 * rate):
        t = i / rate
        envelope = 0.5 + 0.5 * math.sin(2 * math.pi * 4 * t)
        value = sum(math.sin(2 * math.pi * f * t) / k for k, f in enumerate((180, 360, 540, 900), 1))
        out += int(4000 * envelope * value).to_bytes(2, "little", signed=True)
    return bytes(out)


class Keys:
    """A far end's microphone: silence, and ``5`` pressed once a second once ``start`` is set."""

    def __init__(self) -> None:
        self.pressing = False
        self.pressed = 0
        self._tone = tones_pcm("5", rate=48000, on=0.12, off=0.0)
        self._n = 0
        self._on = False

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        self._n += 1
        start = (self._n % 50) * 2 * SAMPLES  # one press per 50 frames (a second)
        if start == 0:
            self._on = self.pressing  # a press, once begun, is finished even if pressing stops
            self.pressed += self._on
        if self._on and start < len(self._tone):
            return self._tone[start : start + 2 * SAMPLES].ljust(2 * SAMPLES, b"\0")
        return bytes(2 * SAMPLES)


async def make_user(http: httpx.AsyncClient) -> dict[str, str]:
    r = await http.post("/identities", json={"createTokenWithScopes": ["voip"]})
    r.raise_for_status()
    body = r.json()
    return {"id": body["identity"]["id"], "token": body["accessToken"]["token"]}


async def jitter_samples(calls: list[Call], seconds: float) -> tuple[list[float], int]:
    """One RFC 3550 jitter sample (ms) per call per second of inbound audio; packets lost."""
    samples: list[float] = []
    lost = 0
    for _ in range(int(seconds)):
        await asyncio.sleep(1.0)
        for call in calls:
            for peer in list(call._peers.values()):
                report = await peer.pc.getStats()
                for stat in report.values():
                    if getattr(stat, "type", "") == "inbound-rtp" and getattr(stat, "kind", "") == "audio":
                        samples.append(stat.jitter / 48.0)  # Opus clock: 48 kHz
    for call in calls:
        for peer in list(call._peers.values()):
            for stat in (await peer.pc.getStats()).values():
                if getattr(stat, "type", "") == "inbound-rtp":
                    lost += max(0, stat.packetsLost)
    return samples, lost


async def far_ends(url: str, users: list[dict[str, str]]) -> tuple[list[CallClient], list[Keys]]:
    clients, keys = [], []
    for user in users:
        k = Keys()
        client = CallClient(url, user["token"])
        await client.__aenter__()
        client._telex_keys = k  # type: ignore[attr-defined]
        clients.append(client)
        keys.append(k)
    return clients, keys


async def accept_all(clients: list[CallClient], keys: list[Keys]) -> list[Call]:
    calls = []
    for client, k in zip(clients, keys, strict=True):
        incoming = await client.incoming_call()
        calls.append(await incoming.accept(audio=k))
    async with asyncio.timeout(TIMEOUT):
        for call in calls:
            await call.wait_for(lambda c: any(p.audio_frames_received > 25 for p in c.participants.values()))
    return calls


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples) or [0.0]
    return {
        "mean_ms": sum(ordered) / len(ordered),
        "p95_ms": ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)],
        "max_ms": ordered[-1],
    }


async def bots_phase(
    server: LiveServer, http: httpx.AsyncClient, base: str, n: int, seconds: float
) -> dict[str, Any]:
    users = [await make_user(http) for _ in range(n)]
    clients, keys = await far_ends(server.http_url, users)
    tones = {"count": 0}
    connected: dict[str, asyncio.Event] = {}

    async def callback(request: web.Request) -> web.Response:
        for event in await request.json():
            kind = event["type"].rsplit(".", 1)[-1]
            cid = event["data"]["callConnectionId"]
            if kind == "CallConnected":
                connected.setdefault(cid, asyncio.Event()).set()
            elif kind == "ContinuousDtmfRecognitionToneReceived":
                tones["count"] += 1
        return web.Response()

    app = web.Application()
    app.router.add_post("/cb", callback)
    app.router.add_get("/prompt.wav", lambda _: web.Response(body=wav_bytes(prompt_pcm(16000), 16000)))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    hook = f"http://127.0.0.1:{sock.getsockname()[1]}"
    api = CallAutomation(server.http_url, base64.b64decode(server.access_key))
    try:
        ids = []
        for user in users:
            props = await api.create_call([user["id"]], f"{hook}/cb")
            ids.append(props["callConnectionId"])
        calls = await accept_all(clients, keys)
        async with asyncio.timeout(TIMEOUT):
            for cid in ids:
                await connected.setdefault(cid, asyncio.Event()).wait()
        for cid, user in zip(ids, users, strict=True):
            path = f"/calling/callConnections/{cid}"
            await api.post(path + ":play", {
                "playSources": [{"kind": "file", "file": {"uri": f"{hook}/prompt.wav"}}],
                "playOptions": {"loop": True},
            })  # fmt: skip
            await api.post(
                path + ":startContinuousDtmfRecognition", {"targetParticipant": {"rawId": user["id"]}}
            )
        await asyncio.sleep(2)  # the plays have started everywhere
        for k in keys:
            k.pressing = True
        before_server, before_self = cpu_seconds(server.proc.pid), time.process_time()  # type: ignore[union-attr]
        samples, lost = await jitter_samples(calls, seconds)
        server_cpu = cpu_seconds(server.proc.pid) - before_server  # type: ignore[union-attr]
        self_cpu = time.process_time() - before_self
        pressed = sum(k.pressed for k in keys)
        for k in keys:
            k.pressing = False
        await asyncio.sleep(1.5)
        for cid in ids:
            await api.request("DELETE", f"/calling/callConnections/{cid}")
    finally:
        await api.close()
        for client in clients:
            await client.close()
        await runner.cleanup()
    return {
        "jitter": summary(samples), "packets_lost": lost, "server_cpu": server_cpu / seconds,
        "far_end_cpu": self_cpu / seconds, "keys_pressed": pressed, "keys_recognized": tones["count"],
    }  # fmt: skip


async def peers_phase(server: LiveServer, http: httpx.AsyncClient, n: int, seconds: float) -> dict[str, Any]:
    users = [await make_user(http) for _ in range(n)]
    sources = [await make_user(http) for _ in range(n)]
    clients, keys = await far_ends(server.http_url, users)
    spec = {"url": server.http_url, "sources": sources, "targets": [u["id"] for u in users]}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
    worker = subprocess.Popen([sys.executable, __file__, "--worker", f.name], stdin=subprocess.PIPE)
    try:
        calls = await accept_all(clients, keys)
        await asyncio.sleep(2)
        for k in keys:
            k.pressing = True
        before_server, before_worker = cpu_seconds(server.proc.pid), cpu_seconds(worker.pid)  # type: ignore[union-attr]
        before_self = time.process_time()
        samples, lost = await jitter_samples(calls, seconds)
        server_cpu = cpu_seconds(server.proc.pid) - before_server  # type: ignore[union-attr]
        worker_cpu = cpu_seconds(worker.pid) - before_worker
        self_cpu = time.process_time() - before_self
    finally:
        assert worker.stdin is not None
        worker.stdin.close()
        worker.wait(30)
        os.unlink(f.name)
        for client in clients:
            await client.close()
    return {
        "jitter": summary(samples), "packets_lost": lost, "server_cpu": server_cpu / seconds,
        "worker_cpu": worker_cpu / seconds, "far_end_cpu": self_cpu / seconds,
    }  # fmt: skip


async def worker(spec_path: str) -> None:
    """The plain aiortc side: call every target and send the prompt as PCM until stdin closes."""
    spec = json.loads(Path(spec_path).read_text())
    pcm = prompt_pcm(48000)

    def frames() -> Iterator[bytes]:
        while True:
            for i in range(0, len(pcm), 2 * SAMPLES):
                yield pcm[i : i + 2 * SAMPLES]

    clients = []
    for source, target in zip(spec["sources"], spec["targets"], strict=True):
        client = CallClient(spec["url"], source["token"])
        await client.__aenter__()
        clients.append(client)
        await client.start_call([target], audio=frames())
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for client in clients:
        await client.close()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    env = {
        "TELEX_TURN__ALLOW_LOOPBACK_PEERS": "true",
        "TELEX_TURN__TCP": "false",
        # Calls back to back between the same few users: lift the invitation limits.
        "TELEX_CALLING__INVITATIONS_PER_CALLER_PER_MINUTE": "0",
        "TELEX_CALLING__INVITATIONS_PER_CALLEE_PER_MINUTE": "0",
    }
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "telex.toml"
        config.write_text(
            '[outbound]\nallow_http = true\nallowed = ["127.0.0.1"]\n[automation]\n'
            f"max_media_sessions = {max(8, args.calls)}\n"
        )
        server = LiveServer(Path(tmp) / "data", env=env, extra_args=["--config", str(config)])
        with server:
            key = base64.b64decode(server.access_key)
            async with httpx.AsyncClient(base_url=server.http_url, auth=HmacSigner(key), timeout=30) as http:
                await bots_phase(server, http, "", 1, 2)  # warm-up: imports, codecs, first allocations
                bots = await bots_phase(server, http, "", args.calls, args.seconds)
                peers = await peers_phase(server, http, args.calls, args.seconds)
    media_cpu = max(0.0, bots["server_cpu"] - peers["server_cpu"]) / args.calls
    peer_cpu = peers["worker_cpu"] / args.calls
    return {
        "calls": args.calls, "seconds": args.seconds, "bots": bots, "peers": peers,
        "bot_media_cpu_per_call": media_cpu, "peer_cpu_per_call": peer_cpu,
        "cpu_ratio": media_cpu / peer_cpu if peer_cpu else float("inf"),
        "bot_calls_per_core": 1 / media_cpu if media_cpu else float("inf"),
        "jitter_ratio_mean": bots["jitter"]["mean_ms"] / max(peers["jitter"]["mean_ms"], 1e-9),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        asyncio.run(worker(args.worker))
        return
    r = asyncio.run(run(args))
    print(
        f"{args.calls} concurrent calls, {args.seconds:g} s measured, prompt looping, '5' pressed every second:"
    )
    for name in ("bots", "peers"):
        p = r[name]
        j = p["jitter"]
        print(
            f"  {name:5} far-end jitter mean {j['mean_ms']:5.2f} ms  p95 {j['p95_ms']:5.2f}  max {j['max_ms']:5.2f}"
            f"  lost {p['packets_lost']:4d}  server CPU {100 * p['server_cpu']:5.1f}%"
            + (f"  worker CPU {100 * p['worker_cpu']:5.1f}%" if "worker_cpu" in p else "")
        )
    b = r["bots"]
    print(f"  keys recognized {b['keys_recognized']} of {b['keys_pressed']} pressed")
    print(
        f"  server-side media {1000 * r['bot_media_cpu_per_call']:.0f} ms CPU per call-second "
        f"vs plain aiortc peer {1000 * r['peer_cpu_per_call']:.0f} ms (ratio {r['cpu_ratio']:.2f}); "
        f"about {r['bot_calls_per_core']:.0f} bot calls per core; jitter ratio {r['jitter_ratio_mean']:.2f}"
    )
    if args.json:
        args.json.write_text(json.dumps(r, indent=2))


if __name__ == "__main__":
    main()
