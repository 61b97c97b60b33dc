"""The calling client without a network. Audio tracks: generator frames in order, silence when
the generator runs out or while muted, and a stopped track ends (so MediaRelay's reader stops
instead of generating audio for ever — a leak the benchmark found). Trickled ICE candidates
from browsers reach the peer connection."""

from __future__ import annotations

import array

import pytest
from aiortc.mediastreams import MediaStreamError

from telex.client.calling import SAMPLES, Call, _Muting, _PcmTrack, pcm_frame


def samples(frame: object) -> list[int]:
    return list(array.array("h", bytes(frame.planes[0])))  # type: ignore[attr-defined]


async def test_generator_frames_then_silence_and_muting() -> None:
    source = [bytes([1, 0]) * SAMPLES, pcm_frame(bytes([2, 0]) * SAMPLES, 999)]
    track = _Muting(_PcmTrack(source))
    first, second, third = [await track.recv() for _ in range(3)]
    assert (samples(first)[0], samples(second)[0], samples(third)[0]) == (1, 2, 0)
    assert [f.pts for f in (first, second, third)] == [0, SAMPLES, 2 * SAMPLES]  # re-stamped
    assert first.sample_rate == 48000 and first.samples == SAMPLES
    track.muted = True
    loud = _Muting(_PcmTrack([bytes([5, 0]) * SAMPLES]))
    loud.muted = True
    assert set(samples(await loud.recv())) == {0}
    track.stop()
    with pytest.raises(MediaStreamError):
        await track.recv()
    assert track.source.readyState == "ended"
    with pytest.raises(MediaStreamError):
        await track.source.recv()


async def test_async_generator_source() -> None:
    async def frames():  # type: ignore[no-untyped-def]
        for value in (7, 8):
            yield bytes([value, 0]) * SAMPLES

    track = _PcmTrack(frames())
    got = [samples(await track.recv())[0] for _ in range(3)]
    assert got == [7, 8, 0]


class _Stub:
    """Stands in for the client (``_spawn``) and a peer connection (``addIceCandidate``)."""

    def __init__(self) -> None:
        self.added: list[object] = []
        self.pc = self

    def _spawn(self, coro: object) -> None:
        coro.close()  # type: ignore[attr-defined]

    async def addIceCandidate(self, candidate: object) -> None:  # aiortc's name
        self.added.append(candidate)


async def test_trickled_browser_candidates_reach_the_peer_connection() -> None:
    stub = _Stub()
    call = Call(stub, "call", "me")  # type: ignore[arg-type]
    call._peers["them"] = stub  # type: ignore[assignment]
    line = "candidate:842163049 1 udp 1677729535 127.0.0.1 50000 typ relay raddr 0.0.0.0 rport 0"
    for candidate in ({"candidate": line, "sdpMid": "0", "sdpMLineIndex": 0}, {"candidate": ""}):
        await call._on_signal({"from": "them", "type": "candidate", "candidate": candidate})
    (added,) = stub.added  # the empty end-of-candidates marker is not passed on
    assert (added.ip, added.port, added.type, added.sdpMid) == ("127.0.0.1", 50000, "relay", "0")  # type: ignore[attr-defined]
