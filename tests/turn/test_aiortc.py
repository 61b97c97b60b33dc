"""Two aiortc peers, relay-only, through a live Telex TURN server configured from the ACS-shaped
relay configuration: a data channel carries 1,000 messages each way (loopback peers allowed:
both relayed addresses are 127.0.0.1)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection
from aiortc.rtcconfiguration import RTCIceTransportPolicy

from telex.turn.relayconfig import issue_relay_configuration
from tests.turn.conftest import SECRET

MESSAGES = 1000


def _configuration(relay: dict[str, Any], transport: str) -> RTCConfiguration:
    servers = [
        RTCIceServer(
            urls=[u for u in entry["urls"] if u.startswith("turn:") and u.endswith(f"transport={transport}")],
            username=entry["username"],
            credential=entry["credential"],
        )
        for entry in relay["iceServers"]
    ]
    return RTCConfiguration(iceServers=servers, iceTransportPolicy=RTCIceTransportPolicy.RELAY)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_two_relay_only_peers_exchange_1000_messages(start_server: Any, transport: str) -> None:
    server = await start_server(allow_loopback_peers=True)
    settings = server.settings.model_copy(update={"port": server.udp_port})
    pcs = []
    for user in ("caller", "callee"):
        relay = issue_relay_configuration(
            settings, SECRET, f"8:acs:test_{user}", 600, time.time(), "127.0.0.1"
        )
        pcs.append(RTCPeerConnection(_configuration(relay, transport)))
    caller, callee = pcs
    done = {"caller": asyncio.Event(), "callee": asyncio.Event()}
    received: dict[str, list[str]] = {"caller": [], "callee": []}

    def collect(name: str, channel: Any) -> None:
        @channel.on("message")
        def on_message(message: str) -> None:
            received[name].append(message)
            if name == "callee":
                channel.send(f"echo {message}")
            if len(received[name]) == MESSAGES:
                done[name].set()

    channel = caller.createDataChannel("chat")
    collect("caller", channel)
    callee.on("datachannel", lambda ch: collect("callee", ch))
    opened = asyncio.Event()
    channel.on("open", opened.set)
    try:
        await caller.setLocalDescription(await caller.createOffer())
        assert " typ relay" in caller.localDescription.sdp
        assert " typ host" not in caller.localDescription.sdp
        await callee.setRemoteDescription(caller.localDescription)
        await callee.setLocalDescription(await callee.createAnswer())
        await caller.setRemoteDescription(callee.localDescription)
        await asyncio.wait_for(opened.wait(), 30)
        for i in range(MESSAGES):
            channel.send(f"message {i}")
        await asyncio.wait_for(asyncio.gather(done["caller"].wait(), done["callee"].wait()), 60)
        assert received["callee"] == [f"message {i}" for i in range(MESSAGES)]
        assert received["caller"] == [f"echo message {i}" for i in range(MESSAGES)]
        assert server.stats.packets_to_peer > MESSAGES  # it really went through the relay
        assert len(server.core.allocations) >= 2
    finally:
        await caller.close()
        await callee.close()
