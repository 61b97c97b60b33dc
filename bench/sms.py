#!/usr/bin/env python3
"""SMS benchmark: the SMPP client and the whole API against the SMSC's own ceiling, same run.

    python bench/sms.py [--messages 5000] [--window 10] [--api-messages 2000] [--concurrency 8]

The SMSC is tests/telephony/smsc.pl (Debian's libnet-smpp-perl, one process, 127.0.0.1). Its
ceiling is measured with tests/telephony/esme_blast.pl, a bare Net::SMPP ESME that keeps
``window`` submit_sm outstanding and does nothing else. Then:

  client     Telex's ``SmppClient`` drains an in-memory queue of the same number of one-part
             messages with the same window: segmenting, the session's bookkeeping, and marking
             each message submitted (the client's own CPU µs per message).
  api/sim    a real ``telex serve`` (SQLite) on the simulated carrier: ``POST /sms`` from
             ``--concurrency`` HMAC-signing clients, one recipient per request and 100 per request;
             accepted messages/s (each a durable row before the 202) and the server's CPU µs per
             message (from /proc).
  api/smpp   the same server with an SMPP carrier to smsc.pl: accepted messages/s through the API,
             and messages/s end to end (first POST to the last submit_sm the SMSC logged: the
             store's outbox, claims, the client, and marking each message submitted).

Ratios are against the ceiling (1.0: Telex keeps up with this SMSC). Bounded: every run has a
timeout. The machine is shared and noisy: compare ratios, not absolute numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.live import LiveServer
from tests.support.procs import cpu_seconds, free_port
from tests.support.signing import HmacSigner

from telex.telephony.smpp.client import SmppClient
from telex.telephony.smpp.events import Bound, Event
from telex.telephony.smpp.message import OutboundMessage
from telex.telephony.smpp.queue import InMemorySmsQueue
from telex.telephony.smpp.session import SessionConfig

HERE = Path(__file__).resolve().parents[1] / "tests" / "telephony"


def start_smsc(port: int, log: str = "/dev/null") -> subprocess.Popen[str]:
    process = subprocess.Popen(
        ["perl", str(HERE / "smsc.pl"), "--port", str(port), "--log", log],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    if not process.stdout.readline().startswith("LISTENING"):
        raise RuntimeError("smsc.pl did not start")
    return process


def stop(process: subprocess.Popen[str]) -> None:
    process.kill()
    process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()


def ceiling(messages: int, window: int) -> tuple[float, float]:
    port = free_port()
    smsc = start_smsc(port)
    try:
        out = subprocess.run(
            ["perl", str(HERE / "esme_blast.pl"), str(port), str(messages), str(window)],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        ).stdout.split()
        return int(out[0]) / float(out[1]), cpu_seconds(smsc.pid)
    finally:
        stop(smsc)


async def telex(messages: int, window: int) -> tuple[float, float, float]:
    port = free_port()
    smsc = start_smsc(port)
    queue = InMemorySmsQueue()
    for i in range(messages):
        queue.put(OutboundMessage(f"m{i}", "+14255550100", "+14255550123", f"bench message {i}", False))
    bound_at: list[float] = []

    def on_event(event: Event) -> None:
        if isinstance(event, Bound):
            bound_at.append(time.perf_counter())

    async def ignore(_: object) -> None:
        pass

    config = SessionConfig(system_id="acs", password="secret", window=window)
    client = SmppClient("127.0.0.1", port, config, queue, ignore, backlog=4 * window, on_event=on_event)
    try:
        cpu_before = time.process_time()
        task = asyncio.create_task(client.run())
        await asyncio.wait_for(queue.wait_until(lambda q: len(q.submitted) == messages), 300)
        elapsed = time.perf_counter() - bound_at[0]
        cpu = time.process_time() - cpu_before
        await client.stop()
        await asyncio.wait_for(task, 10)
        return messages / elapsed, cpu_seconds(smsc.pid), cpu / messages * 1e6
    finally:
        stop(smsc)


async def _operation(api: httpx.AsyncClient, location: str) -> None:
    for _ in range(500):
        if (await api.get(location)).json()["status"] in ("succeeded", "failed"):
            return
        await asyncio.sleep(0.02)
    raise RuntimeError("operation did not finish")


async def _own_number(api: httpx.AsyncClient) -> str:
    caps = {"calling": "inbound+outbound", "sms": "inbound+outbound"}
    search = {"phoneNumberType": "geographic", "assignmentType": "application", "capabilities": caps,
              "areaCode": "425", "quantity": 1}  # fmt: skip
    r = await api.post("/availablePhoneNumbers/countries/US/:search", json=search)
    await _operation(api, r.headers["Operation-Location"])
    [number] = (await api.get(r.headers["Location"])).json()["phoneNumbers"]
    r = await api.post("/availablePhoneNumbers/:purchase", json={"searchId": r.headers["search-id"]})
    await _operation(api, r.headers["Operation-Location"])
    return str(number)


async def _send_all(
    live: LiveServer, messages: int, per_request: int, concurrency: int
) -> tuple[float, float, float]:
    """POST /sms until ``messages`` were accepted; returns (messages/s, server CPU µs/message, first POST)."""
    auth = HmacSigner(base64.b64decode(live.access_key))
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=live.http_url, auth=auth, limits=limits, timeout=60) as api:
        sender = await _own_number(api)
        requests = [per_request] * (messages // per_request)
        body = lambda n: {"from": sender, "message": "bench message",  # noqa: E731
                          "smsRecipients": [{"to": "+14255550123"}] * n}  # fmt: skip
        queue: asyncio.Queue[int] = asyncio.Queue()
        for n in requests:
            queue.put_nowait(n)
        accepted = 0

        async def worker() -> None:
            nonlocal accepted
            while not queue.empty():
                n = queue.get_nowait()
                r = await api.post("/sms", json=body(n))
                if r.status_code != 202:
                    raise RuntimeError(f"POST /sms: {r.status_code} {r.text}")
                accepted += sum(1 for x in r.json()["value"] if x["successful"])

        assert live.proc is not None
        cpu = cpu_seconds(live.proc.pid)
        start = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(concurrency))), 600)
        elapsed = time.perf_counter() - start
        cpu = cpu_seconds(live.proc.pid) - cpu
    return accepted / elapsed, cpu / accepted * 1e6, start


async def api_simulated(messages: int, per_request: int, concurrency: int) -> tuple[float, float]:
    env = {"TELEX_SMS__PER_MINUTE_GEOGRAPHIC": "0", "TELEX_NUMBERS__RETRY_AFTER_MS": "20"}
    with tempfile.TemporaryDirectory() as tmp, LiveServer(Path(tmp) / "data", env=env) as live:
        rate, cpu, _ = await _send_all(live, messages, per_request, concurrency)
    return rate, cpu


async def api_smpp(messages: int, window: int, concurrency: int) -> tuple[float, float, float]:
    """(accepted/s, server CPU µs/message while accepting, end-to-end messages/s to the SMSC)."""
    with tempfile.TemporaryDirectory() as tmp:
        port, log = free_port(), Path(tmp) / "smsc.log"
        smsc = start_smsc(port, str(log))
        config = Path(tmp) / "telex.toml"
        config.write_text(
            '[[carriers.smpp]]\nname = "perl"\nnumbers = ["+14255550100-+14255550199"]\n'
            f'host = "127.0.0.1"\nport = {port}\nsystem_id = "acs"\npassword = "secret"\n'
            f"window = {window}\npoll_seconds = 0.2\n"
        )
        env = {"TELEX_CONFIG": str(config), "TELEX_SMS__PER_MINUTE_GEOGRAPHIC": "0",
               "TELEX_NUMBERS__RETRY_AFTER_MS": "20"}  # fmt: skip
        try:
            with LiveServer(Path(tmp) / "data", env=env) as live:
                rate, cpu, first = await _send_all(live, messages, 100, concurrency)
                deadline = time.monotonic() + 600
                while _submits(log) < messages:
                    if time.monotonic() > deadline:
                        raise RuntimeError("the SMSC did not receive every message in time")
                    await asyncio.sleep(0.05)
                end_to_end = messages / (time.perf_counter() - first)
        finally:
            stop(smsc)
    return rate, cpu, end_to_end


def _submits(log: Path) -> int:
    try:
        with log.open("rb") as f:
            return sum(1 for line in f if line.startswith(b"SUBMIT\t"))
    except FileNotFoundError:
        return 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--api-messages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    peer_rate, peer_smsc_cpu = ceiling(args.messages, args.window)
    try:  # the event loop `telex serve` runs on when it is installed
        import uvloop

        run = uvloop.run
        loop_name = "uvloop"
    except ImportError:
        run = asyncio.run
        loop_name = "asyncio"
    rate, smsc_cpu, us_per_message = run(telex(args.messages, args.window))
    single, single_cpu = asyncio.run(api_simulated(args.api_messages, 1, args.concurrency))
    batch, batch_cpu = asyncio.run(api_simulated(args.api_messages, 100, args.concurrency))
    smpp_accept, smpp_cpu, smpp_e2e = asyncio.run(api_smpp(args.api_messages, args.window, args.concurrency))
    print(f"{args.messages} one-part submit_sm, window {args.window}, SMSC smsc.pl (Net::SMPP) on 127.0.0.1")
    print(f"  SMSC ceiling (esme_blast.pl):  {peer_rate:8.0f} submits/s   SMSC CPU {peer_smsc_cpu:5.2f} s")
    print(
        f"  Telex SmppClient:             {rate:8.0f} submits/s   SMSC CPU {smsc_cpu:5.2f} s"
        f"   client CPU {us_per_message:.0f} µs/message ({loop_name})"
    )
    print(f"  ratio Telex / ceiling: {rate / peer_rate:.2f}")
    print(f"{args.api_messages} messages through POST /sms (telex serve, SQLite), {args.concurrency} clients")
    print(
        f"  simulated, 1 recipient/request:    {single:8.0f} accepted/s   server CPU {single_cpu:5.0f} µs/message"
    )
    print(
        f"  simulated, 100 recipients/request: {batch:8.0f} accepted/s   server CPU {batch_cpu:5.0f} µs/message"
    )
    print(
        f"  SMPP, 100 recipients/request:      {smpp_accept:8.0f} accepted/s   server CPU {smpp_cpu:5.0f} µs/message"
    )
    print(
        f"  SMPP end to end (to the SMSC):     {smpp_e2e:8.0f} messages/s   ratio / ceiling {smpp_e2e / peer_rate:.2f}"
    )


if __name__ == "__main__":
    main()
