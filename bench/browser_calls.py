#!/usr/bin/env python3
"""Calls in real browsers: time from join to media flowing both ways, against plain WebRTC.

    scripts/netns-run .venv/bin/python bench/browser_calls.py [--calls 10] [--json out.json]

Runs inside the loopback-only network namespace (as the browser tests do), so neither the
pages nor Chromium's own background requests reach anything but the server started here.

One ``telex serve --demo`` on 127.0.0.1 (loopback TURN peers allowed) and one headless Debian
Chromium with two browser contexts, A and B (separate storage and peer connections; fake camera
and microphone). Both pages are plain same-origin documents (``/sdk/telex.js`` itself, which
has no Content-Security-Policy) into which the SDK is imported: no demo UI, no <video>
rendering, so the figure is the SDK and the server, not the demo's DOM work. Both sides run
relay-only through the same Telex TURN server, with the ICE configuration the SDK builds
(``POST /networkTraversal/:issueRelayConfiguration``, STUN left out, ``max-bundle``).

* **telex**: A is already in a group call (``agent.join``, untimed). B is signed in, its call
  agent created (realtime socket up) and its camera and microphone already open in a preview
  stream. The clock starts in page B right before ``agent.join({groupId}, {audio, video,
  relayOnly})``; that call still asks getUserMedia for its own tracks (the SDK always does),
  which with the devices already open is quick, and is shown separately in the breakdown.
* **plain**: the same two pages, plain ``RTCPeerConnection``s set up the way the SDK's
  ``PeerLink`` does (audio and video transceivers, the "telex" data channel, B the newcomer
  offers, trickled candidates), with the same configuration and the same getUserMedia call in
  B's timed section; the offer, answer and candidates are handed between the pages by this
  driver (a Playwright binding out, ``page.evaluate`` in) instead of Telex signaling.

The clock stops when **both** pages' ``getStats()`` show inbound-rtp audio and video
``packetsReceived > 0`` from the other, polled in the pages every 10 ms (both sides pay the
same resolution). Times are taken in the pages (``performance.timeOrigin + now()``), so no
DevTools round trip is in them. Telex and plain calls alternate (one warm-up each first), so
a change in the machine's load hits both; every call hangs up before the next one starts.

Where the time goes: the same in-page probe (it wraps RTCPeerConnection, fetch, WebSocket and
getUserMedia to time-stamp them, for both kinds of call; the SDK is not changed) gives each
set-up's milestones (REST answers, realtime arrivals, offer/answer applied, ICE and DTLS
connected), printed as medians, and counts the REST requests and realtime events. The SDK
caches the relay configuration per agent, so after the warm-up a join does not fetch it.

Also measured: Chromium CPU (every process under the browser this script launched, from
/proc; no other process is looked at) and Telex server CPU over 10 s of a steady 2-party call
of each kind, and the server's CPU per call set-up (clock start → media both ways).
p50/p95 are nearest-rank. Read the ratios: the 2 cores are shared with other work.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import math
import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from playwright.async_api import Error as PlaywrightError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.apiversions import async_hooks
from tests.support.live import LiveServer
from tests.support.procs import cpu_seconds
from tests.support.signing import HmacSigner

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
]
CALL_TIMEOUT_MS = 30_000
STEADY_SECONDS = 10.0
IDLE_SECONDS = 5.0
SETTLE_SECONDS = 2.0  # after media starts, before the steady window (bandwidth ramp-up)

# Installed in every page before any of its scripts run. It wraps the browser APIs the SDK uses
# (RTCPeerConnection, fetch, WebSocket, getUserMedia) only to time-stamp what happens, the same
# way for the SDK and the plain peers, so the two breakdowns compare; the SDK itself is
# unchanged. It also holds the plain-WebRTC peer and the "media is flowing" probe.
PAGE_SCRIPT = """
(() => {
  const now = () => performance.timeOrigin + performance.now();
  const bench = (window.__bench = { log: [], pcs: [], since: 0, now });
  const mark = (name, detail = null) => bench.log.push({ t: now(), name, detail });

  const NativePC = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends NativePC {
    constructor(...args) {
      super(...args);
      this.benchCreated = now();
      bench.pcs.push(this);
      mark("pc created");
      this.addEventListener("icecandidate", (e) => e.candidate?.candidate && mark("local candidate"));
      this.addEventListener("signalingstatechange", () => mark("signaling " + this.signalingState));
      this.addEventListener("iceconnectionstatechange", () => mark("ice " + this.iceConnectionState));
      this.addEventListener("connectionstatechange", () => mark("pc " + this.connectionState));
    }
  };

  const nativeFetch = window.fetch;
  window.fetch = async function (input, init) {
    const url = new URL(typeof input === "string" ? input : input.url, location.href);
    const what = url.pathname.split("/").pop();  // ":join", ":signal", ":issueRelayConfiguration"
    mark("rest start", what);
    try {
      return await nativeFetch.call(this, input, init);
    } finally {
      mark("rest end", what);
    }
  };

  const NativeWS = window.WebSocket;
  window.WebSocket = class extends NativeWS {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (e) => {
        try {
          const f = JSON.parse(e.data);
          if (f.type === "event") mark("realtime " + f.event, f.data?.type ?? null);
        } catch {}
      });
    }
  };

  const devices = navigator.mediaDevices;
  const nativeGum = devices.getUserMedia.bind(devices);
  devices.getUserMedia = async (constraints) => {
    mark("getUserMedia start");
    try {
      return await nativeGum(constraints);
    } finally {
      mark("getUserMedia end");
    }
  };

  // The SDK's camera constraints (media.js), so that both sides capture the same video.
  bench.camera = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 24 } };

  bench.arm = () => {
    bench.pcs = bench.pcs.filter((pc) => pc.connectionState !== "closed");
    bench.log = [];
    bench.since = now();
  };

  // Resolves with the time this page first sees inbound audio and video packets on a peer
  // connection made since arm().
  bench.firstMedia = async (timeoutMs) => {
    const deadline = now() + timeoutMs;
    while (now() < deadline) {
      for (const pc of bench.pcs) {
        if (pc.benchCreated < bench.since || pc.connectionState === "closed") continue;
        let audio = 0;
        let video = 0;
        (await pc.getStats()).forEach((r) => {
          if (r.type !== "inbound-rtp") return;
          if (r.kind === "audio") audio += r.packetsReceived || 0;
          if (r.kind === "video") video += r.packetsReceived || 0;
        });
        if (audio > 0 && video > 0) {
          mark("media in");
          return now();
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error(`no inbound audio and video within ${timeoutMs} ms`);
  };

  // Media packets sent so far and the selected pair's transport to the TURN server, over this
  // page's live peer connections (for the steady-call window).
  bench.carried = async () => {
    const out = { packetsSent: 0, bytesSent: 0, relayProtocol: [], pair: [] };
    for (const pc of bench.pcs) {
      if (pc.connectionState === "closed") continue;
      const report = await pc.getStats();
      report.forEach((r) => {
        if (r.type === "outbound-rtp") {
          out.packetsSent += r.packetsSent || 0;
          out.bytesSent += r.bytesSent || 0;
        }
        if (r.type === "transport" && r.selectedCandidatePairId) {
          const pair = report.get(r.selectedCandidatePairId);
          const local = pair && report.get(pair.localCandidateId);
          const remote = pair && report.get(pair.remoteCandidateId);
          if (local) out.relayProtocol.push(local.relayProtocol ?? null);
          if (local && remote) out.pair.push(`${local.candidateType}/${remote.candidateType}`);
        }
      });
    }
    return out;
  };

  // The plain peer: what peer.js does, with signals going to window.benchSignal (the driver).
  bench.plain = {
    pc: null,
    stream: null,
    sdpSent: false,
    held: [],  // our candidates, until our SDP is out
    early: [],  // their candidates, until their SDP is set
    async open() {
      this.stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: bench.camera });
    },
    make(config) {
      this.pc = new RTCPeerConnection(config);
      this.sdpSent = false;
      this.held = [];
      this.early = [];
      this.pc.addEventListener("icecandidate", (e) => {
        if (!e.candidate?.candidate) return;
        const c = { type: "candidate", candidate: e.candidate.toJSON() };
        if (this.sdpSent) window.benchSignal(c);
        else this.held.push(c);
      });
      return this.pc;
    },
    sendSdp(type) {
      window.benchSignal({ type, sdp: this.pc.localDescription.sdp });
      this.sdpSent = true;
      for (const c of this.held.splice(0)) window.benchSignal(c);
    },
    async offer(config) {
      await this.open();
      const pc = this.make(config);
      pc.addTransceiver(this.stream.getAudioTracks()[0], { direction: "sendrecv", streams: [this.stream] });
      pc.addTransceiver(this.stream.getVideoTracks()[0], { direction: "sendrecv", streams: [this.stream] });
      pc.createDataChannel("telex");
      await pc.setLocalDescription(await pc.createOffer());
      this.sendSdp("offer");
    },
    async answer(config, sdp) {
      const pc = this.make(config);
      await pc.setRemoteDescription({ type: "offer", sdp });
      for (const c of this.early.splice(0)) await pc.addIceCandidate(c);
      for (const track of this.stream.getTracks()) pc.addTrack(track, this.stream);
      await pc.setLocalDescription(await pc.createAnswer());
      this.sendSdp("answer");
    },
    async accept(sdp) {
      await this.pc.setRemoteDescription({ type: "answer", sdp });
      for (const c of this.early.splice(0)) await this.pc.addIceCandidate(c);
    },
    async candidate(c) {
      if (this.pc?.remoteDescription) await this.pc.addIceCandidate(c);
      else this.early.push(c);
    },
    close() {
      this.pc?.close();
      for (const t of this.stream?.getTracks() ?? []) t.stop();
      this.pc = this.stream = null;
    },
  };
})();
"""

SETUP_JS = """async ({ token, name }) => {
  const sdk = await import("/sdk/telex.js");
  const client = new sdk.TelexClient(location.origin, new sdk.AccessTokenCredential({ token }));
  window.__bench.agent = await client.calling.createCallAgent({ displayName: name });
  // Camera and microphone open before the call, as in a pre-call preview.
  window.__bench.preview = await navigator.mediaDevices.getUserMedia({ audio: true, video: window.__bench.camera });
}"""
JOIN_OPTIONS = "{ audio: true, video: true, relayOnly: true }"
JOIN_JS = f"async (groupId) => {{ window.__bench.call = await window.__bench.agent.join({{ groupId }}, {JOIN_OPTIONS}); }}"
TIMED_JOIN_JS = f"""async (groupId) => {{
  const start = window.__bench.now();
  window.__bench.call = await window.__bench.agent.join({{ groupId }}, {JOIN_OPTIONS});
  return start;
}}"""
CARRIED_JS = "() => window.__bench.carried()"
TIMED_OFFER_JS = """async (config) => {
  const start = window.__bench.now();
  await window.__bench.plain.offer(config);
  return start;
}"""

# (label, page, mark name, mark detail or None for any): the first such mark after the clock
# start, in ms. Marks that one kind of call never makes (REST, realtime) show as "-".
MILESTONES = [
    ("B getUserMedia returned", "B", "getUserMedia end", None),
    ("B join answered (POST :join)", "B", "rest end", ":join"),
    ("B offer set (setLocalDescription)", "B", "signaling have-local-offer", None),
    ("B offer posted (POST :signal)", "B", "rest end", ":signal"),
    ("A offer arrived (realtime)", "A", "realtime callSignal", "offer"),
    ("A offer applied", "A", "signaling have-remote-offer", None),
    ("A answer set (setLocalDescription)", "A", "signaling stable", None),
    ("A answer posted (POST :signal)", "A", "rest end", ":signal"),
    ("B first relay candidate", "B", "local candidate", None),
    ("B answer arrived (realtime)", "B", "realtime callSignal", "answer"),
    ("B answer applied", "B", "signaling stable", None),
    ("B ICE connected", "B", "ice connected", None),
    ("A ICE connected", "A", "ice connected", None),
    ("B DTLS connected", "B", "pc connected", None),
    ("A DTLS connected", "A", "pc connected", None),
    ("A media in", "A", "media in", None),
    ("B media in", "B", "media in", None),
]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def in_loopback_namespace() -> bool:
    # Asked of the kernel for this process's namespace (/sys/class/net shows sysfs's, not ours).
    return [name for _, name in socket.if_nameindex()] == ["lo"]


def descendants(pid: int) -> list[int]:
    """Every process under ``pid`` (through /proc/<pid>/task/*/children: only our own tree is
    read, never other jobs' processes, some of which are Chromium too)."""
    out: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        for children in Path(f"/proc/{parent}/task").glob("*/children"):
            try:
                kids = [int(k) for k in children.read_text().split()]
            except OSError:  # the thread or process just ended
                continue
            out += kids
            todo += kids
    return out


def chromium_tree(server_pid: int) -> list[int]:
    """The processes of the browser launched here: our descendants running the Chromium binary,
    and theirs (the Playwright driver and the Telex server are ours too, and left out)."""
    roots = []
    for pid in descendants(os.getpid()):
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            continue
        if pid != server_pid and Path(exe).name == "chromium":
            roots.append(pid)
    tree = set(roots)
    for pid in roots:
        tree.update(descendants(pid))
    return sorted(tree)


def cpu_of(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        with contextlib.suppress(OSError, IndexError):  # ended meanwhile
            out[pid] = cpu_seconds(pid)
    return out


@dataclass
class Side:
    """What one kind of call measured."""

    times_ms: list[float] = field(default_factory=list)
    server_cpu_ms: list[float] = field(default_factory=list)  # per set-up, clock start → media
    milestones: dict[str, list[float]] = field(default_factory=dict)
    per_call: list[dict[str, float]] = field(default_factory=list)  # each call's milestones, for outliers
    requests: list[int] = field(default_factory=list)  # REST requests by both pages, per set-up
    request_kinds: Counter[str] = field(default_factory=Counter)  # over all set-ups
    events: list[int] = field(default_factory=list)  # realtime events received by both, per set-up
    steady: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "calls": len(self.times_ms),
            "p50_ms": percentile(self.times_ms, 50),
            "p95_ms": percentile(self.times_ms, 95),
            "min_ms": min(self.times_ms),
            "max_ms": max(self.times_ms),
            "times_ms": [round(t, 1) for t in self.times_ms],
            "server_cpu_ms_per_setup": statistics.mean(self.server_cpu_ms),
            "milestones_p50_ms": {k: percentile(v, 50) for k, v in self.milestones.items()},
            "milestones_per_call_ms": self.per_call,
            "rest_requests_per_setup": statistics.mean(self.requests),
            "rest_requests_per_setup_by_kind": {
                k: v / len(self.times_ms) for k, v in self.request_kinds.most_common()
            },
            "realtime_events_per_setup": statistics.mean(self.events),
            "steady": self.steady,
        }


class Bench:
    def __init__(self, server: LiveServer, browser: Browser) -> None:
        self.server = server
        self.browser = browser
        self.pages: dict[str, Page] = {}
        self.errors: list[str] = []
        self.inbox: dict[str, asyncio.Queue[dict[str, Any]]] = {"A": asyncio.Queue(), "B": asyncio.Queue()}
        self.rtc_config: dict[str, Any] = {}
        self.couriers: list[asyncio.Task[None]] = []

    async def open_pages(self) -> None:
        users = [await self._user() for _ in range(2)]
        for (name, other), token in zip((("A", "B"), ("B", "A")), users, strict=True):
            context: BrowserContext = await self.browser.new_context()
            await context.add_init_script(PAGE_SCRIPT)
            # The plain peer's signals: page → driver → the other page, in order.
            await context.expose_function("benchSignal", self.inbox[other].put_nowait)
            page = await context.new_page()
            page.on("pageerror", self._page_error(name))
            await page.goto(self.server.http_url + "/sdk/telex.js")
            await page.evaluate(SETUP_JS, {"token": token, "name": name})
            self.pages[name] = page
            self.couriers.append(asyncio.create_task(self._courier(name)))
        self.rtc_config = await self._rtc_config(users[0])

    def _page_error(self, name: str) -> Callable[[PlaywrightError], None]:
        def record(exc: PlaywrightError) -> None:
            self.errors.append(f"[{name}] {exc}")

        return record

    async def close(self) -> None:
        for task in self.couriers:
            task.cancel()
        for page in self.pages.values():
            await page.context.close()

    async def _user(self) -> str:
        signer = HmacSigner(base64.b64decode(self.server.access_key))
        async with httpx.AsyncClient(
            event_hooks=async_hooks(), base_url=self.server.http_url, auth=signer
        ) as http:
            r = await http.post("/identities", json={"createTokenWithScopes": ["chat", "voip"]})
            r.raise_for_status()
            token: str = r.json()["accessToken"]["token"]
            return token

    async def _rtc_config(self, token: str) -> dict[str, Any]:
        """The configuration the SDK's ``agent._rtcConfig(true)`` builds from the same route."""
        async with httpx.AsyncClient(event_hooks=async_hooks(), base_url=self.server.http_url) as http:
            r = await http.post(
                "/networkTraversal/:issueRelayConfiguration",
                params={"api-version": "2022-03-01-preview"},
                json={"ttl": 86400},
                headers={"authorization": f"Bearer {token}"},
            )
            r.raise_for_status()
        servers = []
        for s in r.json()["iceServers"]:
            urls = [u for u in s["urls"] if not u.startswith("stun:")]
            if urls:
                servers.append({"urls": urls, "username": s["username"], "credential": s["credential"]})
        return {"iceServers": servers, "iceTransportPolicy": "relay", "bundlePolicy": "max-bundle"}

    async def _courier(self, name: str) -> None:
        """Hands the plain peers' signals to page ``name``, one at a time and in order."""
        page, inbox = self.pages[name], self.inbox[name]
        while True:
            msg = await inbox.get()
            try:
                if msg["type"] == "offer":
                    await page.evaluate(
                        "([c, sdp]) => window.__bench.plain.answer(c, sdp)", [self.rtc_config, msg["sdp"]]
                    )
                elif msg["type"] == "answer":
                    await page.evaluate("(sdp) => window.__bench.plain.accept(sdp)", msg["sdp"])
                else:
                    await page.evaluate("(c) => window.__bench.plain.candidate(c)", msg["candidate"])
            except Exception as exc:  # reported with the call that then times out
                self.errors.append(f"[{name}] courier: {exc}")

    async def one_call(self, kind: str, side: Side | None, steady: bool = False) -> None:
        """One call of ``kind`` ("telex" or "plain"); recorded into ``side`` unless a warm-up."""
        a, b = self.pages["A"], self.pages["B"]
        group = str(uuid.uuid4())
        if kind == "telex":
            await a.evaluate(JOIN_JS, group)  # A is in the call before the clock starts
        else:
            await a.evaluate("() => window.__bench.plain.open()")
        for page in (a, b):
            await page.evaluate("() => window.__bench.arm()")
        watchers = [
            asyncio.create_task(page.evaluate("(ms) => window.__bench.firstMedia(ms)", CALL_TIMEOUT_MS))
            for page in (a, b)
        ]
        server_before = cpu_seconds(self._server_pid)
        try:
            if kind == "telex":
                start = await b.evaluate(TIMED_JOIN_JS, group)
            else:
                start = await b.evaluate(TIMED_OFFER_JS, self.rtc_config)
            seen = await asyncio.gather(*watchers)
        except Exception as exc:
            for task in watchers:
                task.cancel()
            raise RuntimeError(f"{kind} call failed: {exc}; page errors: {self.errors[-10:]}") from exc
        server_cpu = cpu_seconds(self._server_pid) - server_before
        elapsed = max(seen) - start
        print(f"  {kind:5} call: {elapsed:7.1f} ms", file=sys.stderr)
        if side is not None:
            side.times_ms.append(elapsed)
            side.server_cpu_ms.append(server_cpu * 1000)
            await self._record_marks(side, start, max(seen))
            if steady:
                side.steady = await self.steady_cpu()
        await self.hang_up(kind)

    async def _record_marks(self, side: Side, start: float, end: float) -> None:
        """The milestones, requests and realtime events of one set-up, from both pages' marks."""
        logs = {name: await page.evaluate("() => window.__bench.log") for name, page in self.pages.items()}
        window = [e for log in logs.values() for e in log if start <= e["t"] <= end]
        side.requests.append(sum(e["name"] == "rest end" for e in window))
        side.request_kinds.update(e["detail"] for e in window if e["name"] == "rest end")
        side.events.append(sum(e["name"].startswith("realtime ") for e in window))
        this_call: dict[str, float] = {"total": end - start}
        for label, page_name, mark, detail in MILESTONES:
            at = next(
                (
                    e["t"] - start
                    for e in logs[page_name]
                    if e["t"] >= start and e["name"] == mark and (detail is None or e["detail"] == detail)
                ),
                None,
            )
            if at is not None:
                side.milestones.setdefault(label, []).append(at)
                this_call[label] = round(at, 1)
        side.per_call.append(this_call)

    async def hang_up(self, kind: str) -> None:
        for page in (self.pages["B"], self.pages["A"]):
            if kind == "telex":
                await page.evaluate("() => window.__bench.call.hangUp()")
            else:
                await page.evaluate("() => window.__bench.plain.close()")

    async def idle_cpu(self) -> dict[str, float]:
        """The floor under the steady-call figures: both pages signed in (realtime sockets up,
        preview camera and microphone running), no call."""
        pids = chromium_tree(self._server_pid)
        before, server_before, t0 = cpu_of(pids), cpu_seconds(self._server_pid), time.monotonic()
        await asyncio.sleep(IDLE_SECONDS)
        after, server_after, wall = cpu_of(pids), cpu_seconds(self._server_pid), time.monotonic() - t0
        browser = sum(after[p] - before[p] for p in after if p in before)
        return {
            "seconds": round(wall, 2),
            "chromium_cpu_pct": 100 * browser / wall,
            "server_cpu_pct": 100 * (server_after - server_before) / wall,
        }

    async def steady_cpu(self) -> dict[str, Any]:
        await asyncio.sleep(SETTLE_SECONDS)
        pids = chromium_tree(self._server_pid)
        carried_before = [await page.evaluate(CARRIED_JS) for page in self.pages.values()]
        before, server_before, t0 = cpu_of(pids), cpu_seconds(self._server_pid), time.monotonic()
        await asyncio.sleep(STEADY_SECONDS)
        after, server_after, wall = cpu_of(pids), cpu_seconds(self._server_pid), time.monotonic() - t0
        carried_after = [await page.evaluate(CARRIED_JS) for page in self.pages.values()]
        browser = sum(after[p] - before[p] for p in after if p in before)
        packets = sum(
            a["packetsSent"] - b["packetsSent"] for a, b in zip(carried_after, carried_before, strict=True)
        )
        sent = sum(
            a["bytesSent"] - b["bytesSent"] for a, b in zip(carried_after, carried_before, strict=True)
        )
        server = server_after - server_before
        return {
            "media_packets_per_s": packets / wall,
            "media_kbit_per_s": 8 * sent / wall / 1000,
            # RTP packets sent by both pages; each passes the server twice (client → its
            # allocation → the peer's allocation, also on this server → the peer).
            "server_cpu_us_per_packet": 1e6 * server / packets if packets else 0.0,
            "relay_protocols": sorted({str(p) for c in carried_after for p in c["relayProtocol"]}),
            "pairs": sorted({p for c in carried_after for p in c["pair"]}),
            "seconds": round(wall, 2),
            "chromium_processes": len(pids),
            "chromium_cpu_pct": 100 * browser / wall,
            "server_cpu_pct": 100 * server / wall,
        }

    @property
    def _server_pid(self) -> int:
        assert self.server.proc is not None
        return self.server.proc.pid


async def run(args: argparse.Namespace) -> dict[str, Any]:
    sides = {"telex": Side(), "plain": Side()}
    idle: dict[str, float] = {}
    load_before = os.getloadavg()
    began = time.monotonic()
    env = {
        "TELEX_TURN__ALLOW_LOOPBACK_PEERS": "true",
        # Calls back to back between the same few users: lift the invitation limits.
        "TELEX_CALLING__INVITATIONS_PER_CALLER_PER_MINUTE": "0",
        "TELEX_CALLING__INVITATIONS_PER_CALLEE_PER_MINUTE": "0",
        "TELEX_DEMO__SIGN_INS_PER_IP_PER_MINUTE": "0",  # every page signs in from loopback
    }
    with (
        tempfile.TemporaryDirectory() as tmp,
        LiveServer(Path(tmp) / "data", env=env, extra_args=["--demo"]) as server,
    ):
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
            bench = Bench(server, browser)
            try:
                await bench.open_pages()
                idle = await bench.idle_cpu()
                for kind in sides:  # warm-up: first allocations, codecs, the SDK's relay cache
                    await bench.one_call(kind, None)
                # Alternating, so that a change in the machine's load hits both kinds alike.
                for i in range(args.calls):
                    for kind, side in sides.items():
                        await bench.one_call(kind, side, steady=i == args.calls - 1)
            finally:
                await bench.close()
                await browser.close()
    out: dict[str, Any] = {name: side.summary() for name, side in sides.items()}
    out["idle"] = idle
    for name in sides:
        # What relaying the call costs the server above its floor (both pages signed in, no
        # call), per RTP packet sent by either page.
        steady = out[name]["steady"]
        above = (steady["server_cpu_pct"] - idle["server_cpu_pct"]) / 100 * steady["seconds"]
        packets = steady["media_packets_per_s"] * steady["seconds"]
        steady["server_cpu_us_per_packet_above_idle"] = 1e6 * above / packets if packets else 0.0
    out["ratio_p50"] = out["telex"]["p50_ms"] / out["plain"]["p50_ms"]
    out["ratio_p95"] = out["telex"]["p95_ms"] / out["plain"]["p95_ms"]
    out["load_average_before"] = load_before
    out["load_average_after"] = os.getloadavg()
    out["seconds"] = round(time.monotonic() - began, 1)
    out["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return out


def report(result: dict[str, Any]) -> None:
    t, p = result["telex"], result["plain"]
    print(f"join → inbound audio+video on both pages, headless Chromium, relay-only, {t['calls']} calls each")
    print(f"{'':28} {'p50 ms':>8} {'p95 ms':>8} {'min':>7} {'max':>7} {'server CPU ms/set-up':>21}")
    for name, r in (("telex (SDK agent.join)", t), ("plain RTCPeerConnection", p)):
        print(
            f"{name:28} {r['p50_ms']:8.1f} {r['p95_ms']:8.1f} {r['min_ms']:7.1f} {r['max_ms']:7.1f}"
            f" {r['server_cpu_ms_per_setup']:21.1f}"
        )
    print(f"{'ratio telex/plain':28} {result['ratio_p50']:8.2f} {result['ratio_p95']:8.2f}")
    print(
        f"per telex set-up: {t['rest_requests_per_setup']:.1f} REST requests,"
        f" {t['realtime_events_per_setup']:.1f} realtime events (both pages); requests: "
        + ", ".join(f"{k} {v:.1f}" for k, v in t["rest_requests_per_setup_by_kind"].items())
    )
    print("\nwhere the time goes (p50 ms after the clock start):")
    print(f"{'':36} {'telex':>8} {'plain':>8}")
    for label, *_ in MILESTONES:
        cells = [r["milestones_p50_ms"].get(label) for r in (t, p)]
        print(f"{label:36} " + " ".join(f"{c:8.1f}" if c is not None else f"{'-':>8}" for c in cells))
    print(f"\nsteady 2-party call, {STEADY_SECONDS:.0f} s (% of one core):")
    for name, r in (("telex", t), ("plain", p)):
        s = r["steady"]
        print(
            f"  {name:6} Chromium {s['chromium_cpu_pct']:5.1f} % ({s['chromium_processes']} processes)"
            f"   Telex server {s['server_cpu_pct']:4.1f} %"
            f"   media {s['media_packets_per_s']:.0f} RTP packets/s, {s['media_kbit_per_s']:.0f} kbit/s"
            f" ({'/'.join(s['pairs'])} over {'/'.join(s['relay_protocols'])}):"
            f" server {s['server_cpu_us_per_packet_above_idle']:.0f} µs per packet above idle"
        )
    i = result["idle"]
    print(
        f"  idle   Chromium {i['chromium_cpu_pct']:5.1f} %   Telex server {i['server_cpu_pct']:4.1f} %"
        "   (both pages signed in, previews open, no call)"
    )
    before, after = result["load_average_before"], result["load_average_after"]
    print(f"\nload average {before[0]:.2f} before, {after[0]:.2f} after; {result['seconds']} s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not in_loopback_namespace():
        sys.exit(
            "bench/browser_calls.py runs in a network namespace that holds only loopback: "
            "scripts/netns-run .venv/bin/python bench/browser_calls.py"
        )
    if args.calls < 1:
        sys.exit("--calls must be at least 1")
    result = asyncio.run(run(args))
    report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
