"""An IVR bot on Telex Call Automation: answer, play a menu, collect keys, then reply or transfer.

    caller ──calls the bot's identity──► Telex ──IncomingCall (Event Grid)──► this app /events
    bot: answer ─► play the welcome ─► collect keys until # (prompt: the menu)
         "1"  ─► play the opening hours, hang up
         "12" ─► transfer to the agent (a browser user); the bot leaves once the agent answers
         else ─► play "unknown", hang up

Run it next to ``telex serve`` (the prompts are served by this app, so Telex must be allowed to
fetch from it: ``[outbound] allow_http = true`` and ``allowed = ["127.0.0.1"]`` for a bot
on the same machine; in production use https and a public address):

    python examples/ivr_bot.py --connection-string "endpoint=http://127.0.0.1:8080/;accesskey=…" \\
        --public-url http://127.0.0.1:8088 --agent 8:acs:…

It prints the identity to call. ``IncomingCall`` reaches ``/events`` through an Event Grid
subscription of the resource (filtered on ``data.to.rawId`` = the bot); see docs/bots.md.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import math
import wave
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from telex.bots import BotApp, BotCall, CallAutomation, CallbackVerifier, IncomingCall, MediaFailed

RATE = 16000


def _wav(pcm: bytes) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm)
    return out.getvalue()


def _notes(*notes: tuple[float, float], level: float = 6000.0) -> bytes:
    """A little melody: (frequency in Hz, seconds) pairs, 0 Hz for a rest."""
    out = bytearray()
    for freq, seconds in notes:
        n = int(seconds * RATE)
        for i in range(n):
            ramp = min(1.0, i / 200, (n - i) / 200)
            value = level * ramp * math.sin(2 * math.pi * freq * i / RATE) if freq else 0.0
            out += int(value).to_bytes(2, "little", signed=True)
    return bytes(out)


# Stand-ins for recorded prompts (a real IVR plays recorded speech; the shapes differ so that a
# test can tell them apart by frequency).
PROMPTS = {
    "welcome": _wav(_notes((660, 0.3), (880, 0.3), (0, 0.2))),
    "menu": _wav(_notes((440, 0.4), (0, 0.1), (440, 0.4), (0, 0.2))),
    "hours": _wav(_notes((523, 0.5), (659, 0.5), (784, 0.5))),
    "unknown": _wav(_notes((220, 0.6))),
}


def build(client: CallAutomation, public_url: str, agent: str, *, verify: bool = True) -> BotApp:
    """The IVR as an ASGI app (``app.asgi``): callbacks, events and its own prompts."""
    verifier = CallbackVerifier(client.endpoint, access_key=client.access_key) if verify else None
    app = BotApp(client, public_url, verifier=verifier)
    base = public_url.rstrip("/")

    def prompt(name: str) -> str:
        return f"{base}/prompts/{name}.wav"

    async def serve_prompt(request: Request) -> Response:
        data = PROMPTS.get(request.path_params["name"])
        return Response(data, media_type="audio/wav") if data else Response(status_code=404)

    app.asgi.router.routes.append(Route("/prompts/{name}.wav", serve_prompt))

    @app.incoming_call
    async def answer(incoming: IncomingCall) -> None:
        call = await incoming.answer()
        await call.connected.wait()
        await menu(call, incoming.caller)

    async def menu(call: BotCall, caller: str) -> None:
        await call.play(prompt("welcome"))
        try:
            keys = await call.recognize_dtmf(
                caller, max_tones=4, stop_tones="#", prompt=prompt("menu"), initial_silence_timeout=10,
                inter_tone_timeout=5,
            )  # fmt: skip
        except MediaFailed:
            keys = ""
        if keys == "1":
            await call.play(prompt("hours"))
            await call.hang_up()
        elif keys == "12":
            await call.transfer(agent)
        else:
            await call.play(prompt("unknown"))
            await call.hang_up()

    return app


async def main(args: argparse.Namespace) -> None:
    import uvicorn

    client = CallAutomation.from_connection_string(args.connection_string)
    app = build(client, args.public_url, args.agent)
    print(f"IVR bot at {args.public_url}: callbacks /callbacks, Event Grid events /events")
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="info")
    await uvicorn.Server(config).serve()


def _args(argv: Any = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connection-string", required=True)
    parser.add_argument("--public-url", required=True, help="where Telex reaches this app")
    parser.add_argument("--agent", required=True, help="the communication user to transfer to")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8088)
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(_args()))
