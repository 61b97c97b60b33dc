#!/usr/bin/env python3
"""Events out: webhook delivery and pushes, against the receivers' own ceilings, same run.

    python bench/events.py [--events 2000] [--rate 100] [--pushes 2000]

Webhooks. A loopback receiver (aiohttp, its own process) answers 200 to every delivery and
records when each event arrived. Its **ceiling** is measured first: a bare httpx client POSTs
the same one-event (and twenty-event) bodies to it one request at a time, as a subscription's
worker does. Then ``telex serve`` (SQLite, its own process) gets a subscription to
``ChatMessageReceivedInThread`` and four senders post ``--events`` chat messages:
* **live**: the senders paced at ``--rate`` messages/s in all; latency from the event's time
  (``eventTime``, taken when the send is handled, before its commit) to its arrival, p50/p99;
* **backlog**: a replay from the first position; the worker drains the backlog as fast as it
  can, one event per request, then twenty: events/s, and the server's CPU per event (from
  /proc) over the drain; the ratio is Telex's rate over the receiver's ceiling.

Pushes. The loopback FCM, Web Push, WNS and APNs (HTTP/2, TLS) services of tests/push run in
their own process; ``telex.push.Providers`` (what the push consumer calls) sends ``--pushes`` ring
notifications to each, 16 at a time: pushes/s and this process's CPU per push (JWT, encryption,
JSON, HTTP). The ceiling is the same service answering a bare request at the same concurrency.
Every phase is bounded by a count and a timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.live import LiveServer
from tests.support.procs import cpu_seconds, free_port
from tests.support.signing import HmacSigner

IN_THREAD = "Microsoft.Communication.ChatMessageReceivedInThread"
CONFIG = """
[chat]
messages_per_thread_per_10s = 0
messages_per_thread_per_minute = 0
[outbound]
allow_http = true
allowed = ["127.0.0.1"]
"""
TIMEOUT = 300.0


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


# the receiver (a child process) -------------------------------------------------------------------
def receiver_main(port: int) -> None:
    from aiohttp import web

    arrivals: list[tuple[float, str]] = []

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        now = time.time()
        if request.headers.get("aeg-event-type") == "SubscriptionValidation":
            code = json.loads(body)[0]["data"]["validationCode"]
            return web.json_response({"validationResponse": code})
        if request.path == "/stats":
            latencies = [
                t - datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() for t, s in arrivals
            ]
            first = arrivals[0][0] if arrivals else 0.0
            last = arrivals[-1][0] if arrivals else 0.0
            return web.json_response(
                {"count": len(arrivals), "latencies": latencies, "first": first, "last": last}
            )
        if request.path == "/reset":
            arrivals.clear()
            return web.Response(status=204)
        if request.path == "/hook":
            for event in json.loads(body):
                arrivals.append((now, event.get("eventTime", "1970-01-01T00:00:00Z")))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    web.run_app(
        app, host="127.0.0.1", port=port, access_log=None, print=lambda *_: print("READY", flush=True)
    )


# the push providers (a child process) -------------------------------------------------------------
def providers_main(directory: str) -> None:
    async def run() -> None:
        from tests.push.world import providers

        async with providers(Path(directory)) as world:
            (Path(directory) / "world.json").write_text(json.dumps({
                "settings": world.settings, "vapid": world.vapid.private_pem().decode(),
                "subscription": world.web_subscription("bench"), "channel": world.wns_channel("bench"),
                "fcm": world.fcm.base, "wns": world.wns.base, "webpush": world.webpush.base,
                "apns": world.settings["apns"]["production_url"], "ca": world.settings["apns"]["ca_file"],
            }))  # fmt: skip
            print("READY", flush=True)
            await asyncio.Event().wait()

    asyncio.run(run())


def child(*args: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, __file__, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert process.stdout is not None
    if process.stdout.readline().strip() != "READY":
        raise RuntimeError(f"{args[0]} did not start")
    return process


# webhooks ---------------------------------------------------------------------------------------
def sample_event(i: int) -> dict[str, Any]:
    return {
        "id": f"00000000-0000-4000-8000-{i:012d}", "topic": "/subscriptions/x/resourceGroups/telex",
        "subject": "thread/19:x@thread.v2/sender/8:acs:x", "eventType": IN_THREAD,
        "eventTime": datetime.now().astimezone().isoformat(), "dataVersion": "1.0", "metadataVersion": "1",
        "data": {"messageBody": f"message {i}", "messageId": str(1_700_000_000_000 + i), "metadata": {},
                 "senderCommunicationIdentifier": {"rawId": "8:acs:x", "communicationUser": {"id": "8:acs:x"}},
                 "senderDisplayName": "", "composeTime": "2026-01-01T00:00:00.000Z", "type": "Text",
                 "version": 1_700_000_000_000 + i, "transactionId": "t", "threadId": "19:x@thread.v2"},
    }  # fmt: skip


async def ceiling(url: str, requests: int, per_request: int) -> float:
    """Events/s a bare client gets through, one request at a time (the receiver's ceiling)."""
    bodies = [
        json.dumps([sample_event(i * per_request + k) for k in range(per_request)]) for i in range(requests)
    ]
    async with httpx.AsyncClient(timeout=10) as http:
        await http.post(url, content=bodies[0])
        started = time.perf_counter()
        for body in bodies:
            await http.post(url, content=body, headers={"Content-Type": "application/json"})
        elapsed = time.perf_counter() - started
    return requests * per_request / elapsed


async def receiver_stats(base: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as http:
        return dict((await http.get(f"{base}/stats")).json())


async def wait_count(base: str, count: int) -> dict[str, Any]:
    async with asyncio.timeout(TIMEOUT):
        while True:
            stats = await receiver_stats(base)
            if stats["count"] >= count:
                return stats
            await asyncio.sleep(0.05)


async def webhooks(events: int, rate: float, out: dict[str, Any]) -> None:
    port = free_port()
    receiver = child("--receiver", str(port))
    base = f"http://127.0.0.1:{port}"
    try:
        out["ceiling_1"] = await ceiling(f"{base}/ceiling", 2000, 1)
        out["ceiling_20"] = await ceiling(f"{base}/ceiling", 200, 20)
        directory = Path(tempfile.mkdtemp(prefix="telex-bench-events-"))
        (directory / "telex.toml").write_text(CONFIG)
        server = await asyncio.to_thread(
            LiveServer(directory / "data", extra_args=["--config", str(directory / "telex.toml")]).start
        )
        try:
            await _telex_phases(server, base, events, rate, out)
        finally:
            await asyncio.to_thread(server.stop)
    finally:
        receiver.kill()
        receiver.wait(10)


async def _telex_phases(server: LiveServer, base: str, events: int, rate: float, out: dict[str, Any]) -> None:
    assert server.proc is not None
    key = base64.b64decode(server.access_key)
    async with httpx.AsyncClient(base_url=server.http_url, auth=HmacSigner(key), timeout=30) as admin:
        users = []
        for _ in range(4):
            r = await admin.post(
                "/identities?api-version=2023-10-01", json={"createTokenWithScopes": ["chat"]}
            )
            users.append((r.json()["identity"]["id"], r.json()["accessToken"]["token"]))
        sub = {"properties": {"destination": {"properties": {"endpointUrl": f"{base}/hook"}},
                              "filter": {"includedEventTypes": [IN_THREAD]}}}  # fmt: skip
        assert (await admin.put("/eventSubscriptions/bench", json=sub)).status_code == 201
        owner = {"authorization": f"Bearer {users[0][1]}"}
        body = {
            "topic": "bench",
            "participants": [{"communicationIdentifier": {"rawId": u}} for u, _ in users[1:]],
        }
        r = await admin.post("/chat/threads?api-version=2024-03-07", json=body, headers=owner, auth=None)
        thread = r.json()["chatThread"]["id"]
        first = (await admin.get("/eventSubscriptions/bench/deliveryStatus")).json()["headPosition"] + 1

        async def sender(token: str, count: int) -> None:
            interval = 4 / rate
            async with httpx.AsyncClient(base_url=server.http_url, timeout=30,
                                         headers={"authorization": f"Bearer {token}"}) as http:  # fmt: skip
                next_at = time.perf_counter()
                for i in range(count):
                    next_at += interval
                    r = await http.post(
                        f"/chat/threads/{thread}/messages?api-version=2024-03-07", json={"content": f"m{i}"}
                    )
                    assert r.status_code == 201, r.text
                    await asyncio.sleep(max(0.0, next_at - time.perf_counter()))

        started = time.perf_counter()
        await asyncio.gather(*(sender(t, events // 4) for _, t in users))
        sent = events // 4 * 4
        out["send_rate"] = sent / (time.perf_counter() - started)
        live = await wait_count(base, sent)
        out["live_p50"], out["live_p99"] = pct(live["latencies"], 50), pct(live["latencies"], 99)

        for batch in (1, 20):
            patch = {"destination": {"properties": {"maxEventsPerBatch": batch}}}
            assert (await admin.patch("/eventSubscriptions/bench", json=patch)).status_code == 200
            async with httpx.AsyncClient(timeout=10) as http:
                await http.post(f"{base}/reset")
            cpu = cpu_seconds(server.proc.pid)
            r = await admin.post("/eventSubscriptions/bench/:replay", json={"fromPosition": first})
            assert r.status_code == 202, r.text
            drained = await wait_count(base, sent)
            cpu = cpu_seconds(server.proc.pid) - cpu
            elapsed = max(drained["last"] - drained["first"], 1e-6)
            out[f"backlog_{batch}"] = sent / elapsed
            out[f"cpu_us_{batch}"] = cpu / sent * 1e6
        out["events"] = sent


# pushes -----------------------------------------------------------------------------------------
async def pushes(count: int, out: dict[str, Any]) -> None:
    from telex.core.clock import SystemClock
    from telex.push import Notification, NotificationKind, Providers, PushSettings
    from telex.push.registry import Platform, Registration
    from telex.webhooks import DestinationGuard, OutboundPolicy, build_client

    directory = Path(tempfile.mkdtemp(prefix="telex-bench-push-"))
    process = child("--providers", str(directory))
    try:
        world = json.loads((directory / "world.json").read_text())
        guard = DestinationGuard(OutboundPolicy.from_settings(allow=["127.0.0.1"], allow_http=True))
        async with build_client(guard) as outbound:
            providers = Providers(PushSettings.model_validate(world["settings"]), outbound, SystemClock())
            sub = world["subscription"]
            regs = {
                Platform.FCM: Registration("r1", "u", Platform.FCM, "fcm-bench", {"targetKind": "token"}),
                Platform.WEBPUSH: Registration("r2", "u", Platform.WEBPUSH, sub["endpoint"], {"keys": sub["keys"]}),
                Platform.WNS: Registration("r3", "u", Platform.WNS, world["channel"]),
                Platform.APNS: Registration("r4", "u", Platform.APNS, "ab" * 32,
                                            {"pushType": "voip", "environment": "production"}),
            }  # fmt: skip
            data = {"type": "incomingCall", "callId": "c-1", "participantId": "p-1", "callerId": "8:acs:x",
                    "callerDisplayName": "Bench", "videoOffered": "false", "ringingUntil": "x"}  # fmt: skip
            note = Notification(
                NotificationKind.RING, "c-1", data, "Bench", "Incoming call", 60, time.time() + 600
            )
            bases = {
                Platform.FCM: world["fcm"],
                Platform.WEBPUSH: world["webpush"],
                Platform.WNS: world["wns"],
            }
            for platform, reg in regs.items():
                await providers.send(reg, note)  # warm up: tokens, connections
                slots = asyncio.Semaphore(16)
                outcomes: dict[str, int] = {}
                one = _sender(providers, reg, note, slots, outcomes)
                cpu, started = time.process_time(), time.perf_counter()
                await asyncio.wait_for(asyncio.gather(*(one() for _ in range(count))), TIMEOUT)
                elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
                ceiling_rate = await _push_ceiling(bases.get(platform), world, count)
                out[f"push_{platform.value}"] = (count / elapsed, cpu / count * 1e6, ceiling_rate, outcomes)
            await providers.close()
    finally:
        process.kill()
        process.wait(10)


def _sender(
    providers: Any, reg: Any, note: Any, slots: asyncio.Semaphore, outcomes: dict[str, int]
) -> Callable[[], Coroutine[Any, Any, None]]:
    async def one() -> None:
        async with slots:
            result = await providers.send(reg, note)
            key = result.outcome.value if result else "none"
            outcomes[key] = outcomes.get(key, 0) + 1

    return one


async def _push_ceiling(base: str | None, world: dict[str, Any], count: int) -> float:
    """The same service answering a bare request (404 for an unknown path), 16 at a time."""
    if base is None:  # APNs: HTTP/2 over TLS
        import ssl

        client = httpx.AsyncClient(http2=True, verify=ssl.create_default_context(cafile=world["ca"]))
        url = world["apns"] + "/nope"
    else:
        client = httpx.AsyncClient()
        url = base.split("/wpush")[0] + "/nope"
    slots = asyncio.Semaphore(16)

    async def one() -> None:
        async with slots:
            await client.post(url, content=b"{}")

    async with client:
        await one()
        started = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(one() for _ in range(count))), TIMEOUT)
        return count / (time.perf_counter() - started)


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--receiver":
        receiver_main(int(sys.argv[2]))
        return
    if len(sys.argv) > 2 and sys.argv[1] == "--providers":
        providers_main(sys.argv[2])
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--pushes", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=100.0, help="chat messages/s in the live phase")
    args = parser.parse_args()
    out: dict[str, Any] = {}
    asyncio.run(webhooks(args.events, args.rate, out))
    asyncio.run(pushes(args.pushes, out))
    n = out["events"]
    print(f"webhooks: {n} chat messages, 4 senders, telex serve on SQLite, receiver aiohttp on 127.0.0.1")
    print(f"  receiver ceiling (bare httpx, 1 request at a time): {out['ceiling_1']:7.0f} events/s (1/request)"
          f"  {out['ceiling_20']:7.0f} events/s (20/request)")  # fmt: skip
    print(f"  live: senders {out['send_rate']:.0f} messages/s; event time → arrival p50 {out['live_p50'] * 1000:.1f} ms"
          f"  p99 {out['live_p99'] * 1000:.1f} ms")  # fmt: skip
    for batch in (1, 20):
        rate, ceil = out[f"backlog_{batch}"], out[f"ceiling_{batch}"]
        print(f"  backlog, {batch:2d}/request: {rate:7.0f} events/s   server CPU {out[f'cpu_us_{batch}']:6.0f} µs/event"
              f"   ratio Telex / ceiling {rate / ceil:.2f}")  # fmt: skip
    print(
        f"pushes: {args.pushes} ring notifications per provider, 16 in flight, loopback services in their own process"
    )
    for platform in ("fcm", "webpush", "wns", "apns"):
        rate, us, ceil, outcomes = out[f"push_{platform}"]
        print(f"  {platform:8s} {rate:7.0f} pushes/s   client CPU {us:5.0f} µs/push   service ceiling {ceil:7.0f}/s"
              f"   ratio {rate / ceil:.2f}   {outcomes}")  # fmt: skip


if __name__ == "__main__":
    main()
