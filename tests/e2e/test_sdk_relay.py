"""The official networktraversal SDK gets ICE servers from a live ``telex serve``, and an
independent TURN client (aioice) allocates a relay on the same server with those credentials."""

from __future__ import annotations

import asyncio

import pytest
from aioice import turn
from azure.communication.identity import CommunicationIdentityClient
from azure.communication.networktraversal import CommunicationRelayClient
from azure.core.exceptions import HttpResponseError

from tests.support.live import LiveServer


def test_relay_configuration_from_the_sdk_allocates_on_telex_turn(live: LiveServer) -> None:
    identity = CommunicationIdentityClient.from_connection_string(
        live.connection_string, connection_verify=str(live.ca)
    )
    relay = CommunicationRelayClient.from_connection_string(
        live.connection_string, connection_verify=str(live.ca)
    )
    user = identity.create_user()
    config = relay.get_relay_configuration(user=user, ttl=600)
    server = config.ice_servers[0]
    assert server.username.endswith(":" + user.properties["id"] + "#0")
    turn_url = next(u for u in server.urls if u.startswith("turn:") and "udp" in u)
    host, port = turn_url.removeprefix("turn:").split("?")[0].rsplit(":", 1)
    assert int(port) == live.turn_port

    async def allocate() -> tuple[str, int]:
        endpoint, _ = await turn.create_turn_endpoint(
            asyncio.DatagramProtocol,
            server_addr=(host, int(port)),
            username=server.username,
            password=server.credential,
            transport="udp",
        )
        try:
            relayed: tuple[str, int] = endpoint.get_extra_info("sockname")
            return relayed
        finally:
            endpoint.close()

    relayed = asyncio.run(allocate())
    assert relayed[0] == "127.0.0.1"
    assert relayed[1] >= 1024


def test_ttl_out_of_range_is_400(live: LiveServer) -> None:
    relay = CommunicationRelayClient.from_connection_string(
        live.connection_string, connection_verify=str(live.ca)
    )
    with pytest.raises(HttpResponseError) as info:
        relay.get_relay_configuration(ttl=172801)
    assert info.value.status_code == 400
