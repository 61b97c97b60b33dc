"""The realtime gateway over a real uvicorn (websockets-sansio, as ``telex serve``): ACS event
names and fields, 1,000 messages in order across a cut socket, resume after a restart, slow
consumers, revocation, origin and frame limits."""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from telex.app import Node
from telex.client import ChatClient, RealtimeClient, RealtimeError, RealtimeEvent
from telex.core.clock import FakeClock
from telex.core.ids import UserId
from tests.chat.conftest import OPEN_LIMITS, MakeUser, User, open_node, users_of
from tests.conftest import make_settings
from tests.support.serve import running


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://") + "/realtime"


async def raw(base: str, user: User | None, cursor: str | None = None, **kw: Any) -> ClientConnection:
    ws = await connect(ws_url(base), **kw)
    if user is not None:
        await ws.send(json.dumps({"type": "auth", "token": user.token, "cursor": cursor}))
        ready = json.loads(await ws.recv())
        assert ready["type"] == "ready" and ready["userId"] == user.id
    return ws


async def next_event(ws: ClientConnection, skip: tuple[str, ...] = ("heartbeat",)) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] not in skip:
                return dict(frame)


async def close_code(ws: ClientConnection) -> int:
    """Read until the server closes; the close code it sent."""
    async with asyncio.timeout(10):
        try:
            while True:
                await ws.recv()
        except ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd is not None else 1006


async def collect(client: RealtimeClient, n: int, kind: str = "chatMessageReceived") -> list[RealtimeEvent]:
    out: list[RealtimeEvent] = []
    async with asyncio.timeout(60):
        async for event in client:
            if event.type == kind:
                out.append(event)
                if len(out) == n:
                    return out
    return out


async def test_every_event_type_with_acs_fields(server_url: str, make_user: MakeUser) -> None:
    a, b = await make_user(), await make_user()
    wb = await raw(server_url, b)
    async with ChatClient(server_url, a.token) as chat:
        tid = await chat.create_thread("topic", [(b.id, "Bea")])
        created = await next_event(wb)
        assert created["event"] == "chatThreadCreated"
        assert created["data"]["threadId"] == tid and created["data"]["properties"] == {"topic": "topic"}
        assert {p["id"]["communicationUserId"] for p in created["data"]["participants"]} == {a.id, b.id}

        mid = await chat.send_message(tid, "hello", sender_display_name="Ann", metadata={"k": "v"})
        got = await next_event(wb)
        data = got["data"]
        assert got["event"] == "chatMessageReceived" and int(got["cursor"]) > int(created["cursor"])
        fields = ("threadId", "id", "message", "type", "senderDisplayName", "metadata")
        assert {k: data[k] for k in fields} == {
            "threadId": tid, "id": mid, "message": "hello", "type": "text", "senderDisplayName": "Ann",
            "metadata": {"k": "v"},
        }  # fmt: skip
        assert data["sender"] == {"kind": "communicationUser", "communicationUserId": a.id, "rawId": a.id}
        assert data["recipient"]["communicationUserId"] == b.id
        assert data["createdOn"].endswith("Z") and data["version"] == mid

        await chat._call("PATCH", chat._t(tid, f"/messages/{mid}"), {"content": "edited"})
        edited = await next_event(wb)
        assert (edited["event"], edited["data"]["message"]) == ("chatMessageEdited", "edited")
        assert "editedOn" in edited["data"]
        await chat._call("DELETE", chat._t(tid, f"/messages/{mid}"))
        deleted = await next_event(wb)
        assert deleted["event"] == "chatMessageDeleted" and "deletedOn" in deleted["data"]

        await chat.send_typing(tid, "Ann")
        typing = await next_event(wb)
        assert typing["event"] == "typingIndicatorReceived" and typing["data"]["senderDisplayName"] == "Ann"
        mid2 = await chat.send_message(tid, "again")
        await next_event(wb)
        async with ChatClient(server_url, b.token) as chat_b:
            await chat_b.send_read_receipt(tid, mid2)
            await chat_b.send_typing(tid)  # not echoed to b itself
        receipt = await next_event(wb)
        assert receipt["event"] == "readReceiptReceived" and receipt["data"]["chatMessageId"] == mid2

        await chat.update_topic(tid, "new topic")
        updated = await next_event(wb)
        assert updated["event"] == "chatThreadPropertiesUpdated"
        assert updated["data"]["properties"] == {"topic": "new topic"}
        c = await make_user()
        await chat.add_participants(tid, [c.id])
        added = await next_event(wb)
        assert added["event"] == "participantsAdded"
        assert added["data"]["participantsAdded"][0]["id"]["communicationUserId"] == c.id
        await chat.remove_participant(tid, c.id)
        removed = await next_event(wb)
        assert removed["event"] == "participantsRemoved"
        await chat.delete_thread(tid)
        gone = await next_event(wb)
        assert gone["event"] == "chatThreadDeleted" and gone["data"]["threadId"] == tid
    await wb.close()


async def test_removed_member_gets_the_removal_then_nothing(server_url: str, make_user: MakeUser) -> None:
    a, x, outsider = await make_user(), await make_user(), await make_user()
    wx, wo = await raw(server_url, x), await raw(server_url, outsider)
    async with ChatClient(server_url, a.token) as chat:
        tid = await chat.create_thread("t", [x.id])
        await chat.send_message(tid, "before")
        await chat.remove_participant(tid, x.id)
        await chat.send_message(tid, "after")
        other = await chat.create_thread("t2", [outsider.id])
    seen = [(await next_event(wx))["event"] for _ in range(3)]
    assert seen == ["chatThreadCreated", "chatMessageReceived", "participantsRemoved"]
    # the outsider's first event is its own thread: nothing of the other thread reached it
    first = await next_event(wo)
    assert (first["event"], first["data"]["threadId"]) == ("chatThreadCreated", other)
    # replaying from the start shows the removed member exactly the same three events
    replay = await raw(server_url, x, cursor="0")
    assert [(await next_event(replay))["event"] for _ in range(3)] == seen
    await replay.send(json.dumps({"type": "ping"}))
    assert (await next_event(replay))["type"] == "pong"  # nothing else was pending
    for ws in (wx, wo, replay):
        await ws.close()


async def test_thousand_messages_in_order_across_a_cut_socket(server_url: str, make_user: MakeUser) -> None:
    a, b = await make_user(), await make_user()
    async with ChatClient(server_url, a.token) as chat:
        tid = await chat.create_thread("load", [b.id])
        async with RealtimeClient(server_url, b.token) as receiver:
            async with asyncio.timeout(10):
                await receiver.wait_connected()

            async def send() -> list[str]:
                return [await chat.send_message(tid, str(i)) for i in range(1000)]

            sender = asyncio.create_task(send())
            got: list[RealtimeEvent] = []
            async with asyncio.timeout(120):
                async for event in receiver:
                    if event.type != "chatMessageReceived":
                        continue
                    got.append(event)
                    if len(got) == 300:
                        receiver.drop_connection()  # killed mid-stream, no closing handshake
                    if len(got) == 1000:
                        break
            sent = await sender
    assert [e.data["message"] for e in got] == [str(i) for i in range(1000)]
    assert [e.data["id"] for e in got] == sent
    cursors = [int(e.cursor) for e in got]
    assert cursors == sorted(set(cursors))
    assert receiver.connects >= 2


async def test_resume_after_restart_replays_exactly_the_missed_events(tmp_path: Path) -> None:
    node = await open_node(tmp_path)
    make = users_of(node)
    a, b = await make(), await make()
    async with running(node) as url, ChatClient(url, a.token) as chat:
        tid = await chat.create_thread("t", [b.id])
        async with RealtimeClient(url, b.token) as rt:
            async with asyncio.timeout(10):
                await rt.wait_connected()  # no cursor: it starts from the head when ready
            for i in range(5):
                await chat.send_message(tid, f"early {i}")
            early = await collect(rt, 5)
        cursor = early[-1].cursor
        for i in range(5):
            await chat.send_message(tid, f"late {i}")
    await node.close()

    node = await open_node(tmp_path)
    try:
        async with running(node) as url, ChatClient(url, a.token) as chat:
            await chat.send_message(tid, "after restart")
            async with RealtimeClient(url, b.token, cursor=cursor) as rt:
                got = await collect(rt, 6)
        assert [e.data["message"] for e in got] == [f"late {i}" for i in range(5)] + ["after restart"]
    finally:
        await node.close()


async def test_slow_consumer_is_cut_off_without_slowing_others(tmp_path: Path) -> None:
    node = await open_node(tmp_path, queue_size=8)
    make = users_of(node)
    a, slow, fast = await make(), await make(), await make()
    try:
        async with running(node) as url, ChatClient(url, a.token) as chat:
            tid = await chat.create_thread("t", [slow.id, fast.id])
            # A client that reads nothing from here on, with a small receive buffer so the
            # server's writes back up after a few hundred kilobytes instead of megabytes.
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", int(url.rsplit(":", 1)[1])))
            stalled = await raw(url, slow, max_queue=1, sock=sock, compression=None)
            async with RealtimeClient(url, fast.token) as rt:
                async with asyncio.timeout(10):
                    await rt.wait_connected()
                assert node.hub.connections == 2
                sent = 0
                while node.hub.connections == 2 and sent < 400:
                    await chat.send_message(tid, random.randbytes(10_000).hex())
                    sent += 1
                assert node.hub.connections == 1, "the stalled client was never dropped"
                await chat.send_message(tid, "last")
                got = await collect(rt, sent + 1)
                assert got[-1].data["message"] == "last" and rt.connects == 1
            # once it reads again, the stalled client finds the resumable close code
            assert await close_code(stalled) == 4008
    finally:
        await node.close()


async def test_a_peer_that_never_reads_is_disconnected_after_overflow(tmp_path: Path) -> None:
    node = await open_node(tmp_path, queue_size=8)
    make = users_of(node)
    a, slow = await make(), await make()
    try:
        async with running(node) as url, ChatClient(url, a.token) as chat:
            tid = await chat.create_thread("t", [slow.id])
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", int(url.rsplit(":", 1)[1])))
            stalled = await raw(url, slow, max_queue=1, sock=sock, compression=None)
            sent = 0
            while node.hub.connections == 1 and sent < 400:
                await chat.send_message(tid, random.randbytes(10_000).hex())
                sent += 1
            assert node.hub.connections == 0, "the stalled client was never dropped"
            # It never reads, so it can never take the close frame: within the close bound (5 s)
            # the server drops the TCP connection, buffered frames and all.
            fd = stalled.transport.get_extra_info("socket").fileno()
            peer = socket.socket(fileno=os.dup(fd))
            try:
                deadline = time.monotonic() + 10
                closed = False
                while not closed and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
                    info = peer.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)
                    closed = info[0] != 1  # tcpi_state: 1 is ESTABLISHED
                assert closed, "the server kept the connection of a peer that never reads"
            finally:
                peer.close()
    finally:
        await node.close()


class SteppedClock(FakeClock):
    """A fake clock whose sleepers wake only when the test moves it past their deadline (the
    plain ``FakeClock`` moves itself on every sleep)."""

    def __init__(self, start: float) -> None:
        super().__init__(start)
        self._moved = asyncio.Event()

    def advance(self, seconds: float) -> None:
        super().advance(seconds)
        self._moved.set()
        self._moved = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        deadline = self.monotonic() + seconds
        while self.monotonic() < deadline:
            await self._moved.wait()


async def test_revocation_and_deletion_on_this_node_close_sockets_at_once(tmp_path: Path) -> None:
    """The node that revokes closes its own sockets without waiting for a polling round: the
    clock never moves here, so no round runs."""
    clock = SteppedClock(time.time())
    node = await Node.open(make_settings(tmp_path, chat=OPEN_LIMITS), clock)
    try:
        make = users_of(node)
        async with running(node, hub_only=True) as url:
            for action in ("revoke", "delete"):
                u, other = await make(), await make()
                ws, kept = await raw(url, u), await raw(url, other)
                user = node.identity.parse_user(u.id)
                if action == "revoke":
                    await node.identity.revoke_tokens(user)
                else:
                    await node.identity.delete_user(user)
                async with asyncio.timeout(5):
                    assert await close_code(ws) == 4001
                await kept.send(json.dumps({"type": "ping"}))  # another user's socket stays
                assert (await next_event(kept))["type"] == "pong"
                await kept.close()
    finally:
        await node.close()


async def test_a_revocation_on_another_node_closes_sockets_at_the_next_round(tmp_path: Path) -> None:
    clock = SteppedClock(time.time())
    settings = make_settings(tmp_path, chat=OPEN_LIMITS)
    node = await Node.open(settings, clock)
    elsewhere = await Node.open(settings, clock)  # a second node on the same store
    try:
        u = await users_of(node)()
        async with running(node, hub_only=True) as url:
            ws = await raw(url, u)
            await elsewhere.identity.revoke_tokens(elsewhere.identity.parse_user(u.id))
            await ws.send(json.dumps({"type": "ping"}))
            assert (await next_event(ws))["type"] == "pong"  # this node has not looked yet
            clock.advance(node.settings.realtime.token_check_seconds)
            async with asyncio.timeout(5):
                assert await close_code(ws) == 4001
    finally:
        await elsewhere.close()
        await node.close()


async def test_an_expired_token_closes_the_socket_at_the_next_round(tmp_path: Path) -> None:
    clock = SteppedClock(time.time())
    node = await Node.open(make_settings(tmp_path, chat=OPEN_LIMITS), clock)
    try:
        u = await users_of(node)()
        async with running(node, hub_only=True) as url:
            ws = await raw(url, u)
            clock.advance(24 * 3600 - 60)  # still valid
            await ws.send(json.dumps({"type": "ping"}))
            assert (await next_event(ws))["type"] == "pong"
            clock.advance(60 + node.settings.identity.token_leeway_seconds)
            async with asyncio.timeout(5):
                assert await close_code(ws) == 4001
    finally:
        await node.close()


async def test_handshake_and_frame_rules(tmp_path: Path) -> None:
    node = await open_node(
        tmp_path,
        http={"allowed_origins": ["https://app.example"]},
        auth_timeout_seconds=0.3,
        max_frame_bytes=2048,
    )
    make = users_of(node)
    u = await make()
    try:
        async with running(node) as url:
            with pytest.raises(InvalidStatus) as refused:
                await connect(ws_url(url), origin="https://evil.example")  # type: ignore[arg-type]
            assert refused.value.response.status_code == 403
            # The refusal names the origin and the setting, in the ACS error body (as REST).
            error = json.loads(refused.value.response.body)["error"]
            assert error["code"] == "Forbidden" and "https://evil.example" in error["message"]
            assert "http.allowed_origins" in error["message"]
            ws = await raw(url, u, origin="https://app.example")  # type: ignore[arg-type]
            await ws.close()

            async def first(frame: str | None) -> int:
                ws = await connect(ws_url(url))
                if frame is not None:
                    await ws.send(frame)
                return await close_code(ws)

            assert await first(None) == 4408
            assert await first('{"type":"ping"}') == 4400
            assert await first("not json") == 4400
            assert await first(json.dumps({"type": "auth", "token": "x.y.z"})) == 4001
            assert await first(json.dumps({"type": "auth", "token": u.token, "cursor": "99999"})) == 4400
            assert await first(json.dumps({"type": "auth", "token": u.token, "cursor": "-1"})) == 4400
            ws = await raw(url, u)
            await ws.send(json.dumps({"type": "ping", "pad": "x" * 4096}))
            assert await close_code(ws) == 1009
    finally:
        await node.close()


async def test_a_voip_only_token_gets_call_events_but_no_chat(
    server_url: str, make_user: MakeUser, chat_node: Node
) -> None:
    a, b = await make_user(), await make_user()
    voip_only = await chat_node.identity.issue_token(UserId(b.id), ["voip"], None)
    calls_app = await raw(server_url, User(b.id, voip_only.token))
    chat_app = await raw(server_url, b)
    async with ChatClient(server_url, a.token) as chat:
        tid = await chat.create_thread("topic", [(b.id, "Bea")])
        await chat.send_message(tid, "hello")
    assert (await next_event(chat_app))["event"] == "chatThreadCreated"
    assert (await next_event(chat_app))["event"] == "chatMessageReceived"
    # Both were dispatched to every socket of b before chat_app read them: a pong that arrives
    # first on the voip-only socket proves it was offered no chat event.
    await calls_app.send(json.dumps({"type": "ping"}))
    assert (await next_event(calls_app))["type"] == "pong"
    await calls_app.close()
    await chat_app.close()


async def test_heartbeat_and_token_refresh(tmp_path: Path) -> None:
    node = await open_node(tmp_path, heartbeat_seconds=0.2)
    make = users_of(node)
    u, other = await make(), await make()
    try:
        async with running(node) as url:
            ws = await raw(url, u)
            beat = await next_event(ws, skip=())
            assert beat == {"type": "heartbeat", "cursor": beat["cursor"]}
            fresh = (await node.identity.issue_token(node.identity.parse_user(u.id), ["chat"], None)).token
            await ws.send(json.dumps({"type": "auth", "token": fresh}))
            await ws.send(json.dumps({"type": "ping"}))
            assert (await next_event(ws))["type"] == "pong"
            await ws.send(json.dumps({"type": "auth", "token": other.token}))  # someone else's token
            assert await close_code(ws) == 4001
    finally:
        await node.close()


async def test_client_raises_on_a_bad_token(server_url: str) -> None:
    async with RealtimeClient(server_url, "a.b.c") as rt:
        with pytest.raises(RealtimeError) as info:
            async with asyncio.timeout(10):
                await anext(rt)
    assert info.value.code == 4001


async def test_client_asks_its_token_provider_again_after_4001(server_url: str, make_user: MakeUser) -> None:
    u = await make_user()
    handed: list[str] = []

    async def provider() -> str:
        handed.append("bad.token.here" if not handed else u.token)
        return handed[-1]

    async with RealtimeClient(server_url, provider) as rt:
        async with asyncio.timeout(10):
            await rt.wait_connected()
    assert len(handed) == 2 and rt.connects == 1
