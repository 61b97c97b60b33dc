#!/usr/bin/env python3
"""SIP core and RTP micro-benchmarks, each against a named peer in the same run.

    python bench/sip_core.py [--seconds 2] [--calls 2000] [--rate 400]

1. Parser: SIP messages parsed and serialized per second per core (an INVITE with SDP, 100, 180,
   200 with SDP, ACK, BYE, 200), against Python's own ``email.parser`` (compat32, headers only)
   parsing the same bytes: the stdlib's RFC 822 header parser doing less work than ours.
2. UA: complete calls (INVITE/100/180/200/ACK/BYE/200) per core. Peer: SIPp itself. The same
   SIPp UAC (built-in ``uac``, ``-r rate -m calls``) calls (a) SIPp's built-in ``uas`` and (b) a
   Telex UAS (the UA core in ``SipTransport``, answering at once) on loopback; reported is each
   UAS's CPU per call from /proc/<pid>/stat and the call rate reached. Also the sans-I/O core
   alone: two UserAgents calling each other in memory (both sides' CPU in one process).
3. RTP: G.711 packets encoded (PCM → µ-law → RTP) and decoded (RTP → µ-law → PCM) per second,
   against a bare ``struct`` pack/unpack of the 12-byte header with a copied payload (the floor
   any Python RTP stack pays), and ``audioop`` where Python still ships it.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import math
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.sip.harness import Net
from tests.sip.samples import SDP_OFFER, invite
from tests.support.procs import cpu_seconds, free_port

from telex.rtp.g711 import pcm_to_ulaw, ulaw_to_pcm
from telex.rtp.packet import RtpPacket, parse_rtp
from telex.sip import IncomingCall, SipTransport, UaConfig, UserAgent
from telex.sip.message import Request, make_response, parse_datagram

LOOP = "127.0.0.1"


def rate(fn: Callable[[], int], seconds: float) -> float:
    """Operations per second of ``fn`` (which returns how many it did) over ~``seconds``."""
    done = 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        done += fn()
    return done / elapsed


# ---- 1. parser --------------------------------------------------------------------------------


def corpus() -> list[bytes]:
    inv = parse_datagram(invite())
    assert isinstance(inv, Request)
    msgs = [invite(), make_response(inv, 100).encode(), make_response(inv, 180, to_tag="t1").encode()]
    ok = make_response(inv, 200, to_tag="t1", body=SDP_OFFER)
    ok.headers.add("Contact", "<sip:gw@198.51.100.1:5060>")
    ok.headers.add("Content-Type", "application/sdp")
    msgs.append(ok.encode())
    for method in ("ACK", "BYE"):
        raw = invite(body=b"", to_tag="t1").replace(b"INVITE sip", f"{method} sip".encode())
        msgs.append(raw.replace(b"314159 INVITE", f"314160 {method}".encode()))
    msgs.append(make_response(parse_datagram(msgs[-1]), 200).encode())  # type: ignore[arg-type]
    return msgs


def bench_parser(seconds: float) -> tuple[float, float]:
    msgs = corpus()

    def ours() -> int:
        for data in msgs:
            parse_datagram(data).encode()
        return len(msgs)

    parser = BytesHeaderParser(policy=compat32)
    heads = [m.split(b"\r\n", 1)[1] for m in msgs]  # email.parser knows no SIP start line

    def stdlib() -> int:
        for head in heads:
            parser.parsebytes(head)
        return len(heads)

    return rate(ours, seconds), rate(stdlib, seconds)


# ---- 2. UA ------------------------------------------------------------------------------------


def bench_ua_in_memory(calls: int) -> float:
    net = Net()
    a = net.add("192.0.2.10", 5060)
    b = net.add("198.51.100.1", 5060)
    cpu = time.process_time()
    for _ in range(calls):
        call_id = a.invite("sip:x@198.51.100.1", peer=net.peer_of(b), rtp=("192.0.2.10", 30000), now=net.now)
        net.pump()
        b.ring(call_id, net.now)
        b.answer(call_id, net.now, rtp=("198.51.100.1", 40000))
        net.pump()
        a.hangup(call_id, net.now)
        net.pump()
        net.take(a)
        net.take(b)
        net.wire.clear()
    used = time.process_time() - cpu
    return calls / used


async def telex_uas(port: int) -> None:
    """A UAS that answers every call at once and lets the caller hang up (run in a subprocess)."""
    ua = UserAgent(UaConfig(host=LOOP, ports={"udp": port}))
    transport = SipTransport(ua)
    await transport.listen_udp(LOOP, port)
    while True:
        event = await transport.events.get()
        if isinstance(event, IncomingCall):
            call_id = event.call_id
            transport.run(lambda now, c=call_id: ua.answer(c, now, rtp=(LOOP, 20000)))  # type: ignore[misc]


def run_sipp_against(uas_cmd: list[str], port: int, calls: int, call_rate: int) -> tuple[float, float, int]:
    """(calls/s, UAS CPU µs per call, failed calls) for SIPp's uac against the UAS command."""
    workdir = tempfile.mkdtemp(prefix="sip-bench-")  # sipp writes its logs to its working directory
    uas = subprocess.Popen(
        uas_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, cwd=workdir
    )
    try:
        time.sleep(1.0)  # let it bind
        cpu0 = cpu_seconds(uas.pid)
        start = time.perf_counter()
        uac = subprocess.run(
            [shutil.which("sipp") or "sipp", "-sn", "uac", f"{LOOP}:{port}", "-i", LOOP, "-p", str(free_port(socket.SOCK_DGRAM)),
             "-m", str(calls), "-r", str(call_rate), "-l", "500", "-nostdin", "-timeout", "120s", "-d", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=180, check=False, cwd=workdir,
        )  # fmt: skip
        wall = time.perf_counter() - start
        cpu = cpu_seconds(uas.pid) - cpu0
        text = uac.stdout.decode(errors="replace")
        failed = _count(text, "Failed call")
        ok = _count(text, "Successful call")
        return ok / wall, cpu / max(ok, 1) * 1e6, failed
    finally:
        uas.terminate()
        try:
            uas.wait(5)
        except subprocess.TimeoutExpired:
            uas.kill()
        shutil.rmtree(workdir, ignore_errors=True)


def _count(text: str, label: str) -> int:
    for line in text.splitlines():
        if line.strip().startswith(label):
            parts = [p for p in line.replace("|", " ").split() if p.isdigit()]
            return int(parts[-1]) if parts else 0
    return 0


# ---- 3. RTP -----------------------------------------------------------------------------------


def bench_rtp(seconds: float) -> dict[str, float]:
    pcm = array.array("h", (int(8000 * math.sin(2 * math.pi * 440 * i / 8000)) for i in range(160))).tobytes()
    payload = pcm_to_ulaw(pcm)
    packet = RtpPacket(0, 1, 160, 0x1234, payload).encode()
    header = struct.Struct("!BBHII")
    batch = 100

    def encode() -> int:
        for seq in range(batch):
            RtpPacket(0, seq, seq * 160, 0x1234, pcm_to_ulaw(pcm)).encode()
        return batch

    def decode() -> int:
        for _ in range(batch):
            ulaw_to_pcm(parse_rtp(packet).payload)
        return batch

    def bare_pack() -> int:
        for seq in range(batch):
            header.pack(0x80, 0, seq, seq * 160, 0x1234) + payload
        return batch

    def bare_unpack() -> int:
        for _ in range(batch):
            header.unpack_from(packet)
            bytes(packet[12:])
        return batch

    out = {
        "encode": rate(encode, seconds),
        "decode": rate(decode, seconds),
        "struct pack": rate(bare_pack, seconds),
        "struct unpack": rate(bare_unpack, seconds),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import audioop
        except ImportError:  # Python 3.13+
            return out

    def audioop_encode() -> int:
        for seq in range(batch):
            header.pack(0x80, 0, seq, seq * 160, 0x1234) + audioop.lin2ulaw(pcm, 2)
        return batch

    def audioop_decode() -> int:
        for _ in range(batch):
            header.unpack_from(packet)
            audioop.ulaw2lin(packet[12:], 2)
        return batch

    out["audioop encode"] = rate(audioop_encode, seconds)
    out["audioop decode"] = rate(audioop_decode, seconds)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=2.0, help="per micro-benchmark")
    parser.add_argument("--calls", type=int, default=2000, help="calls per SIPp run")
    parser.add_argument("--rate", type=int, default=400, help="SIPp call rate (calls/s) asked for")
    parser.add_argument("--uas", type=int, help=argparse.SUPPRESS)  # internal: run the Telex UAS
    args = parser.parse_args()
    if args.uas:
        asyncio.run(telex_uas(args.uas))
        return 0
    print(f"date_utc={time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} cpus={os.cpu_count()} "
          f"python={sys.version.split()[0]} load={os.getloadavg()[0]:.2f}")  # fmt: skip

    ours, stdlib = bench_parser(args.seconds)
    print("\n[1] SIP parse + serialize, messages/s (one core)")
    print(f"  telex.sip parse_datagram + encode : {ours:10,.0f}")
    print(f"  email.parser headers only (peer)  : {stdlib:10,.0f}   ratio telex/peer = {ours / stdlib:.2f}")

    print("\n[2] complete calls (INVITE 100 180 200 ACK BYE 200)")
    mem = bench_ua_in_memory(min(args.calls, 2000))
    print(f"  sans-I/O core, both UAs in memory : {mem:10,.0f} calls per CPU-second "
          f"({mem * 7:,.0f} messages/s through both cores)")  # fmt: skip
    if shutil.which("sipp") is None:
        print("  sipp not found (apt-get install sip-tester): the SIPp comparison is skipped")
    else:
        port = free_port(socket.SOCK_DGRAM)
        sipp_rate, sipp_cpu, sipp_failed = run_sipp_against(
            ["sipp", "-sn", "uas", "-i", LOOP, "-p", str(port), "-nostdin"], port, args.calls, args.rate
        )
        port = free_port(socket.SOCK_DGRAM)
        telex_rate, telex_cpu, telex_failed = run_sipp_against(
            [sys.executable, __file__, "--uas", str(port)], port, args.calls, args.rate
        )
        print(f"  SIPp uac -> SIPp uas  (peer)      : {sipp_rate:8,.0f} calls/s  UAS {sipp_cpu:7.0f} µs CPU/call  "
              f"failed {sipp_failed}")  # fmt: skip
        print(f"  SIPp uac -> Telex UAS (asyncio)   : {telex_rate:8,.0f} calls/s  UAS {telex_cpu:7.0f} µs CPU/call  "
              f"failed {telex_failed}")  # fmt: skip
        print(f"  ratio Telex/SIPp UAS CPU per call = {telex_cpu / sipp_cpu:.1f}x; "
              f"one core answers ~{1e6 / telex_cpu:,.0f} calls/s (SIPp ~{1e6 / sipp_cpu:,.0f})")  # fmt: skip

    rtp = bench_rtp(args.seconds)
    print("\n[3] RTP G.711 (20 ms, 160 samples), packets/s (one core)")
    print(f"  encode: PCM -> µ-law -> RTP       : {rtp['encode']:10,.0f}")
    print(f"  decode: RTP -> µ-law -> PCM       : {rtp['decode']:10,.0f}")
    print(f"  bare struct pack + payload (peer) : {rtp['struct pack']:10,.0f}   "
          f"ratio encode/peer = {rtp['encode'] / rtp['struct pack']:.2f}")  # fmt: skip
    print(f"  bare struct unpack + copy (peer)  : {rtp['struct unpack']:10,.0f}   "
          f"ratio decode/peer = {rtp['decode'] / rtp['struct unpack']:.2f}")  # fmt: skip
    if "audioop encode" in rtp:
        print(f"  audioop + struct encode (peer)    : {rtp['audioop encode']:10,.0f}   "
              f"ratio = {rtp['encode'] / rtp['audioop encode']:.2f}")  # fmt: skip
        print(f"  audioop + struct decode (peer)    : {rtp['audioop decode']:10,.0f}   "
              f"ratio = {rtp['decode'] / rtp['audioop decode']:.2f}")  # fmt: skip
    streams = min(rtp["encode"], rtp["decode"]) / 50
    print(f"  => one core encodes or decodes ~{streams:,.0f} concurrent 50 pps streams (codec work only)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
