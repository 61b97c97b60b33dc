"""Call Automation across two ``telex serve`` nodes on one PostgreSQL and one Redis: a bot's call
is placed through node A (its media session lives there), the callee is a client of node B, and
media operations sent to node B reach the session on A (through the bus); the callbacks arrive
in order whichever node delivers them."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pytest

pytest.importorskip("aiortc")

from telex.bots import CallAutomation
from telex.client.calling import CallClient
from tests.automation.conftest import Receiver
from tests.automation.media_helpers import wait_heard
from tests.calling.conftest import user_maker
from tests.support.live import LiveServer
from tests.support.pg import PostgresCluster
from tests.support.wav import wav_bytes

pytestmark = pytest.mark.e2e


async def test_media_commands_reach_the_node_holding_the_session(
    tmp_path: Path, pg_cluster: PostgresCluster, redis_url: str, receiver: Receiver
) -> None:
    from telex.automation.media.dtmf import tones_pcm

    receiver.files["seven.wav"] = wav_bytes(bytes(8000) + tones_pcm("7") + bytes(16000))
    database = pg_cluster.create_database()
    config = tmp_path / "telex.toml"
    config.write_text('[outbound]\nallow_http = true\nallowed = ["127.0.0.1"]\n[automation]\n')
    env = {"TELEX_TURN__ALLOW_LOOPBACK_PEERS": "true", "TELEX_TURN__TCP": "false"}
    args = ["--bus", redis_url, "--config", str(config)]
    with (
        LiveServer(tmp_path / "a", database=database, env=env, extra_args=args) as node_a,
        LiveServer(tmp_path / "b", database=database, env=env, extra_args=args) as node_b,
    ):
        key = base64.b64decode(node_a.access_key)
        callee = await user_maker(node_b.http_url, key)("voip")
        async with (
            CallAutomation(node_a.http_url, key) as on_a,
            CallAutomation(node_b.http_url, key) as on_b,
            CallClient(node_b.http_url, callee.token) as phone,
        ):
            props = await on_a.create_call([callee.id], receiver.url())
            cid = props["callConnectionId"]
            ringing = await phone.incoming_call()
            call = await ringing.accept()
            async with asyncio.timeout(30):
                await call.wait_connected(1)
            await receiver.wait_type("CallConnected", cid)
            await on_b.post(
                f"/calling/callConnections/{cid}:play",
                {"playSources": [{"kind": "file", "file": {"uri": receiver.audio("seven.wav")}}]},
            )
            await receiver.wait_type("PlayCompleted", cid)
            await wait_heard(call, "7")
            await on_b.request("DELETE", f"/calling/callConnections/{cid}")
            await receiver.wait_type("CallDisconnected", cid)
        assert receiver.types(cid) == [
            "CallConnected", "ParticipantsUpdated", "PlayStarted", "PlayCompleted", "CallDisconnected",
        ]  # fmt: skip
