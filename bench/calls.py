#!/usr/bin/env python3
"""Calling benchmark: time from join to media flowing, and signaling throughput.

    python bench/calls.py [--calls 20] [--signals 2000] [--json out.json]

One ``telex serve`` on 127.0.0.1 (SQLite, its TURN server with loopback peers allowed), users
made through the HMAC identity API. Measured in the same run, on the same TURN server:

* **Telex**: two ``CallClient``s (aiortc, relay-only) in a group call. Participant A is already
  in; the clock starts when B calls ``join`` and stops when each side has received a first
  audio frame from the other (REST join, realtime events, SDP offer/answer through Telex,
  TURN allocations, ICE, DTLS, SRTP, first Opus frame).
* **Baseline**: the same two aiortc peers, same relay-only ICE configuration and tracks, with
  the offer and answer handed over in process instead of through Telex.
* **Signaling**: one participant sends ``--signals`` ICE-candidate signals to another over
  REST (20 in flight); messages/s until the last one arrived on the addressee's realtime socket,
  and the server's CPU per signal (from /proc).

p50/p95 are nearest-rank. The bench client shares the machine's 2 cores with the server, and
the aiortc peers with each other: absolute numbers are for this machine, the ratio is the point.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from aiortc import RTCPeerConnection

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.apiversions import async_hooks
from tests.support.live import LiveServer
from tests.support.procs import cpu_seconds
from tests.support.signing import HmacSigner

from telex.client.calling import SAMPLES, CallClient, _Muting, _PcmTrack
from telex.client.realtime import RealtimeClient

TIMEOUT = 60.0


def tone(freq: float) -> Iterator[bytes]:
    k, n = 2 * math.pi * freq / 48000, 0
    while True:
        yield b"".join(
            int(8000 * math.sin(k * (n + i))).to_bytes(2, "little", signed=True) for i in range(SAMPLES)
        )
        n += SAMPLES


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


async def make_user(server: LiveServer) -> dict[str, str]:
    async with httpx.AsyncClient(
        event_hooks=async_hooks(),
        base_url=server.http_url,
        auth=HmacSigner(base64.b64decode(server.access_key)),
    ) as http:
        r = await http.post("/identities", json={"createTokenWithScopes": ["chat", "voip"]})
        r.raise_for_status()
        body = r.json()
    return {"id": body["identity"]["id"], "token": body["accessToken"]["token"]}


async def telex_calls(server: LiveServer, n: int) -> list[float]:
    a, b = await make_user(server), await make_user(server)
    times = []
    async with CallClient(server.http_url, a["token"]) as ca, CallClient(server.http_url, b["token"]) as cb:
        for _ in range(n):
            group = str(uuid.uuid4())
            call_a = await ca.join(group, audio=tone(440))
            start = time.perf_counter()
            call_b = await cb.join(group, audio=tone(660))
            async with asyncio.timeout(TIMEOUT):
                await call_a.wait_for(lambda c: any(p.audio_frames_received for p in c.participants.values()))
                await call_b.wait_for(lambda c: any(p.audio_frames_received for p in c.participants.values()))
            times.append(time.perf_counter() - start)
            print(f"  telex call {len(times)}: {times[-1] * 1000:.0f} ms", file=sys.stderr)
            await call_a.hang_up(for_everyone=True)
            async with asyncio.timeout(TIMEOUT):
                await call_b.wait_ended()
    return times


async def direct_calls(server: LiveServer, n: int) -> list[float]:
    """The same peers and configuration, offer/answer exchanged in process."""
    a = await make_user(server)
    async with CallClient(server.http_url, a["token"]) as client:
        config = await client._rtc_configuration()  # the same relay-only ICE servers
    times = []
    for _ in range(n):
        pcs = [RTCPeerConnection(config), RTCPeerConnection(config)]
        heard = [asyncio.Event(), asyncio.Event()]
        tasks: list[asyncio.Task[None]] = []

        def on_track(done: asyncio.Event, tasks: list[asyncio.Task[None]]) -> Any:
            def handler(track: Any) -> None:
                async def first() -> None:
                    await track.recv()
                    done.set()

                tasks.append(asyncio.create_task(first()))

            return handler

        start = time.perf_counter()
        for i, (pc, freq) in enumerate(zip(pcs, (440, 660), strict=True)):
            pc.on("track", on_track(heard[i], tasks))
            pc.addTrack(_Muting(_PcmTrack(tone(freq))))
        pcs[0].createDataChannel("telex")
        await pcs[0].setLocalDescription(await pcs[0].createOffer())
        await pcs[1].setRemoteDescription(pcs[0].localDescription)
        await pcs[1].setLocalDescription(await pcs[1].createAnswer())
        await pcs[0].setRemoteDescription(pcs[1].localDescription)
        async with asyncio.timeout(TIMEOUT):
            await asyncio.gather(heard[0].wait(), heard[1].wait())
        times.append(time.perf_counter() - start)
        print(f"  direct call {len(times)}: {times[-1] * 1000:.0f} ms", file=sys.stderr)
        for task in tasks:
            task.cancel()
        for pc in pcs:
            await pc.close()
    return times


async def signaling(server: LiveServer, count: int) -> tuple[float, float]:
    """(signals per second, server CPU milliseconds per signal)."""
    a, b = await make_user(server), await make_user(server)
    group = str(uuid.uuid4())
    async with (
        httpx.AsyncClient(
            event_hooks=async_hooks(),
            base_url=server.http_url,
            headers={"authorization": f"Bearer {a['token']}"},
        ) as ha,
        httpx.AsyncClient(
            event_hooks=async_hooks(),
            base_url=server.http_url,
            headers={"authorization": f"Bearer {b['token']}"},
        ) as hb,
        RealtimeClient(server.http_url, b["token"]) as rb,
    ):
        async with asyncio.timeout(TIMEOUT):
            await rb.wait_connected()
        joined_a = (await ha.post(f"/calling/groups/{group}/:join")).json()
        joined_b = (await hb.post(f"/calling/groups/{group}/:join")).json()
        url = f"/calling/calls/{joined_a['call']['callId']}/participants/{joined_a['participantId']}/:signal"
        body = {
            "to": joined_b["participantId"],
            "type": "candidate",
            "candidate": {"candidate": "candidate:1"},
        }
        gate = asyncio.Semaphore(20)

        async def send() -> None:
            async with gate:
                (await ha.post(url, json=body)).raise_for_status()

        async def receive() -> None:
            got = 0
            async for event in rb:
                if event.type == "callSignal":
                    got += 1
                    if got == count:
                        return

        assert server.proc is not None
        start, cpu0 = time.perf_counter(), cpu_seconds(server.proc.pid)
        async with asyncio.timeout(TIMEOUT * 5):
            await asyncio.gather(receive(), *(send() for _ in range(count)))
        wall, cpu = time.perf_counter() - start, cpu_seconds(server.proc.pid) - cpu0
        return count / wall, cpu / count * 1000


async def run(args: argparse.Namespace) -> dict[str, Any]:
    env = {
        "TELEX_TURN__ALLOW_LOOPBACK_PEERS": "true",
        "TELEX_TURN__TCP": "false",
        # The bench starts calls back to back between the same users: lift the invitation limits.
        "TELEX_CALLING__INVITATIONS_PER_CALLER_PER_MINUTE": "0",
        "TELEX_CALLING__INVITATIONS_PER_CALLEE_PER_MINUTE": "0",
    }
    with tempfile.TemporaryDirectory() as tmp, LiveServer(Path(tmp) / "data", env=env) as server:
        await telex_calls(server, 1)  # warm-up: imports, codecs, first allocations
        telex = await telex_calls(server, args.calls)
        direct = await direct_calls(server, args.calls)
        rate, cpu_ms = await signaling(server, args.signals)
    out: dict[str, Any] = {"calls": args.calls}
    for name, values in (("telex", telex), ("direct", direct)):
        out[name] = {"p50_ms": percentile(values, 50) * 1000, "p95_ms": percentile(values, 95) * 1000}
    out["ratio_p50"] = out["telex"]["p50_ms"] / out["direct"]["p50_ms"]
    out["ratio_p95"] = out["telex"]["p95_ms"] / out["direct"]["p95_ms"]
    out["signals_per_second"] = rate
    out["signal_cpu_ms"] = cpu_ms
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--signals", type=int, default=2000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(f"join → media flowing both ways, relay-only on loopback, {args.calls} calls each:")
    for name in ("telex", "direct"):
        r = result[name]
        print(f"  {name:7} p50 {r['p50_ms']:7.1f} ms   p95 {r['p95_ms']:7.1f} ms")
    print(f"  ratio   p50 {result['ratio_p50']:7.2f}      p95 {result['ratio_p95']:7.2f}")
    print(
        f"signaling through Telex (REST in, realtime out): {result['signals_per_second']:.0f} messages/s, "
        f"{result['signal_cpu_ms']:.2f} ms of server CPU each"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
