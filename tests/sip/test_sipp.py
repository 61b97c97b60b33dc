"""The SIP core and the RTP endpoint against sipp as the carrier, both directions, on loopback.

sipp plays the carrier (its scenarios are in tests/sip/sipp): as UAC it calls Telex (plain, with
digest authentication, cancelled, refused busy, held and resumed, hung up by either side) and
plays G.711 A-law and the RFC 4733 digits 1, 2, # from the pcaps Debian ships; as UAS it takes
Telex's calls (401 then early media and an RTP echo, 486, CANCEL, re-INVITE hold, its own BYE).
A scenario passes when sipp exits 0; Telex's side is checked through its events and media.
"""

from __future__ import annotations

import array
import asyncio
import math
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from telex.rtp import DtmfEnded, DtmfStarted, FrameKind, RtpEndpoint, StreamConfig
from telex.sip import (
    Answered,
    AuthChallenge,
    Confirmed,
    Credentials,
    DigestServer,
    EarlyMedia,
    EndCause,
    Ended,
    Event,
    IncomingCall,
    MediaUpdated,
    Peer,
    Ringing,
    SipTransport,
    UaConfig,
    UserAgent,
)
from tests.sip.sipp_peer import LOOP, free_port, require_sipp, run_sipp, wait_bound

pytestmark = pytest.mark.timeout(60)
SERVICE = "+15551230000"


def tone(seconds: float) -> bytes:
    n = int(8000 * seconds)
    return array.array("h", (int(6000 * math.sin(2 * math.pi * 440 * i / 8000)) for i in range(n))).tobytes()


class Gateway:
    """A SIP transport and one RTP endpoint: the smallest PSTN gateway that can take a call."""

    def __init__(self, **config: object) -> None:
        self.transport = SipTransport(UserAgent(UaConfig(host=LOOP, ports={"udp": 0}, **config)))  # type: ignore[arg-type]
        self.rtp: RtpEndpoint | None = None
        self.port = 0
        self.seen: list[Event] = []

    async def __aenter__(self) -> Gateway:
        self.port = await self.transport.listen_udp(LOOP, 0)
        self.rtp = await RtpEndpoint.open(LOOP)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.rtp is not None:
            await self.rtp.close()
        await self.transport.close()

    @property
    def ua(self) -> UserAgent:
        return self.transport.ua

    @property
    def media_address(self) -> tuple[str, int]:
        assert self.rtp is not None
        return (LOOP, self.rtp.local_port)

    async def next(self, limit: float = 15.0) -> Event:
        event = await asyncio.wait_for(self.transport.events.get(), limit)
        self.seen.append(event)
        if isinstance(event, Confirmed | Answered | EarlyMedia | MediaUpdated):
            assert self.rtp is not None
            self.rtp.update(StreamConfig.from_negotiated(event.media))
        return event

    async def until(self, kind: type, limit: float = 15.0) -> Event:
        while True:
            event = await self.next(limit)
            if isinstance(event, kind):
                return event


async def carrier_calls(
    tmp_path: Path, scenario: str, bot: Callable[[Gateway], Awaitable[None]],
    extra: Callable[[int], list[str]] | None = None, **config: object,
) -> Gateway:  # fmt: skip
    """sipp (UAC) calls the gateway running ``bot``; both must finish cleanly."""
    require_sipp()
    async with Gateway(**config) as gw:
        sipp = asyncio.create_task(
            run_sipp(
                scenario, cwd=tmp_path, uac_target=f"{LOOP}:{gw.port}", sip_port=free_port(),
                media_port=free_port(even=True), extra=["-s", SERVICE, *(extra(gw.port) if extra else [])],
            )
        )  # fmt: skip
        await asyncio.wait_for(bot(gw), 30)
        result = await sipp
        assert result.returncode == 0, result.output + result.logs
    return gw


async def gateway_calls(
    tmp_path: Path, scenario: str, bot: Callable[[Gateway, str], Awaitable[None]], **config: object
) -> Gateway:
    """The gateway calls sipp (UAS with an RTP echo) and runs ``bot`` on the call."""
    require_sipp()
    sip_port, media_port = free_port(), free_port(even=True)
    async with Gateway(**config) as gw:
        sipp = asyncio.create_task(
            run_sipp(scenario, cwd=tmp_path, sip_port=sip_port, media_port=media_port, extra=["-rtp_echo"])
        )
        await wait_bound(sip_port)
        call_id = gw.transport.run(
            lambda now: gw.ua.invite(
                f"sip:{SERVICE}@{LOOP}:{sip_port}",
                peer=Peer("udp", LOOP, sip_port),
                rtp=gw.media_address,
                now=now,
            )
        )
        await asyncio.wait_for(bot(gw, call_id), 30)
        result = await sipp
        assert result.returncode == 0, result.output + result.logs
    return gw


async def answer(gw: Gateway) -> IncomingCall:
    incoming = await gw.until(IncomingCall)
    assert isinstance(incoming, IncomingCall)
    gw.transport.run(lambda now: gw.ua.answer(incoming.call_id, now, rtp=gw.media_address))
    await gw.until(Confirmed)
    return incoming


# ---- sipp calls Telex -------------------------------------------------------------------------


async def test_inbound_audio_and_digits_then_telex_hangs_up(tmp_path: Path) -> None:
    digits: list[str] = []
    audio_frames = 0

    async def bot(gw: Gateway) -> None:
        nonlocal audio_frames
        incoming = await answer(gw)
        assert gw.rtp is not None
        gw.rtp.send_audio(tone(1.0))  # Telex talks too; sipp only listens
        async with asyncio.timeout(15):
            while "#" not in digits:
                event = await gw.rtp.dtmf.get()
                if isinstance(event, DtmfStarted):
                    digits.append(event.digit)
                while not gw.rtp.frames.empty():
                    audio_frames += gw.rtp.frames.get_nowait().kind is FrameKind.AUDIO
        gw.transport.run(lambda now: gw.ua.hangup(incoming.call_id, now))
        ended = await gw.until(Ended)
        assert isinstance(ended, Ended) and ended.cause is EndCause.HUNG_UP

    gw = await carrier_calls(tmp_path, "inbound_bot.xml", bot)
    assert digits == ["1", "2", "#"]
    assert gw.rtp is not None and gw.rtp.session is not None
    stats = gw.rtp.session.stats
    assert stats.received_packets > 40  # G.711 A-law, 30 ms packets, from the pcap
    assert stats.sent_packets > 40
    assert audio_frames > 20  # re-clocked into 20 ms frames of decoded audio
    assert gw.rtp.session.config.codec == "PCMA"


async def test_inbound_carrier_hangs_up(tmp_path: Path) -> None:
    async def bot(gw: Gateway) -> None:
        await answer(gw)
        ended = await gw.until(Ended)
        assert isinstance(ended, Ended) and (ended.cause, ended.by_remote) == (EndCause.REMOTE_HUNG_UP, True)
        assert ended.reason is not None and (ended.reason.protocol, ended.reason.cause) == ("Q.850", 16)

    await carrier_calls(tmp_path, "inbound_carrier_bye.xml", bot)


async def test_inbound_digest_challenge(tmp_path: Path) -> None:
    async def bot(gw: Gateway) -> None:
        incoming = await answer(gw)
        assert "Authorization" in str(list(incoming.request.headers))
        await gw.until(Ended)

    # SIPp 3.6 answers MD5 challenges only; the SHA-256 path is covered by tests/sip/test_digest.py.
    # It also computes the digest over -auth_uri, so that must be the Request-URI it sends.
    server = DigestServer("telex.test", b"secret", {"trunk": "pw"}.get, algorithms=("MD5",))
    await carrier_calls(
        tmp_path, "inbound_auth.xml", bot, auth=server,
        extra=lambda port: ["-au", "trunk", "-ap", "pw", "-auth_uri", f"{SERVICE}@{LOOP}:{port}"],
    )  # fmt: skip


async def test_inbound_cancel_while_ringing(tmp_path: Path) -> None:
    async def bot(gw: Gateway) -> None:
        incoming = await gw.until(IncomingCall)
        assert isinstance(incoming, IncomingCall)
        gw.transport.run(lambda now: gw.ua.ring(incoming.call_id, now))
        ended = await gw.until(Ended)
        assert isinstance(ended, Ended) and (ended.cause, ended.by_remote, ended.status) == (
            EndCause.CANCELLED, True, 487
        )  # fmt: skip
        assert ended.reason is not None and (ended.reason.protocol, ended.reason.cause) == ("SIP", 200)

    await carrier_calls(tmp_path, "inbound_cancel.xml", bot)


async def test_inbound_refused_busy(tmp_path: Path) -> None:
    async def bot(gw: Gateway) -> None:
        incoming = await gw.until(IncomingCall)
        assert isinstance(incoming, IncomingCall)
        gw.transport.run(lambda now: gw.ua.reject(incoming.call_id, now, EndCause.BUSY))
        await gw.until(Ended)

    await carrier_calls(tmp_path, "inbound_busy.xml", bot)  # sipp checks 486 + Q.850 cause 17


async def test_inbound_hold_and_resume_by_the_carrier(tmp_path: Path) -> None:
    async def bot(gw: Gateway) -> None:
        await answer(gw)
        held = await gw.until(MediaUpdated)
        assert isinstance(held, MediaUpdated) and held.by_remote and held.media.held_by_remote
        assert not held.media.send and held.media.receive
        resumed = await gw.until(MediaUpdated)
        assert isinstance(resumed, MediaUpdated) and resumed.media.send and resumed.media.receive
        await gw.until(Ended)

    await carrier_calls(tmp_path, "inbound_hold.xml", bot)


# ---- Telex calls sipp -------------------------------------------------------------------------


async def test_outbound_digest_early_media_and_echoed_audio(tmp_path: Path) -> None:
    async def bot(gw: Gateway, call_id: str) -> None:
        assert gw.rtp is not None
        challenge = await gw.until(AuthChallenge)
        assert challenge == AuthChallenge(call_id, "carrier.test", 401, True)
        early = await gw.until(EarlyMedia)
        assert isinstance(early, EarlyMedia) and early.media.codec.name == "PCMU"
        gw.rtp.send_audio(tone(1.5))
        await gw.until(Answered)
        frames = 0
        async with asyncio.timeout(10):
            while frames < 25:  # sipp -rtp_echo returns what we send
                frames += (await gw.rtp.read_frame()).kind is FrameKind.AUDIO
        gw.rtp.send_dtmf("4")
        async with asyncio.timeout(5):
            while not isinstance(await gw.rtp.dtmf.get(), DtmfEnded):  # the echo of our own digit
                pass
        gw.transport.run(lambda now: gw.ua.hangup(call_id, now))
        await gw.until(Ended)

    gw = await gateway_calls(
        tmp_path, "outbound_auth_early.xml", bot, credentials=lambda realm: Credentials("trunkuser", "s3cret")
    )
    assert gw.rtp is not None and gw.rtp.session is not None
    assert gw.rtp.session.stats.received_packets > 25 and gw.rtp.session.stats.dtmf_sent == 1


async def test_outbound_wrong_password_is_forbidden(tmp_path: Path) -> None:
    async def bot(gw: Gateway, call_id: str) -> None:
        ended = await gw.until(Ended)
        assert isinstance(ended, Ended) and (ended.cause, ended.status) == (EndCause.FORBIDDEN, 403)

    await gateway_calls(
        tmp_path, "outbound_auth_early.xml", bot, credentials=lambda realm: Credentials("trunkuser", "wrong")
    )


async def test_outbound_busy(tmp_path: Path) -> None:
    async def bot(gw: Gateway, call_id: str) -> None:
        ended = await gw.until(Ended)
        assert isinstance(ended, Ended) and (ended.cause, ended.status, ended.by_remote) == (
            EndCause.BUSY,
            486,
            True,
        )
        assert ended.reason is not None and ended.reason.cause == 17

    await gateway_calls(tmp_path, "outbound_busy.xml", bot)


async def test_outbound_cancel_while_ringing(tmp_path: Path) -> None:
    async def bot(gw: Gateway, call_id: str) -> None:
        await gw.until(Ringing)
        gw.transport.run(lambda now: gw.ua.hangup(call_id, now))
        ended = await gw.until(Ended)
        assert isinstance(ended, Ended) and (ended.cause, ended.by_remote) == (EndCause.CANCELLED, False)
        await asyncio.sleep(0.3)  # let the 487 and our ACK cross before sipp is judged

    await gateway_calls(tmp_path, "outbound_cancel.xml", bot)


async def test_outbound_hold_resume_then_carrier_hangs_up(tmp_path: Path) -> None:
    async def bot(gw: Gateway, call_id: str) -> None:
        await gw.until(Answered)
        gw.transport.run(lambda now: gw.ua.hold(call_id, now))
        held = await gw.until(MediaUpdated)
        assert isinstance(held, MediaUpdated) and held.media.send and not held.media.receive
        gw.transport.run(lambda now: gw.ua.resume(call_id, now))
        resumed = await gw.until(MediaUpdated)
        assert isinstance(resumed, MediaUpdated) and resumed.media.send and resumed.media.receive
        ended = await gw.until(Ended)
        assert isinstance(ended, Ended) and ended.cause is EndCause.REMOTE_HUNG_UP

    await gateway_calls(tmp_path, "outbound_hold.xml", bot)
