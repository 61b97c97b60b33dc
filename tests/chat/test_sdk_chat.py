"""The official azure-communication-chat 1.3.0 SDK against a live ``telex serve``: every chat
operation over HTTPS (the printed CA) and over HTTP (``enforce_https=False`` on every call),
and paging through 500 messages 20 at a time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from azure.communication.chat import (
    ChatClient,
    ChatMessageType,
    ChatParticipant,
    ChatThreadClient,
    CommunicationTokenCredential,
    CommunicationUserIdentifier,
)
from azure.communication.identity import CommunicationIdentityClient
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from tests.support.live import LiveServer

pytestmark = pytest.mark.e2e

OPEN_LIMITS = {
    "TELEX_CHAT__MESSAGES_PER_THREAD_PER_10S": "0",
    "TELEX_CHAT__MESSAGES_PER_THREAD_PER_MINUTE": "0",
    "TELEX_CHAT__THREADS_PER_USER_PER_10S": "0",
    "TELEX_CHAT__TYPING_PER_USER_PER_10S": "0",
}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(tmp_path_factory.mktemp("chat") / "data", env=OPEN_LIMITS) as server:
        yield server


@pytest.fixture(scope="module")
def identity(live: LiveServer) -> CommunicationIdentityClient:
    return CommunicationIdentityClient.from_connection_string(
        live.connection_string, connection_verify=str(live.ca)
    )


class Side:
    """One user's clients over one transport; ``kw`` goes on every call (acs-wire.md gotchas 2, 3)."""

    def __init__(self, identity: CommunicationIdentityClient, endpoint: str, kw: dict[str, Any]) -> None:
        user, token = identity.create_user_and_token(["chat"])
        self.id = user.properties["id"]
        self.identifier = CommunicationUserIdentifier(self.id)
        self.kw = kw
        self.endpoint = endpoint
        self.credential = CommunicationTokenCredential(token.token)
        verify = {k: v for k, v in kw.items() if k == "connection_verify"}
        self.chat = ChatClient(endpoint, self.credential, **verify)
        self._verify = verify

    def thread(self, thread_id: str) -> ChatThreadClient:
        return self.chat.get_chat_thread_client(thread_id, **self._verify)


def _transports(live: LiveServer) -> list[tuple[str, dict[str, Any]]]:
    return [(live.https_url, {"connection_verify": str(live.ca)}), (live.http_url, {"enforce_https": False})]


@pytest.mark.parametrize("transport", ["https", "http"])
def test_every_chat_operation(
    live: LiveServer, identity: CommunicationIdentityClient, transport: str
) -> None:
    endpoint, kw = dict(zip(["https", "http"], _transports(live), strict=True))[transport]
    call = {k: v for k, v in kw.items() if k == "enforce_https"}
    a, b, c, outsider = (Side(identity, endpoint, kw) for _ in range(4))

    # create (idempotent with the same repeatability id), invalid participants reported
    bogus = "8:acs:00000000-0000-0000-0000-000000000000_00000000-0000-0000-0000-000000000001"
    participants = [
        ChatParticipant(identifier=b.identifier, display_name="Bea"),
        ChatParticipant(identifier=CommunicationUserIdentifier(bogus), display_name="nobody"),
    ]
    created = a.chat.create_chat_thread(
        "first topic", thread_participants=participants, idempotency_token="k-1", **call
    )
    thread_id = created.chat_thread.id
    assert created.chat_thread.topic == "first topic"
    assert created.chat_thread.created_by.properties["id"] == a.id
    assert [(p.identifier.properties["id"], e.code) for p, e in created.errors] == [(bogus, "NotFound")]
    again = a.chat.create_chat_thread(
        "first topic", thread_participants=participants, idempotency_token="k-1", **call
    )
    assert again.chat_thread.id == thread_id

    assert thread_id in [t.id for t in a.chat.list_chat_threads(results_per_page=1, **call)]
    since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    assert thread_id in [t.id for t in b.chat.list_chat_threads(start_time=since, **call)]

    ta, tb, tc = a.thread(thread_id), b.thread(thread_id), c.thread(thread_id)
    props = tb.get_properties(**call)
    assert (props.id, props.topic) == (thread_id, "first topic")
    ta.update_topic("second topic", **call)
    assert tb.get_properties(**call).topic == "second topic"

    # messages: text with metadata, sanitised html, edit, delete
    sent = ta.send_message("hello", sender_display_name="Ann", metadata={"k": "v"}, **call)
    message = tb.get_message(sent.id, **call)
    assert (message.content.message, message.sender_display_name, message.metadata) == (
        "hello",
        "Ann",
        {"k": "v"},
    )
    assert message.type == ChatMessageType.TEXT and message.sender.properties["id"] == a.id
    html = ta.send_message(
        '<p onclick="x()">hi <b>there</b><script>alert(1)</script></p>',
        chat_message_type=ChatMessageType.HTML,
        **call,
    )
    got = tb.get_message(html.id, **call)
    assert got.type == ChatMessageType.HTML
    assert got.content.message == "<p>hi <b>there</b></p>"
    ta.update_message(sent.id, content="hello again", metadata={"k": "w"}, **call)
    edited = tb.get_message(sent.id, **call)
    assert (edited.content.message, edited.metadata, edited.edited_on is not None) == (
        "hello again",
        {"k": "w"},
        True,
    )
    with pytest.raises(HttpResponseError) as info:
        tb.update_message(sent.id, content="not yours", **call)
    assert info.value.status_code == 403
    ta.delete_message(html.id, **call)
    assert tb.get_message(html.id, **call).deleted_on is not None

    # participants: add, list, remove (others and self)
    assert ta.add_participants([ChatParticipant(identifier=c.identifier, display_name="Cy")], **call) == []
    names = {
        p.identifier.properties["id"]: p.display_name
        for p in tc.list_participants(results_per_page=1, **call)
    }
    assert names == {a.id: None, b.id: "Bea", c.id: "Cy"}
    ta.remove_participant(c.identifier, **call)
    with pytest.raises(ResourceNotFoundError):
        tc.get_properties(**call)

    # signals
    tb.send_typing_notification(sender_display_name="Bea", **call)
    tb.send_read_receipt(sent.id, **call)
    receipts = list(ta.list_read_receipts(**call))
    assert [(r.sender.properties["id"], r.chat_message_id) for r in receipts] == [(b.id, sent.id)]

    # the history, newest first, with system messages
    history = list(tb.list_messages(results_per_page=2, **call))
    kinds = [m.type for m in history]
    assert kinds == [
        ChatMessageType.PARTICIPANT_REMOVED,
        ChatMessageType.PARTICIPANT_ADDED,
        ChatMessageType.HTML,
        ChatMessageType.TEXT,
        ChatMessageType.TOPIC_UPDATED,
        ChatMessageType.PARTICIPANT_ADDED,
    ]
    assert [int(m.sequence_id) for m in history] == [6, 5, 4, 3, 2, 1]
    assert history[4].content.topic == "second topic"
    assert history[4].content.initiator.properties["id"] == a.id
    assert [p.identifier.properties["id"] for p in history[0].content.participants] == [c.id]
    assert {p.identifier.properties["id"] for p in history[5].content.participants} == {a.id, b.id}

    # outsiders see nothing; leaving works; deleting ends the thread for everyone
    with pytest.raises(ResourceNotFoundError):
        outsider.thread(thread_id).get_properties(**call)
    tb.remove_participant(b.identifier, **call)
    with pytest.raises(ResourceNotFoundError):
        tb.list_messages(**call).next()
    a.chat.delete_chat_thread(thread_id, **call)
    with pytest.raises(ResourceNotFoundError):
        ta.get_properties(**call)


def test_paging_500_messages_20_at_a_time(live: LiveServer, identity: CommunicationIdentityClient) -> None:
    a = Side(identity, live.http_url, {"enforce_https": False})
    thread_id = a.chat.create_chat_thread("many", enforce_https=False).chat_thread.id
    thread = a.thread(thread_id)
    ids = [thread.send_message(f"m{i}", enforce_https=False).id for i in range(500)]
    pages = thread.list_messages(results_per_page=20, enforce_https=False).by_page()
    seen = []
    sizes = []
    for page in pages:
        items = list(page)
        sizes.append(len(items))
        seen.extend(m for m in items if m.type == ChatMessageType.TEXT)
    assert [m.id for m in seen] == ids[::-1]
    assert [m.content.message for m in seen] == [f"m{i}" for i in reversed(range(500))]
    assert max(sizes) == 20 and len(sizes) == 26  # 501 messages with the participantAdded one
