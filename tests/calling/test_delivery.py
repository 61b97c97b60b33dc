"""Who receives call events over the realtime gateway (a real uvicorn): the callee gets
``incomingCall``, a signal reaches only its addressee, a participant who left gets nothing
more, and a user outside the call gets nothing at all."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from telex.client import RealtimeClient, RealtimeEvent
from tests.calling.conftest import open_node, user_maker
from tests.support.apiversions import async_hooks
from tests.support.serve import running


async def until(client: RealtimeClient, kind: str, seen: list[str] | None = None) -> RealtimeEvent:
    """The next event of ``kind``; the types of every event before it go to ``seen``."""
    async for event in client:
        if seen is not None:
            seen.append(event.type)
        if event.type == kind:
            return event
    raise AssertionError("stream ended")


def drain(client: RealtimeClient) -> list[RealtimeEvent]:
    out = []
    while not client._queue.empty():
        item = client._queue.get_nowait()
        assert isinstance(item, RealtimeEvent)
        out.append(item)
    return out


async def test_call_events_reach_participants_and_signals_only_their_addressee(tmp_path: Path) -> None:
    node = await open_node(tmp_path)
    try:
        async with running(node, turn=True) as url:
            make = user_maker(url, node.keyring.state.primary_key)
            a, b, stranger = await make(), await make(), await make()
            async with (
                RealtimeClient(url, a.token) as ra,
                RealtimeClient(url, b.token) as rb,
                RealtimeClient(url, stranger.token) as rs,
                httpx.AsyncClient(event_hooks=async_hooks(), base_url=url) as http,
            ):
                async with asyncio.timeout(10):
                    for rt in (ra, rb, rs):
                        await rt.wait_connected()
                body = {"targets": [{"communicationUser": {"id": b.id}}]}
                started = (await http.post("/calling/calls", json=body, headers=a.headers)).json()
                call_id, a_leg = started["call"]["callId"], started["participantId"]
                seen_by_b: list[str] = []
                async with asyncio.timeout(10):
                    incoming = await until(rb, "incomingCall", seen_by_b)
                b_leg = incoming.data["participantId"]
                assert incoming.data["caller"]["rawId"] == a.id and incoming.data["callId"] == call_id
                leg = f"/calling/calls/{call_id}/participants"
                r = await http.post(f"{leg}/{b_leg}/:accept", headers=b.headers)
                assert r.json()["peers"] == [a_leg]
                offer = {"to": a_leg, "type": "offer", "sdp": "v=0 from b"}
                r = await http.post(f"{leg}/{b_leg}/:signal", json=offer, headers=b.headers)
                assert r.status_code == 204
                async with asyncio.timeout(10):
                    signal = await until(ra, "callSignal")
                assert (signal.data["from"], signal.data["sdp"]) == (b_leg, "v=0 from b")
                await http.post(f"{leg}/{a_leg}/:hangUp", headers=a.headers)
                async with asyncio.timeout(10):
                    ended = await until(rb, "callEnded", seen_by_b)
                assert ended.data["callEndReason"] == "hungUp"
                # b saw everything of the call but never the signal addressed to a.
                seen_by_b += [e.type for e in drain(rb)]
                assert "callSignal" not in seen_by_b and seen_by_b.count("callParticipantRemoved") == 2
                # A later chat message proves the stranger's stream is live, and it is all they got.
                async with httpx.AsyncClient(
                    event_hooks=async_hooks(), base_url=url, headers=stranger.headers
                ) as chat:
                    r = await chat.post("/chat/threads?api-version=2024-03-07", json={"topic": "t"})
                    assert r.status_code == 201
                async with asyncio.timeout(10):
                    first = await anext(rs)  # the very first event the stranger ever got
                assert (
                    first.type == "chatThreadCreated"
                    and first.data["threadId"] == r.json()["chatThread"]["id"]
                )
                assert drain(rs) == []
    finally:
        await node.close()


async def test_call_events_sent_while_a_client_was_away_are_replayed_from_its_cursor(tmp_path: Path) -> None:
    node = await open_node(tmp_path)
    try:
        async with running(node, turn=True) as url:
            make = user_maker(url, node.keyring.state.primary_key)
            a, b, stranger = await make(), await make(), await make()
            group = "6b1f6f0e-2c1d-4f0a-9b8e-3d2c1b0a9f8e"
            async with httpx.AsyncClient(event_hooks=async_hooks(), base_url=url) as http:
                first = (await http.post(f"/calling/groups/{group}/:join", headers=a.headers)).json()
                async with RealtimeClient(url, b.token) as rb:
                    async with asyncio.timeout(10):
                        await rb.wait_connected()
                    second = (await http.post(f"/calling/groups/{group}/:join", headers=b.headers)).json()
                    async with asyncio.timeout(10):
                        await until(rb, "callParticipantAdded")
                    cursor = rb.cursor
                # b is away: a signals it, mutes, and a chat-only stranger's thread gets a message.
                call_id = first["call"]["callId"]
                leg = f"/calling/calls/{call_id}/participants/{first['participantId']}"
                offer = {"to": second["participantId"], "type": "offer", "sdp": "v=0 while away"}
                assert (await http.post(f"{leg}/:signal", json=offer, headers=a.headers)).status_code == 204
                await http.post(f"{leg}/:setMediaState", json={"isMuted": True}, headers=a.headers)
                async with RealtimeClient(url, b.token, cursor=cursor) as back:
                    async with asyncio.timeout(10):
                        signal = await until(back, "callSignal")
                        updated = await until(back, "callParticipantUpdated")
                    assert signal.data["sdp"] == "v=0 while away"
                    assert updated.data["participant"]["isMuted"] is True
                    assert int(signal.cursor) < int(updated.cursor)
                # Someone who was never in the call replays none of it.
                async with RealtimeClient(url, stranger.token, cursor="0") as rs:
                    async with asyncio.timeout(10):
                        await rs.wait_connected()
                    await asyncio.sleep(0.3)
                    assert drain(rs) == []
    finally:
        await node.close()
