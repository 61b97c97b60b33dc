"""The media core on a fake beat: every recognize sub-code provoked on purpose, plays (queue,
loop, to some, interrupt, cancel, load failures), hold music, continuous and sent DTMF. No
aiortc, no real time: ``tick`` is called with ``now`` advancing 20 ms a step."""

from __future__ import annotations

import array

import pytest

from telex.automation.media.audio import FRAME_BYTES, SILENCE, Clip, level
from telex.automation.media.core import (
    DOWNLOAD_FAILED,
    MediaCore,
    MediaEvent,
    PlayOp,
    RecognizeOp,
)
from telex.automation.media.dtmf import DtmfDetector, tones_pcm

STEP = 0.02


def clip(frames: int, value: int = 1000) -> Clip:
    return Clip(array.array("h", [value] * (frames * FRAME_BYTES // 2)).tobytes())


class Beat:
    """Drives a core: ``run(seconds, heard={pid: pcm})`` feeds each participant's PCM 20 ms a tick."""

    def __init__(self, core: MediaCore) -> None:
        self.core = core
        self.now = 1000.0
        self.sent: dict[str, list[bytes]] = {}
        self.events: list[MediaEvent] = []

    def run(self, seconds: float, heard: dict[str, bytes] | None = None) -> list[MediaEvent]:
        heard = dict(heard or {})
        for _ in range(round(seconds / STEP)):
            frames = {}
            for pid, pcm in heard.items():
                frames[pid], heard[pid] = pcm[:FRAME_BYTES].ljust(FRAME_BYTES, b"\0"), pcm[FRAME_BYTES:]
            for pid, frame in self.core.tick(self.now, frames).items():
                self.sent.setdefault(pid, []).append(frame)
            self.now += STEP
        new = self.core.events()
        self.events += new
        return new

    def types(self) -> list[str]:
        return [e.type for e in self.events]


@pytest.fixture
def beat() -> Beat:
    core = MediaCore()
    core.add_participant("caller")
    core.add_participant("other")
    return Beat(core)


def test_play_to_all_then_completed_in_order(beat: Beat) -> None:
    beat.core.submit(PlayOp("a", [clip(5, 1000)], context="first"))
    beat.core.submit(PlayOp("b", [clip(3, 2000), clip(2, 3000)], context="second"))
    beat.run(0.2)
    assert [(e.type, e.context) for e in beat.events] == [
        ("PlayStarted", "first"), ("PlayCompleted", "first"),
        ("PlayStarted", "second"), ("PlayCompleted", "second"),
    ]  # fmt: skip
    levels = [level(f) for f in beat.sent["caller"][:10]]
    assert levels == [1000] * 5 + [2000] * 3 + [3000] * 2
    assert beat.sent["other"][:10] == beat.sent["caller"][:10]
    assert beat.events[1].result.code == 200 and beat.events[1].result.sub_code == 0


def test_play_to_some_loop_and_cancel(beat: Beat) -> None:
    beat.core.submit(PlayOp("m", [clip(2)], targets=frozenset({"caller"}), loop=True))
    beat.run(1.0)
    assert beat.types() == ["PlayStarted"]  # a loop never completes
    assert all(level(f) == 1000 for f in beat.sent["caller"]) and set(beat.sent["other"]) == {SILENCE}
    beat.core.cancel_all()
    beat.run(0.04)
    assert beat.types() == ["PlayStarted", "PlayCanceled"]
    assert beat.events[-1].result.sub_code == 8508
    assert beat.sent["caller"][-1] == SILENCE


def test_interrupt_cancels_queued_and_playing(beat: Beat) -> None:
    beat.core.submit(PlayOp("a", [clip(50)], context="a"))
    beat.core.submit(RecognizeOp("r", "caller", context="r"))
    beat.run(0.1)
    beat.core.submit(PlayOp("b", [clip(2)], context="b"), interrupt=True)
    beat.run(0.1)
    assert [(e.type, e.context) for e in beat.events] == [
        ("PlayStarted", "a"), ("PlayCanceled", "a"), ("RecognizeCanceled", "r"),
        ("PlayStarted", "b"), ("PlayCompleted", "b"),
    ]  # fmt: skip


def test_sources_load_in_order_and_failures_name_the_index(beat: Beat) -> None:
    beat.core.submit(PlayOp("a", [None, None], context="a"))
    beat.core.submit(PlayOp("b", [clip(1)], context="b"))
    beat.run(0.1)
    assert beat.events == []  # the head waits for its first source; b stays behind it
    beat.core.loaded("a", 0, clip(1))
    beat.core.load_failed("a", 1, DOWNLOAD_FAILED)
    beat.run(0.1)
    failed = next(e for e in beat.events if e.type == "PlayFailed")
    assert failed.data == {"failedPlaySourceIndex": 1} and failed.result.sub_code == 8536
    assert ("PlayCompleted", "b") in [(e.type, e.context) for e in beat.events]
    beat.core.loaded("gone", 0, clip(1))  # a late load of a finished operation: ignored


def keys(pcm_keys: str, *, lead: float = 0.0) -> bytes:
    return bytes(2 * round(lead * 16000)) + tones_pcm(pcm_keys)


def recognize(**options: object) -> RecognizeOp:
    return RecognizeOp("r", "caller", context="ctx", **options)  # type: ignore[arg-type]


def test_8531_max_tones(beat: Beat) -> None:
    beat.core.submit(recognize(max_tones=3, stop_tones=frozenset("#")))
    beat.run(2.0, {"caller": keys("123")})
    (done,) = beat.events
    assert (done.type, done.result.code, done.result.sub_code) == ("RecognizeCompleted", 200, 8531)
    assert done.data == {"recognitionType": "dtmf", "dtmfResult": {"tones": ["one", "two", "three"]}}
    assert done.context == "ctx"


def test_8514_stop_tone(beat: Beat) -> None:
    beat.core.submit(recognize(max_tones=5, stop_tones=frozenset("#")))
    beat.run(2.0, {"caller": keys("12#")})
    (done,) = beat.events
    assert (done.type, done.result.sub_code) == ("RecognizeCompleted", 8514)
    assert done.data["dtmfResult"] == {"tones": ["one", "two"]}


def test_8510_initial_silence_after_the_prompt(beat: Beat) -> None:
    beat.core.submit(recognize(prompt=[clip(50)], initial_silence=3.0))
    beat.run(3.9)  # 1 s of prompt, then 3 s of nothing
    assert beat.events == []
    beat.run(0.2)
    (failed,) = beat.events
    assert (failed.type, failed.result.code, failed.result.sub_code) == ("RecognizeFailed", 400, 8510)
    assert sum(1 for f in beat.sent["caller"] if f != SILENCE) == 50  # the prompt, to the target
    assert set(beat.sent["other"]) == {SILENCE}


def test_8532_inter_tone_timeout(beat: Beat) -> None:
    beat.core.submit(recognize(max_tones=4, inter_tone=1.0))
    beat.run(1.0, {"caller": keys("12")})
    assert beat.events == []
    beat.run(1.0)
    (failed,) = beat.events
    assert (failed.type, failed.result.sub_code) == ("RecognizeFailed", 8532)


def test_choices_by_tone_8533_and_8534(beat: Beat) -> None:
    choices = (("sales", "1"), ("support", "2"))
    beat.core.submit(RecognizeOp("c1", "caller", kind="choices", choices=choices))
    beat.run(1.0, {"caller": keys("2")})
    beat.core.submit(RecognizeOp("c2", "caller", kind="choices", choices=choices))
    beat.run(1.0, {"caller": keys("9")})
    matched, wrong = beat.events
    assert (matched.type, matched.result.sub_code) == ("RecognizeCompleted", 8533)
    assert matched.data["recognitionType"] == "choices"
    assert matched.data["choiceResult"]["label"] == "support"
    assert (wrong.type, wrong.result.sub_code) == ("RecognizeFailed", 8534)


def test_interrupt_prompt_stops_it_and_the_tone_counts(beat: Beat) -> None:
    beat.core.submit(recognize(prompt=[clip(100)], max_tones=1))
    beat.run(1.0, {"caller": keys("5", lead=0.3)})
    (done,) = beat.events
    assert done.data["dtmfResult"] == {"tones": ["five"]}
    played = sum(1 for f in beat.sent["caller"] if f != SILENCE)
    assert 15 <= played <= 30  # stopped at the tone (0.3 s + its detection), not after 2 s


def test_tones_from_another_participant_or_before_arming_do_not_count(beat: Beat) -> None:
    beat.run(1.0, {"caller": keys("7")})
    beat.core.submit(recognize(max_tones=1, initial_silence=1.0))
    beat.run(1.5, {"other": keys("8")})
    (failed,) = beat.events
    assert failed.result.sub_code == 8510


def test_a_prompt_that_cannot_load_fails_the_recognize_8511(beat: Beat) -> None:
    beat.core.submit(recognize(prompt=[None]))
    beat.core.load_failed("r", 0, DOWNLOAD_FAILED)
    (failed,) = beat.core.events()
    assert (failed.type, failed.result.code, failed.result.sub_code) == ("RecognizeFailed", 500, 8511)


def test_continuous_dtmf_alongside_the_queue(beat: Beat) -> None:
    beat.core.start_continuous("caller", "cont", None)
    beat.core.submit(PlayOp("p", [clip(100)]))
    beat.run(1.5, {"caller": keys("4*")})
    beat.core.stop_continuous("caller", "cont", None)
    received = [e for e in beat.events + beat.core.events() if e.type.startswith("Continuous")]
    tones = [(e.data["tone"], e.data["sequenceId"]) for e in beat.events if "Tone" in e.type]
    assert tones == [("four", 1), ("asterisk", 2)]
    assert received[-1].type == "ContinuousDtmfRecognitionStopped"


def test_hold_music_replaces_the_queue_for_the_held_participant(beat: Beat) -> None:
    beat.core.hold("caller", clip(3, 500))
    beat.core.submit(PlayOp("p", [clip(10, 2000)]))
    beat.run(0.2)
    assert {level(f) for f in beat.sent["caller"]} == {500}
    assert {level(f) for f in beat.sent["other"]} == {2000}
    beat.core.unhold("caller")
    beat.core.submit(PlayOp("q", [clip(2, 3000)]))
    beat.run(0.04)
    assert level(beat.sent["caller"][-1]) == 3000


def test_send_dtmf_in_band_then_completed(beat: Beat) -> None:
    beat.core.send_dtmf("other", ["9", "#"], "send", None)
    beat.run(0.5)
    assert beat.types() == ["SendDtmfTonesCompleted"]
    detector = DtmfDetector()
    heard = [t.key for f in beat.sent["other"] for t in detector.feed(f)]
    assert heard == ["9", "#"]
    assert set(beat.sent["caller"]) == {SILENCE}


def test_keys_from_telephone_events_count_like_tones(beat: Beat) -> None:
    beat.core.submit(recognize(max_tones=3, stop_tones=frozenset("#")))
    beat.run(0.04)
    for key in "9*#":
        beat.core.key_pressed("caller", key, beat.now)
    (done,) = beat.core.events()
    assert done.result.sub_code == 8514 and done.data["dtmfResult"]["tones"] == ["nine", "asterisk"]
    with pytest.raises(ValueError, match="DTMF"):
        beat.core.key_pressed("caller", "x", beat.now)
