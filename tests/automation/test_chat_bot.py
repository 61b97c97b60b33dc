"""The chat bot example: a user adds it to a thread and writes to it with the official chat SDK;
the bot, handed the Event Grid events a webhook subscription delivers, answers in the thread
with the same SDK (over plain HTTP here, ``enforce_https=False`` on every call)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from azure.communication.chat import ChatClient, ChatParticipant, CommunicationTokenCredential
from azure.communication.identity import CommunicationUserIdentifier

from tests.automation.conftest import World
from tests.automation.test_ivr import load_example

PLAIN = {"enforce_https": False}


def event(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    namespace = (
        "Microsoft.EventGrid." if kind == "SubscriptionValidationEvent" else "Microsoft.Communication."
    )
    return {"id": "x", "eventType": namespace + kind, "subject": "", "data": data,
            "eventTime": "2026-01-01T00:00:00Z", "dataVersion": "1.0", "metadataVersion": "1"}  # fmt: skip


async def test_the_chat_bot_greets_and_answers(api_world: World) -> None:
    world = api_world
    example = load_example("chat_bot")
    bot_user, person = await world.make_user("chat"), await world.make_user("chat")
    bot = example.ChatBot(world.url, bot_user.id, bot_user.token, **PLAIN)
    chat = ChatClient(world.url, CommunicationTokenCredential(person.token))

    def open_thread() -> Any:
        created = chat.create_chat_thread(
            "help desk",
            thread_participants=[
                ChatParticipant(identifier=CommunicationUserIdentifier(person.id), display_name="Ada"),
                ChatParticipant(identifier=CommunicationUserIdentifier(bot_user.id), display_name="bot"),
            ],
            **PLAIN,
        )
        thread = chat.get_chat_thread_client(created.chat_thread.id)
        thread.send_message("hello bot", sender_display_name="Ada", **PLAIN)
        return thread

    thread = await asyncio.to_thread(open_thread)
    app = bot.asgi()
    deliveries = [
        event("SubscriptionValidationEvent", {"validationCode": "abc"}),
        event("ChatParticipantAddedToThreadWithUser", {
            "threadId": thread.thread_id,
            "participantAdded": {"participantCommunicationIdentifier": {"rawId": bot_user.id}},
        }),
        event("ChatMessageReceived", {
            "threadId": thread.thread_id, "messageBody": "hello bot", "senderDisplayName": "Ada",
            "senderCommunicationIdentifier": {"rawId": person.id}, "type": "Text",
        }),
    ]  # fmt: skip
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot") as http:
        handshake = await http.post("/events", json=[deliveries[0]])
        assert handshake.json() == {"validationResponse": "abc"}
        for delivery in deliveries[1:]:
            assert (await http.post("/events", json=[delivery])).status_code == 200

    def texts() -> list[str]:
        return [
            m.content.message
            for m in thread.list_messages(**PLAIN)
            if m.type == "text" and m.content is not None
        ]

    said = await asyncio.to_thread(texts)
    assert "Hello everyone! Say 'help' to see what I do." in said
    assert "Hello Ada! Say 'time' or 'help'." in said
    assert bot.sent[-1] == (thread.thread_id, "Hello Ada! Say 'time' or 'help'.")
