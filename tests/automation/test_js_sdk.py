"""The official JavaScript Call Automation SDK (``@azure/communication-call-automation`` 1.6.0,
Node 20) for a short flow: answer an incoming call, read the connection's properties and
participants, play a prompt to everyone, hang up — against the same server the Python SDK uses.

``./scripts/test`` installs the driver's node_modules (``npm ci`` in tests/automation/js); without
them this test fails in CI and is skipped elsewhere.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("aiortc")

from telex.client.calling import CallClient
from tests.automation.conftest import World
from tests.automation.media_helpers import wait_heard

pytestmark = pytest.mark.e2e

DRIVER = Path(__file__).parent / "js"


async def test_the_javascript_sdk_answers_plays_and_hangs_up(world: World) -> None:
    node = shutil.which("node")
    if node is None or not (DRIVER / "node_modules" / "@azure" / "communication-call-automation").is_dir():
        if os.environ.get("CI"):
            pytest.fail(
                "the JavaScript SDK driver is not installed (./scripts/test: npm ci in tests/automation/js)"
            )
        pytest.skip("Node.js or the JavaScript SDK driver is not installed")
    caller, bot = await world.make_user("voip"), await world.make_user("voip")
    async with CallClient(world.url, caller.token) as client:
        call = await client.start_call([bot.id])
        ring = await world.incoming.next_for(bot.id)
        process = await asyncio.create_subprocess_exec(
            node, str(DRIVER / "flow.mjs"), world.url, base64.b64encode(world.key).decode(),
            ring["incomingCallContext"], world.receiver.url(), world.receiver.audio("prompt.wav"),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            cwd=DRIVER,
        )  # fmt: skip
        assert process.stdout is not None and process.stdin is not None
        try:
            async with asyncio.timeout(60):
                first = await process.stdout.readline()
                assert first, (await process.stderr.read()).decode() if process.stderr else ""
                seen = json.loads(first)
                assert seen["state"] == "connected" and seen["serverCallId"] == call.id
                assert seen["participants"] == [caller.id]
                connected = await world.receiver.wait_type("CallConnected", seen["id"])
                assert connected["data"]["operationContext"] == "js"
                played = await world.receiver.wait_type("PlayCompleted", seen["id"])
                assert played["data"]["operationContext"] == "js-play"
                await wait_heard(call, "5", bot.id)  # the prompt's tone reached the caller
                process.stdin.write(b"hang up\n")
                await process.stdin.drain()
                assert json.loads(await process.stdout.readline()) == {"hungUp": True}
                await world.receiver.wait_type("CallDisconnected", seen["id"])
                assert await process.wait() == 0
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
