"""A chat bot on Telex: it hears chat events through a webhook subscription and answers in the
thread with the official chat SDK.

    user adds the bot to a thread ─► Telex ─► ChatParticipantAddedToThreadWithUser ─► /events ─► greet
    user writes in the thread      ─► Telex ─► ChatMessageReceived (to the bot)    ─► /events ─► reply
    reply: azure-communication-chat ChatThreadClient.send_message, as the bot's identity

Run it next to ``telex serve``:

    python examples/chat_bot.py --connection-string "endpoint=https://127.0.0.1:8443/;accesskey=…" \\
        --ca .telex/tls/ca.pem --public-url https://bot.example.com

It makes its identity (printed: add it to a thread to talk to it) and answers ``hello``,
``time`` and ``help``. A webhook subscription of the resource sends it the events:
``ChatMessageReceived`` and ``ChatParticipantAddedToThreadWithUser``, subject filter on the bot
as recipient (see docs/webhooks.md and docs/bots.md).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
from typing import Any

from azure.communication.chat import ChatClient, CommunicationTokenCredential
from azure.communication.identity import CommunicationIdentityClient, CommunicationTokenScope
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

log = logging.getLogger("chat_bot")
_ACS = "Microsoft.Communication."


class ChatBot:
    """The bot's brain and its hands: what to say, and the chat SDK to say it with."""

    def __init__(self, endpoint: str, user_id: str, token: str, **sdk: Any) -> None:
        self.user_id = user_id
        self._sdk = sdk  # e.g. connection_verify="ca.pem", or enforce_https=False on plain HTTP
        verify = {k: v for k, v in sdk.items() if k == "connection_verify"}
        self._chat = ChatClient(endpoint, CommunicationTokenCredential(token), **verify)
        self._verify = verify
        self.sent: list[tuple[str, str]] = []  # (thread, text), for whoever watches the bot

    def answer(self, text: str, sender: str) -> str:
        words = text.lower().split()
        if "hello" in words or "hi" in words:
            return f"Hello {sender or 'there'}! Say 'time' or 'help'."
        if "time" in words:
            return f"It is {dt.datetime.now(dt.UTC):%H:%M} UTC."
        return "I answer 'hello', 'time' and 'help'."

    async def say(self, thread_id: str, text: str) -> None:
        def send() -> None:
            thread = self._chat.get_chat_thread_client(thread_id, **self._verify)
            thread.send_message(text, sender_display_name="Telex bot", **self._call_options())

        await asyncio.to_thread(send)
        self.sent.append((thread_id, text))

    def _call_options(self) -> dict[str, Any]:
        return {k: v for k, v in self._sdk.items() if k == "enforce_https"}

    async def on_event(self, event: dict[str, Any]) -> None:
        kind = str(event.get("eventType") or event.get("type") or "").removeprefix(_ACS)
        data = event.get("data") or {}
        if kind == "ChatMessageReceived":
            sender = (data.get("senderCommunicationIdentifier") or {}).get("rawId") or data.get("senderId")
            if sender == self.user_id or data.get("type", "Text").lower() not in ("text", "html"):
                return
            reply = self.answer(str(data.get("messageBody", "")), str(data.get("senderDisplayName", "")))
            await self.say(str(data["threadId"]), reply)
        elif kind == "ChatParticipantAddedToThreadWithUser":
            added = (data.get("participantAdded") or {}).get("participantCommunicationIdentifier") or {}
            if added.get("rawId") == self.user_id:
                await self.say(str(data["threadId"]), "Hello everyone! Say 'help' to see what I do.")

    def asgi(self) -> Starlette:
        async def events(request: Request) -> Response:
            if request.method == "OPTIONS":  # CloudEvents abuse protection: consent
                origin = request.headers.get("webhook-request-origin", "*")
                return Response(status_code=200, headers={"WebHook-Allowed-Origin": origin})
            body = json.loads(await request.body())
            for event in body if isinstance(body, list) else [body]:
                kind = event.get("eventType") or event.get("type")
                if kind == "Microsoft.EventGrid.SubscriptionValidationEvent":
                    return JSONResponse({"validationResponse": event["data"]["validationCode"]})
                try:
                    await self.on_event(event)
                except Exception:  # one bad event must not make Telex retry the others
                    log.exception("event %s failed", kind)
            return Response(status_code=200)

        return Starlette(routes=[Route("/events", events, methods=["POST", "OPTIONS"])])


def make_bot(connection_string: str, **sdk: Any) -> ChatBot:
    identity = CommunicationIdentityClient.from_connection_string(connection_string, **sdk)
    user, token = identity.create_user_and_token([CommunicationTokenScope.CHAT])
    endpoint = connection_string.split("endpoint=", 1)[1].split(";", 1)[0].rstrip("/")
    return ChatBot(endpoint, user.properties["id"], token.token, **sdk)


async def main(args: argparse.Namespace) -> None:
    import uvicorn

    bot = (
        make_bot(args.connection_string, connection_verify=args.ca)
        if args.ca
        else make_bot(args.connection_string)
    )
    print(f"chat bot {bot.user_id}: add it to a thread; events at {args.public_url}/events")
    config = uvicorn.Config(bot.asgi(), host=args.host, port=args.port, log_level="info")
    await uvicorn.Server(config).serve()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connection-string", required=True)
    parser.add_argument("--ca", help="the CA of Telex's certificate (.telex/tls/ca.pem)")
    parser.add_argument("--public-url", required=True, help="where Telex reaches this app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    asyncio.run(main(parser.parse_args()))
