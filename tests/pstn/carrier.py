"""A carrier written with Telex's own SIP core and RTP endpoint (an independent peer is sipp, in
test_sipp.py): it places calls to the gateway and listens to what comes back."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import av

from telex.automation.media.dtmf import DtmfDetector
from telex.rtp import FrameKind, RtpEndpoint
from telex.sip import Answered, Confirmed, Credentials, Ended, Event, Peer
from tests.sip.sipp_peer import LOOP
from tests.sip.test_sipp import Gateway as SipPeer

__all__ = ["CALLER", "Carrier", "carrier"]

CALLER = "+15559870000"


class Carrier(SipPeer):
    """The carrier's side of one call to the gateway at ``port``."""

    def __init__(self, port: int, listen: int = 0) -> None:
        super().__init__(credentials=lambda realm: Credentials("carrier", "carrier-secret"))
        self.gateway = Peer("udp", LOOP, port)
        self._listen_port = listen
        self.call_id = ""
        self.heard: list[str] = []  # DTMF keys found in the audio Telex sent
        self.audio_frames = 0
        self._listen: asyncio.Task[None] | None = None

    def dial(self, number: str, caller: str = CALLER) -> str:
        self.call_id = self.transport.run(
            lambda now: self.ua.invite(
                f"sip:{number}@{LOOP}:{self.gateway.port}", peer=self.gateway, rtp=self.media_address,
                now=now, from_user=caller, display_name="A Caller",
            )
        )  # fmt: skip
        return self.call_id

    async def __aenter__(self) -> Carrier:
        self.port = await self.transport.listen_udp(LOOP, self._listen_port)
        self.rtp = await RtpEndpoint.open(LOOP)
        return self

    async def answered(self) -> Answered:
        event = await self.until(Answered)
        assert isinstance(event, Answered)
        self._listen = asyncio.create_task(self._heard())
        return event

    async def until_confirmed(self) -> None:
        """The call we answered is up: listen to what the gateway sends."""
        await self.until(Confirmed)
        self._listen = asyncio.create_task(self._heard())

    async def ended(self, limit: float = 15.0) -> Ended:
        event = await self.until(Ended, limit)
        assert isinstance(event, Ended)
        return event

    async def events_until_end(self, limit: float = 15.0) -> list[Event]:
        await self.ended(limit)
        return self.seen

    async def _heard(self) -> None:
        """Decode what the gateway sends: count audio frames, find DTMF tones in them."""
        assert self.rtp is not None
        detector = DtmfDetector()
        up = av.AudioResampler(format="s16", layout="mono", rate=16000)
        pts = 0
        while True:
            frame = await self.rtp.read_frame()
            if frame.kind is not FrameKind.AUDIO:
                continue
            self.audio_frames += 1
            f = av.AudioFrame(format="s16", layout="mono", samples=len(frame.pcm) // 2)
            f.planes[0].update(frame.pcm)
            f.sample_rate, f.pts = 8000, pts
            pts += f.samples
            for chunk in up.resample(f):
                self.heard += [t.key for t in detector.feed(bytes(chunk.planes[0])[: chunk.samples * 2])]

    async def __aexit__(self, *exc: object) -> None:
        if self._listen is not None:
            self._listen.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listen
        await super().__aexit__(*exc)


@contextlib.asynccontextmanager
async def carrier(port: int, listen: int = 0) -> AsyncIterator[Carrier]:
    async with Carrier(port, listen) as c:
        yield c
