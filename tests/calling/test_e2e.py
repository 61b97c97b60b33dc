"""Calls end to end: Python calling clients (aiortc) against a real ``telex serve``, relay-only
through Telex's own TURN server (loopback peers allowed for the test), signaling over REST and
the realtime gateway, users made through the HMAC-signed identity API.

Group call: two clients connect, audio flows both ways, a data channel message goes each way,
mute shows on the other side; a third joins and hears both; the caller ends it for everyone
and every side, and the server, record ``endedForEveryone``. 1:1 call: it rings, is declined,
and ends ``declined`` on both sides.
"""

from __future__ import annotations

import array
import asyncio
import base64
import math
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytest.importorskip("aiortc")

from telex.client import RealtimeError
from telex.client.calling import SAMPLES, Call, CallClient
from tests.calling.conftest import User, user_maker
from tests.support.apiversions import async_hooks
from tests.support.live import LiveServer
from tests.support.signing import HmacSigner
from tests.support.wav import write_wav

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {"TELEX_TURN__ALLOW_LOOPBACK_PEERS": "true", "TELEX_TURN__TCP": "false"}
    with LiveServer(Path(tmp_path_factory.mktemp("calling")), env=env) as server:
        yield server


async def users(live: LiveServer, n: int) -> list[User]:
    make = user_maker(live.http_url, base64.b64decode(live.access_key))
    return [await make("chat", "voip") for _ in range(n)]


def tone(freq: float) -> Iterator[bytes]:
    """20 ms frames of a sine wave, s16 mono 48 kHz, for ever."""
    k, n = 2 * math.pi * freq / 48000, 0
    while True:
        yield b"".join(
            int(8000 * math.sin(k * (n + i))).to_bytes(2, "little", signed=True) for i in range(SAMPLES)
        )
        n += SAMPLES


async def relayed_packets(live: LiveServer) -> float:
    async with httpx.AsyncClient(event_hooks=async_hooks()) as http:
        text = (await http.get(f"{live.admin_url}/metrics")).text
    return sum(float(v) for v in re.findall(r"^telex_turn_relayed_packets_total\{.*\} (\S+)$", text, re.M))


async def hears(call: Call, participant_id: str, frames: int = 25) -> None:
    # The participant may not be known yet: its join reaches this client as an event, maybe from
    # another node.
    await call.wait_for(
        lambda c: (
            participant_id in c.participants
            and c.participants[participant_id].audio_frames_received >= frames
        )
    )


def peak(call: Call, participant_id: str, last: int = 10) -> int:
    """The largest sample in the last frames heard from a participant (decoded s16)."""
    frames = list(call.participants[participant_id].last_frames)[-last:]
    return max(max((abs(x) for x in array.array("h", bytes(f.planes[0]))), default=0) for f in frames)


async def test_group_call_media_data_mute_third_participant_and_end_for_everyone(live: LiveServer) -> None:
    a, b, c = await users(live, 3)
    group = str(uuid.uuid4())
    relayed_before = await relayed_packets(live)
    async with (
        CallClient(live.http_url, a.token, display_name="Ann") as ca,
        CallClient(live.http_url, b.token, display_name="Bob") as cb,
    ):
        call_a = await ca.join(group, audio=tone(440))
        call_b = await cb.join(group, audio=tone(660))
        assert call_a.id == call_b.id
        pa, pb = call_a.participant_id, call_b.participant_id
        async with asyncio.timeout(30):
            await call_a.wait_connected(1)
            await call_b.wait_connected(1)
            await hears(call_a, pb)
            await hears(call_b, pa)
        assert call_b.participants[pa].display_name == "Ann" and call_a.state == "connected"
        assert peak(call_b, pa) > 2000 and peak(call_a, pb) > 2000  # the tones, not silence
        assert await relayed_packets(live) > relayed_before + 50  # the media went through the relay

        # Data channels, ACS style: A sends durable to everyone, B lossy with high priority to A.
        send_a = await call_a.create_data_channel(3)
        send_b = await call_b.create_data_channel(9, reliability="lossy", priority="high", participants=[pa])
        async with asyncio.timeout(20):
            await send_a.wait_open()
            await send_b.wait_open()
            from_a = await call_b.next_data_channel()
            from_b = await call_a.next_data_channel()
            assert (from_a.sender, from_a.channel_id, from_a.reliability) == (pa, 3, "durable")
            assert (from_b.sender, from_b.channel_id) == (pb, 9)
            assert (from_b.reliability, from_b.priority) == ("lossy", "high")
            assert send_a.send(b"hello from Ann") == 1
            assert await from_a.receive() == b"hello from Ann"
            received = asyncio.ensure_future(from_b.receive())
            while not received.done():  # lossy: resend until one arrives (loopback loses none)
                send_b.send(b"hello from Bob")
                await asyncio.wait([received], timeout=0.2)
            assert received.result() == b"hello from Bob"
            await call_a.wait_for(lambda c: any(x["channelId"] == 9 for x in c.announced_channels))

            await call_a.mute()
            await call_b.wait_for(lambda c: c.participants[pa].is_muted)

        async with CallClient(live.http_url, c.token, display_name="Cid") as cc:
            call_c = await cc.join(group)
            async with asyncio.timeout(30):
                await call_c.wait_connected(2)
                await call_a.wait_connected(2)
                await call_b.wait_connected(2)
                await hears(call_c, pa)  # muted: silence still flows
                await hears(call_c, pb)
            assert call_c.participants[pa].is_muted
            assert peak(call_c, pa) < 200 < 2000 < peak(call_c, pb)  # muted: silence

            await call_a.hang_up(for_everyone=True)
            async with asyncio.timeout(15):
                reasons = [await x.wait_ended() for x in (call_a, call_b, call_c)]
                await call_c.wait_for(lambda c: c.state == "ended")
            assert reasons == ["endedForEveryone"] * 3

    bearer = {"authorization": f"Bearer {b.token}"}
    async with httpx.AsyncClient(event_hooks=async_hooks(), base_url=live.http_url, headers=bearer) as http:
        record = (await http.get(f"/calling/calls/{call_b.id}")).json()
    assert (record["state"], record["callEndReason"]) == ("ended", "endedForEveryone")
    assert record["durationSeconds"] > 0
    assert {p["callEndReason"] for p in record["participants"]} == {"endedForEveryone"}


async def test_one_to_one_call_rings_is_declined_and_ends_declined_on_both_sides(live: LiveServer) -> None:
    a, b = await users(live, 2)
    async with CallClient(live.http_url, a.token) as ca, CallClient(live.http_url, b.token) as cb:
        outgoing = await ca.start_call([b.id], video=True)
        async with asyncio.timeout(15):
            incoming = await cb.incoming_call()
            assert (incoming.id, incoming.caller_id, incoming.video_offered) == (outgoing.id, a.id, True)
            await outgoing.wait_for(lambda c: any(p.state == "ringing" for p in c.participants.values()))
            assert (outgoing.state, outgoing.my_state) == ("ringing", "connecting")
            await incoming.decline()
            assert await outgoing.wait_ended() == "declined"
            assert await incoming.wait_ended() == "declined"
            await outgoing.wait_for(lambda c: c.state == "ended")


async def test_one_to_one_call_is_answered_and_the_callee_hangs_up(live: LiveServer, tmp_path: Path) -> None:
    a, b = await users(live, 2)
    wav = tmp_path / "greeting.wav"  # the caller plays a file: 5 s of a 300 Hz tone, 16 kHz
    k = 2 * math.pi * 300 / 16000
    pcm = b"".join(int(8000 * math.sin(k * i)).to_bytes(2, "little", signed=True) for i in range(80000))
    write_wav(wav, pcm, 16000)
    async with CallClient(live.http_url, a.token) as ca, CallClient(live.http_url, b.token) as cb:
        outgoing = await ca.start_call([b.id], audio=wav)
        async with asyncio.timeout(30):
            incoming = await cb.incoming_call()
            await incoming.accept(audio=tone(500))
            await outgoing.wait_connected(1)
            await incoming.wait_connected(1)
            await hears(outgoing, incoming.participant_id)
            await hears(incoming, outgoing.participant_id)
            assert peak(incoming, outgoing.participant_id) > 2000  # the file's tone
            await incoming.hang_up()
            assert await incoming.wait_ended() == "hungUp"
            assert await outgoing.wait_ended() == "remoteHungUp"


async def test_closing_the_client_leaves_its_calls(live: LiveServer) -> None:
    a, b = await users(live, 2)
    group = str(uuid.uuid4())
    async with CallClient(live.http_url, a.token) as ca:
        call_a = await ca.join(group)
        async with CallClient(live.http_url, b.token) as cb:
            call_b = await cb.join(group)
            async with asyncio.timeout(30):
                await call_a.wait_connected(1)
        async with asyncio.timeout(15):
            await call_a.wait_for(lambda c: c.participants[call_b.participant_id].state == "disconnected")
        assert call_a.participants[call_b.participant_id].end_reason == "hungUp"
        assert call_a.state == "connected"  # a group call goes on with one participant


async def test_state_missed_while_the_realtime_connection_was_down_is_re_read(live: LiveServer) -> None:
    a, b = await users(live, 2)
    group = str(uuid.uuid4())
    async with CallClient(live.http_url, a.token) as ca, CallClient(live.http_url, b.token) as cb:
        call_a = await ca.join(group)
        call_b = await cb.join(group)
        async with asyncio.timeout(30):
            await call_b.wait_for(lambda c: call_a.participant_id in c.participants)
            cb._realtime.drop_connection()
            while cb._realtime.connected.is_set():  # the client notices at once; it retries in 0.1 s
                await asyncio.sleep(0.005)
            await call_a.mute()  # most likely committed while b is away: no event for b
            await call_b.wait_for(lambda c: c.participants[call_a.participant_id].is_muted)
        assert cb._realtime.connects == 2


async def test_a_token_the_realtime_gateway_refuses_fails_fast(live: LiveServer) -> None:
    key = base64.b64decode(live.access_key)
    voip_only = await user_maker(live.http_url, key)("voip")  # a calling app's token is enough
    async with asyncio.timeout(10), CallClient(live.http_url, voip_only.token):
        pass
    async with httpx.AsyncClient(
        event_hooks=async_hooks(), base_url=live.http_url, auth=HmacSigner(key)
    ) as admin:
        revoked = await admin.post(f"/identities/{voip_only.id}/:revokeAccessTokens")
        assert revoked.status_code == 204
    with pytest.raises(RealtimeError) as exc:
        async with asyncio.timeout(10), CallClient(live.http_url, voip_only.token):
            pass
    assert exc.value.code == 4001


async def test_direct_call_to_two_users_who_both_answer_is_a_three_way_mesh(live: LiveServer) -> None:
    a, b, c = await users(live, 3)
    async with (
        CallClient(live.http_url, a.token) as ca,
        CallClient(live.http_url, b.token) as cb,
        CallClient(live.http_url, c.token) as cc,
    ):
        outgoing = await ca.start_call([b.id, c.id], audio=tone(300))
        async with asyncio.timeout(30):
            at_b, at_c = await cb.incoming_call(), await cc.incoming_call()
            await at_b.accept(audio=tone(400))
            await at_c.accept(audio=tone(500))  # offers to the caller and to b
            for call in (outgoing, at_b, at_c):
                await call.wait_connected(2)
            await hears(at_c, at_b.participant_id)
            await hears(at_b, at_c.participant_id)
            await hears(outgoing, at_c.participant_id)
            await at_b.hang_up()
            assert await at_b.wait_ended() == "hungUp"
            await outgoing.wait_for(lambda x: x.participants[at_b.participant_id].state == "disconnected")
            assert outgoing.state == "connected"  # a and c go on
            await at_c.hang_up()
            assert await outgoing.wait_ended() == "remoteHungUp"


async def test_a_client_that_vanishes_is_dropped_and_a_live_one_is_kept(tmp_path: Path) -> None:
    env = {
        "TELEX_TURN__ALLOW_LOOPBACK_PEERS": "true",
        "TELEX_TURN__TCP": "false",
        "TELEX_CALLING__KEEPALIVE_TIMEOUT_SECONDS": "3",
        "TELEX_CALLING__TIMER_POLL_SECONDS": "0.2",
    }
    with LiveServer(tmp_path / "data", env=env) as server:
        a, b = await users(server, 2)
        group = str(uuid.uuid4())
        async with CallClient(server.http_url, a.token) as ca, CallClient(server.http_url, b.token) as cb:
            call_a = await ca.join(group)
            call_b = await cb.join(group)
            await asyncio.sleep(4.5)  # longer than the timeout: only keep-alives keep them in
            assert call_b.participants[call_a.participant_id].state == "connected"
            assert call_a.participants[call_b.participant_id].state == "connected"
            # a's process freezes (a closed laptop): no keep-alive, no hang-up.
            assert call_a._keepalive is not None
            call_a._keepalive.cancel()
            async with asyncio.timeout(10):
                await call_b.wait_for(lambda c: c.participants[call_a.participant_id].state == "disconnected")
            assert call_b.participants[call_a.participant_id].end_reason == "connectionLost"
            assert call_b.state == "connected"
