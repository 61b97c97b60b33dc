"""PSTN fixtures: a node on loopback with Call Automation and a SIP trunk whose carrier is on
127.0.0.1 (sipp, or a test's own SIP user agent), and phone numbers it owns."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from telex.app import Node
from telex.core.clock import SystemClock
from telex.numbers.model import AssignmentType, Capabilities, Capability, NumberType
from telex.numbers.service import SearchRequest
from telex.pstn import PstnGateway
from tests.automation.conftest import (
    AUTOMATION,
    OUTBOUND,
    IncomingCalls,
    Receiver,
    World,
    receiver,
)
from tests.calling.conftest import user_maker
from tests.conftest import make_settings
from tests.pstn.carrier import Carrier
from tests.support.live import free_port
from tests.support.serve import running
from tests.support.wav import wav_bytes

__all__ = ["PstnWorld", "pstn_world", "receiver"]

# The carrier authenticates us with telex / trunk-secret, we authenticate it with carrier /
# carrier-secret (MD5: what sipp answers).
TRUNK = {
    "name": "carrier", "host": "127.0.0.1", "username": "telex", "password": "trunk-secret",
    "inbound_username": "carrier", "inbound_password": "carrier-secret",
}  # fmt: skip


@dataclass
class PstnWorld(World):
    number: str = ""  # ours, with inbound and outbound calling
    sms_only: str = ""  # ours, without calling
    carrier_port: int = 0  # where the trunk's carrier listens (sipp as UAS, or a test's UA)

    @property
    def gateway(self) -> PstnGateway:
        assert self.node.pstn is not None
        return self.node.pstn

    @property
    def sip_port(self) -> int:
        return self.gateway.udp_port


async def answered_by_bot(pstn: PstnWorld, c: Carrier) -> tuple[dict[str, Any], Any]:
    """The carrier ``c`` calls our number and an application answers it with the official SDK:
    (the IncomingCall event, the SDK's call connection), once the call is connected."""
    c.dial(pstn.number)
    ring = await pstn.incoming.next_for("4:" + pstn.number, timeout=15)
    props = await asyncio.to_thread(pstn.sdk().answer_call, ring["incomingCallContext"], pstn.receiver.url())
    await c.answered()
    await pstn.receiver.wait_type("CallConnected", props.call_connection_id)
    return ring, pstn.sdk().get_call_connection(props.call_connection_id)


async def own(node: Node, calling: Capability, area_code: str) -> str:
    assert node.telephony is not None
    numbers = node.telephony.numbers
    req = SearchRequest(
        "US", NumberType.GEOGRAPHIC, AssignmentType.APPLICATION, Capabilities(calling, Capability.OUTBOUND),
        area_code, 1,
    )  # fmt: skip
    _, search_id = await numbers.begin_search(req)
    await numbers.drain()
    found = list((await numbers.search_result(search_id)).numbers)
    await numbers.begin_purchase(search_id, False)
    await numbers.drain()
    return found[0]


def settings_for(tmp_path: Path, carrier_port: int, turn: dict[str, Any] | None = None, **sip: Any) -> Any:
    turn = {
        "port": free_port(socket.SOCK_DGRAM), "tls_port": 0, "allow_loopback_peers": True, "tcp": False,
        **(turn or {}),
    }  # fmt: skip
    trunks = [{**TRUNK, "port": carrier_port, **sip.pop("trunk", {})}, *sip.pop("trunks_extra", [])]
    return make_settings(
        tmp_path, turn=turn, outbound=OUTBOUND, automation=AUTOMATION, calling={"max_participants": 6},
        sip={"udp_port": 0, "tcp_port": 0, "digest_algorithms": ["MD5"], "trunks": trunks, **sip},
    )  # fmt: skip


@contextlib.asynccontextmanager
async def pstn_world(
    tmp_path: Path, receiver: Receiver, turn: dict[str, Any] | None = None, **sip: Any
) -> AsyncIterator[PstnWorld]:
    """A node with the trunk of ``settings_for`` (``sip`` overrides ``[sip]`` and the trunk,
    ``turn`` the relay's settings)."""
    carrier_port = free_port(socket.SOCK_DGRAM)
    node = await Node.open(settings_for(tmp_path, carrier_port, turn, **sip), SystemClock())
    incoming = IncomingCalls()
    node.backbone.add_sink(incoming)
    from telex.automation.media.dtmf import tones_pcm

    receiver.files["prompt.wav"] = wav_bytes(bytes(16000) + tones_pcm("5", on=0.4) + bytes(8000))
    try:
        async with running(node, turn=True) as url:
            key = node.keyring.state.primary_key
            world = PstnWorld(node, url, key, user_maker(url, key), incoming, receiver)
            world.number = await own(node, Capability.INBOUND_OUTBOUND, "425")
            world.sms_only = await own(node, Capability.NONE, "206")
            world.carrier_port = carrier_port
            yield world
    finally:
        await node.close()


@pytest.fixture
async def pstn(
    tmp_path: Path, receiver: Receiver, request: pytest.FixtureRequest
) -> AsyncIterator[PstnWorld]:
    async with pstn_world(tmp_path, receiver, **getattr(request, "param", {})) as world:
        yield world
