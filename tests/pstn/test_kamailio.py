"""deploy/kamailio.cfg in front of two Telex nodes on one PostgreSQL: sipp, the carrier, places
six calls with digest authentication through the edge; the edge's hash of the Call-ID spreads
them over both nodes and keeps each call (the challenged INVITE, its retry, ACK, BYE) on one
node; bots answer on the node that took the call, and every call ends with BYE / 200. A bot's
call to a phone number leaves a node through the edge to the carrier."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aiortc")

from azure.communication.callautomation import PhoneNumberIdentifier

from telex.app import Node
from telex.automation.events import INCOMING_CALL
from telex.core.clock import SystemClock
from telex.events import DomainEvent
from telex.numbers.model import Capability
from tests.automation.conftest import Receiver, World
from tests.calling.conftest import user_maker
from tests.pstn.conftest import own, settings_for
from tests.sip.sipp_peer import LOOP, free_port, require_sipp, run_sipp, wait_bound
from tests.support.pg import PostgresCluster
from tests.support.serve import running

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

CONFIG = Path(__file__).parents[2] / "deploy" / "kamailio.cfg"
SCENARIO = Path(__file__).parent / "sipp" / "edge_call.xml"
CALLS = 6


def edge_config(port: int, dispatcher: Path, carrier_port: int) -> str:
    """The repository's file with this test's addresses: each replaced line must be there."""
    text = CONFIG.read_text()
    replacements = {
        '#!define EDGE_ADDRESS "10.0.0.10"\n': f'#!define EDGE_ADDRESS "{LOOP}"\n',
        '#!define CARRIER_HOST "203.0.113.5"\n': f'#!define CARRIER_HOST "{LOOP}"\n',
        "#!define CARRIER_PORT 5060\n": f"#!define CARRIER_PORT {carrier_port}\n",
        '#!define CARRIER_NET "203.0.113.0/24"\n': f'#!define CARRIER_NET "{LOOP}/32"\n',
        # On loopback every process shares one address: a node is its address and port (any
        # protocol: the list names none).
        '#!define NODE_MATCH "3"\n': '#!define NODE_MATCH "2"\n',
        "listen=udp:EDGE_ADDRESS:5060\n": f"listen=udp:EDGE_ADDRESS:{port}\n",
        "listen=tcp:EDGE_ADDRESS:5060\n": "",
        "children=4\n": "children=2\n",
        "log_stderror=no\n": "log_stderror=yes\n",
        '"/etc/kamailio/dispatcher.list"': f'"{dispatcher}"',
    }
    for old, new in replacements.items():
        assert old in text, f"deploy/kamailio.cfg lacks {old!r}"
        text = text.replace(old, new)
    return text


def test_the_shipped_file_parses(tmp_path: Path) -> None:
    kamailio = shutil.which("kamailio") or pytest.skip("kamailio not installed (scripts/apt-packages.txt)")
    dispatcher = tmp_path / "dispatcher.list"
    dispatcher.write_text("1 sip:10.0.0.11:5060\n1 sip:10.0.0.12:5060\n")
    config = tmp_path / "kamailio.cfg"
    config.write_text(CONFIG.read_text().replace('"/etc/kamailio/dispatcher.list"', f'"{dispatcher}"'))
    check = subprocess.run([kamailio, "-c", "-f", str(config)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr


class Rings:
    """A node's IncomingCall events, one at a time."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def committed(self, events: list[DomainEvent]) -> None:
        for event in events:
            if event.type == INCOMING_CALL:
                self.queue.put_nowait(event.data)

    def advanced(self, position: int) -> None:
        return None

    def ephemeral(self, event: DomainEvent) -> None:
        return None


@asynccontextmanager
async def telex_node(
    tmp_path: Path, database: str, edge_port: int, receiver: Receiver
) -> AsyncIterator[World]:
    trunk = {"port": edge_port, "options_interval_seconds": 0}
    settings = settings_for(tmp_path, edge_port, trunk=trunk)
    settings = settings.model_copy(update={"database": database})
    node = await Node.open(settings, SystemClock())
    rings = Rings()
    node.backbone.add_sink(rings)
    try:
        async with running(node, turn=True) as url:
            key = node.keyring.state.primary_key
            yield World(node, url, key, user_maker(url, key), rings, receiver)  # type: ignore[arg-type]
    finally:
        await node.close()


async def answer_all(world: World) -> None:
    rings: Rings = world.incoming  # type: ignore[assignment]
    while True:
        ring = await rings.queue.get()
        await asyncio.to_thread(world.sdk().answer_call, ring["incomingCallContext"], world.receiver.url())


async def test_the_edge_spreads_calls_over_two_nodes_and_keeps_each_on_one(
    tmp_path: Path, pg_cluster: PostgresCluster, receiver: Receiver
) -> None:
    kamailio = shutil.which("kamailio") or pytest.skip("kamailio not installed (scripts/apt-packages.txt)")
    sipp = require_sipp()
    database = pg_cluster.create_database()
    edge_port, carrier_port = free_port(), free_port()
    async with AsyncExitStack() as stack:
        nodes = [
            await stack.enter_async_context(telex_node(tmp_path / name, database, edge_port, receiver))
            for name in ("a", "b")
        ]
        number = await own(nodes[0].node, Capability.INBOUND_OUTBOUND, "425")
        dispatcher = tmp_path / "dispatcher.list"
        dispatcher.write_text("".join(f"1 sip:{LOOP}:{w.node.pstn.udp_port}\n" for w in nodes))  # type: ignore[union-attr]
        config = tmp_path / "kamailio.cfg"
        config.write_text(edge_config(edge_port, dispatcher, carrier_port))
        edge_log_file = stack.enter_context((tmp_path / "kamailio.log").open("w"))
        edge = subprocess.Popen(
            [kamailio, "-DD", "-E", "-f", str(config), "-Y", str(tmp_path), "-P", str(tmp_path / "k.pid"),
             "-m", "32", "-M", "4"],
            stdout=subprocess.DEVNULL, stderr=edge_log_file,
        )  # fmt: skip
        stack.callback(lambda: (edge.terminate(), edge.wait(10)))
        bots = [asyncio.create_task(answer_all(w)) for w in nodes]
        stack.callback(lambda: [b.cancel() for b in bots])
        await wait_bound(edge_port)  # kamailio listens (it has no readiness signal in the foreground)
        args = [
            "timeout", "-k", "2", "60", sipp, "-sf", str(SCENARIO), "-i", LOOP, "-p", str(free_port()),
            "-mi", LOOP, "-mp", str(free_port(even=True)), "-s", number, "-au", "carrier",
            "-ap", "carrier-secret", "-auth_uri", f"{number}@{LOOP}:{edge_port}",
            "-cid_str", "edge-%u@carrier.test",
            "-m", str(CALLS), "-l", "3", "-r", "3", "-nostdin", "-timeout", "30s", "-timeout_error",
            "-trace_err", "-error_file", str(tmp_path / "sipp-errors.log"), f"{LOOP}:{edge_port}",
        ]  # fmt: skip
        proc = await asyncio.create_subprocess_exec(
            *args, cwd=tmp_path, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await proc.communicate()
        errors = (tmp_path / "sipp-errors.log").read_text() if (tmp_path / "sipp-errors.log").exists() else ""
        edge_log = (tmp_path / "kamailio.log").read_text()
        assert proc.returncode == 0, out.decode(errors="replace")[-2000:] + errors[-3000:] + edge_log[-3000:]
        taken = []
        for world in nodes:
            gateway = world.node.pstn
            assert gateway is not None
            async with asyncio.timeout(10):
                while gateway.calls:
                    await asyncio.sleep(0.05)
            taken.append(sorted(c.sip_id for c in gateway.finished))
        assert all(taken) and sum(len(t) for t in taken) == CALLS, taken
        assert not set(taken[0]) & set(taken[1])
        print("calls per node:", [len(t) for t in taken])

        # A node's own call goes out through the edge to the carrier (sipp), which answers with
        # the edge's Record-Route: the node's ACK and the carrier's BYE pass the edge.
        answers = asyncio.create_task(
            run_sipp(
                "../../pstn/sipp/edge_answers.xml", cwd=tmp_path, sip_port=carrier_port,
                media_port=free_port(even=True), limit=30,
            )
        )  # fmt: skip
        await wait_bound(carrier_port)
        props = await asyncio.to_thread(
            nodes[1].sdk().create_call, PhoneNumberIdentifier("+15551230000"), receiver.url(),
            source_caller_id_number=PhoneNumberIdentifier(number),
        )  # fmt: skip
        await receiver.wait_type("CallDisconnected", props.call_connection_id)
        result = await answers
        assert result.returncode == 0, result.output + result.logs
        edge_log = (tmp_path / "kamailio.log").read_text()
        assert "ERROR" not in edge_log, edge_log[-3000:]
