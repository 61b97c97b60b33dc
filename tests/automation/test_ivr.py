"""The IVR example end to end with Python callers (aiortc, relay-only through Telex TURN): the
caller presses keys as in-band tones (as a browser's audio would carry them), the bot answers,
plays, collects ``12#`` and transfers to an agent; or collects ``1#`` and replies. The bot's
callbacks are verified (bearer JWT from Telex's JWKS and Standard Webhooks) by telex.bots."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType

import pytest
import uvicorn

pytest.importorskip("aiortc")

from telex.automation.media.dtmf import tones_pcm
from telex.bots import BotApp, CallAutomation
from telex.client.calling import SAMPLES, Call, CallClient
from tests.automation.conftest import World

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@contextlib.asynccontextmanager
async def serve(app: object) -> AsyncIterator[str]:
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))  # type: ignore[arg-type]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    async with asyncio.timeout(10):
        while not server.started:
            await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


class Keypad:
    """The caller's microphone: silence, then the keys asked for, as 20 ms frames at 48 kHz."""

    def __init__(self) -> None:
        self.pending = b""

    def press(self, keys: str) -> None:
        self.pending += tones_pcm(keys, rate=48000, on=0.12, off=0.12)

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        frame, self.pending = self.pending[: 2 * SAMPLES], self.pending[2 * SAMPLES :]
        return frame.ljust(2 * SAMPLES, b"\0")


async def frames_from(call: Call, n: int, who: str | None = None) -> None:
    await call.wait_for(
        lambda c: any(
            p.audio_frames_received >= n
            for pid, p in c.participants.items()
            if who is None or p.user_id == who
        )
    )


async def menu_playing(app: BotApp) -> None:
    """Until the welcome has played (keys pressed during it are not collected: the menu is)."""
    while not any(e["type"] == "PlayCompleted" for c in app.calls() for e in c.events):
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)


@pytest.fixture
def ivr() -> ModuleType:
    return load_example("ivr_bot")


@contextlib.asynccontextmanager
async def ivr_app(world: World, ivr: ModuleType, agent: str) -> AsyncIterator[BotApp]:
    client = CallAutomation(world.url, world.key)
    holder: dict[str, BotApp] = {}

    async def asgi(scope: object, receive: object, send: object) -> None:
        await holder["app"](scope, receive, send)

    async with serve(asgi) as url:
        holder["app"] = app = ivr.build(client, url, agent)
        try:
            yield app
        finally:
            await app.close()
            if app.verifier is not None:
                await app.verifier.close()
            await client.close()


async def test_ivr_collects_12_pound_and_transfers_to_the_agent(world: World, ivr: ModuleType) -> None:
    caller, bot, agent = [await world.make_user("voip") for _ in range(3)]
    keypad = Keypad()
    async with (
        ivr_app(world, ivr, agent.id) as app,
        CallClient(world.url, caller.token) as phone,
        CallClient(world.url, agent.token) as desk,
    ):
        call = await phone.start_call([bot.id], audio=keypad)
        app.dispatch_incoming(await world.incoming.next_for(bot.id))
        async with asyncio.timeout(60):
            await menu_playing(app)
            keypad.press("12#")
            ringing = await desk.incoming_call()
            await ringing.accept()
            await ringing.wait_connected(1)
            await frames_from(ringing, 25, caller.id)  # the agent hears the caller
            (bot_call,) = app.calls()
            await bot_call.wait_disconnected()
        types = [e["type"] for e in bot_call.events]
        assert types[:4] == ["CallConnected", "ParticipantsUpdated", "PlayStarted", "PlayCompleted"]
        done = next(e for e in bot_call.events if e["type"] == "RecognizeCompleted")
        assert done["dtmfResult"]["tones"] == ["one", "two"] and done["resultInformation"]["subCode"] == 8514
        assert (
            types.index("RecognizeCompleted")
            < types.index("CallTransferAccepted")
            < types.index("CallDisconnected")
        )
        assert types[-1] == "CallDisconnected" and app.rejected == 0
        bot_leg = next(p for p in call.participants.values() if p.user_id == bot.id)
        assert bot_leg.state == "disconnected" and call.state == "connected"


async def test_ivr_replies_to_1_pound_then_hangs_up(world: World, ivr: ModuleType) -> None:
    caller, bot = await world.make_user("voip"), await world.make_user("voip")
    keypad = Keypad()
    async with ivr_app(world, ivr, "8:acs:nobody") as app, CallClient(world.url, caller.token) as phone:
        call = await phone.start_call([bot.id], audio=keypad)
        app.dispatch_incoming(await world.incoming.next_for(bot.id))
        async with asyncio.timeout(60):
            await menu_playing(app)
            keypad.press("1#")
            ended = await call.wait_ended()
            (bot_call,) = app.calls()
            # The caller may see the end before the bot's CallDisconnected callback arrives.
            await bot_call.wait_disconnected()
        types = [e["type"] for e in bot_call.events]
        assert types.count("PlayCompleted") == 2 and types[-1] == "CallDisconnected"
        assert ended == "remoteHungUp"
