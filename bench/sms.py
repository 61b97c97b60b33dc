#!/usr/bin/env python3
"""SMPP submit benchmark: Telex's client against the SMSC's own ceiling, same SMSC, same run.

    python bench/sms.py [--messages 5000] [--window 10]

The SMSC is tests/telephony/smsc.pl (Debian's libnet-smpp-perl, one process, 127.0.0.1). Its
ceiling is measured with tests/telephony/esme_blast.pl, a bare Net::SMPP ESME that keeps
``window`` submit_sm outstanding and does nothing else. Then Telex's ``SmppClient`` drains an
in-memory queue of the same number of one-part messages with the same window: segmenting,
the session's bookkeeping, and marking each message submitted. Reported per run: submits/s from
the first submit to the last answer, the SMSC's CPU seconds (from /proc), and for Telex the
client's own CPU microseconds per message; the ratio is Telex's rate over the ceiling (1.0 means
the client keeps up with this SMSC). Bounded: every run has a timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.procs import cpu_seconds, free_port

from telex.telephony.smpp.client import SmppClient
from telex.telephony.smpp.events import Bound, Event
from telex.telephony.smpp.message import OutboundMessage
from telex.telephony.smpp.queue import InMemorySmsQueue
from telex.telephony.smpp.session import SessionConfig

HERE = Path(__file__).resolve().parents[1] / "tests" / "telephony"


def start_smsc(port: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        ["perl", str(HERE / "smsc.pl"), "--port", str(port), "--log", "/dev/null"],
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--window", type=int, default=10)
    args = parser.parse_args()
    peer_rate, peer_smsc_cpu = ceiling(args.messages, args.window)
    try:  # the event loop `telex serve` runs on when it is installed
        import uvloop

        rate, smsc_cpu, us_per_message = uvloop.run(telex(args.messages, args.window))
        loop_name = "uvloop"
    except ImportError:
        rate, smsc_cpu, us_per_message = asyncio.run(telex(args.messages, args.window))
        loop_name = "asyncio"
    print(f"{args.messages} one-part submit_sm, window {args.window}, SMSC smsc.pl (Net::SMPP) on 127.0.0.1")
    print(f"  SMSC ceiling (esme_blast.pl):  {peer_rate:8.0f} submits/s   SMSC CPU {peer_smsc_cpu:5.2f} s")
    print(
        f"  Telex SmppClient:             {rate:8.0f} submits/s   SMSC CPU {smsc_cpu:5.2f} s"
        f"   client CPU {us_per_message:.0f} µs/message ({loop_name})"
    )
    print(f"  ratio Telex / ceiling: {rate / peer_rate:.2f}")


if __name__ == "__main__":
    main()
