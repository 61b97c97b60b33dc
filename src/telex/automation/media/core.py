"""Media operations of one call connection, sans-I/O: play, recognize DTMF, hold music, send
DTMF, continuous DTMF, cancel — with ACS's events and result codes.

Theory of operation
-------------------
The shell calls ``tick(now, heard)`` every 20 ms with the PCM it received from each participant
(16 kHz mono, ``audio.FRAME_BYTES``) and sends back what ``tick`` returns for each participant.
Everything moves on that beat: positions in prompts, timers, detection. Time enters only as
``now``, so tests drive hours of calls without waiting.

    key_pressed(pid, key, now)                 a key from signaling (RFC 4733 on a SIP leg)
    submit(PlayOp | RecognizeOp) ─► queue (one per connection, FIFO; interruptCallMediaOperation
                                    cancels what is queued first)
    loaded(op, i, clip) / load_failed(op, i)   the shell fetched and decoded source i
    tick ─► head op outputs its current frame to its targets ─► ends ─► next op
          ─► armed detectors (the head recognize's target, continuous DTMF) ─► tones
          ─► timers (initial silence, inter-tone) ─► events()

A play op sends ``PlayStarted`` when its first frame goes out, then ``PlayCompleted`` (or
``PlayFailed`` 8535/8536 with ``failedPlaySourceIndex``, or ``PlayCanceled`` 8508). A recognize op
plays its prompt to its target, arms the target's detector, and ends with one of (sip.md §4.3)

    RecognizeCompleted 200/8531  maxTonesToCollect reached       (dtmf)
    RecognizeCompleted 200/8514  a stop tone                     (dtmf; the stop tone not included)
    RecognizeCompleted 200/8533  a choice's tone                 (choices)
    RecognizeFailed    400/8534  a tone no choice has            (choices)
    RecognizeFailed    400/8510  nothing within initialSilenceTimeout after the prompt
    RecognizeFailed    400/8532  interToneTimeout after a tone, before the end
    RecognizeFailed    500/8511  its prompt could not be played
    RecognizeCanceled  400/8508  cancelAllMediaOperations or an interrupting operation

A tone during the prompt stops the prompt when ``interruptPrompt`` is set, and counts either way.
A held participant hears the hold music (looped) instead of the queue's output. Continuous DTMF
reports every tone of its participant (``ContinuousDtmfRecognitionToneReceived``, with a
sequence id) whatever the queue does. Sent DTMF is in-band (the browser leg carries no RFC 4733
events), mixed over the participant's output, then ``SendDtmfTonesCompleted``; to a phone
participant it goes as signaling instead (the shell hands the keys to the trunk's leg).

Misuse (an unknown operation id) is ignored: the shell may report a load that finished after
its operation was cancelled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from telex.automation.media.audio import FRAME_BYTES, SILENCE, Clip, mix
from telex.automation.media.dtmf import DTMF_TONES, DtmfDetector, tones_pcm

__all__ = [
    "DTMF_OFF",
    "DTMF_ON",
    "MediaCore",
    "MediaEvent",
    "PlayOp",
    "RecognizeOp",
    "Result",
]


@dataclass(frozen=True, slots=True)
class Result:
    code: int
    sub_code: int
    message: str

    def wire(self) -> dict[str, Any]:
        return {"code": self.code, "subCode": self.sub_code, "message": self.message}


OK = Result(200, 0, "Action completed successfully.")
CANCELED = Result(400, 8508, "Action failed, the operation was canceled.")
MAX_DIGITS = Result(200, 8531, "Action completed, max digits received.")
STOP_TONE = Result(200, 8514, "Action completed as stop tone was detected.")
DTMF_ON, DTMF_OFF = 0.1, 0.06  # seconds of each sent tone and of the pause after it
CHOICE_MATCHED = Result(200, 8533, "Action completed, DTMF option matched.")
INCORRECT_TONE = Result(400, 8534, "Action failed, incorrect tone detected.")
INITIAL_SILENCE = Result(400, 8510, "Action failed, initial silence timeout reached.")
INTER_DIGIT = Result(400, 8532, "Action failed, inter-digit silence timeout reached.")
PROMPT_FAILED = Result(500, 8511, "Action failed, encountered failure while trying to play the prompt.")
INVALID_FORMAT = Result(400, 8535, "Action failed, file format is invalid.")
DOWNLOAD_FAILED = Result(400, 8536, "Action failed, file could not be downloaded.")


@dataclass(frozen=True, slots=True)
class MediaEvent:
    """One callback to send: the ACS type (``PlayCompleted`` …), the operation's context and
    callback URI override, ``resultInformation`` and the type's own ``data`` fields."""

    type: str
    context: str | None
    callback: str | None
    result: Result
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(eq=False)
class PlayOp:
    id: str
    clips: list[Clip | None]  # None: still loading
    targets: frozenset[str] | None = None  # participant ids; None: everyone
    loop: bool = False
    context: str | None = None
    callback: str | None = None
    _index: int = 0
    _pos: int = 0
    _started: bool = False


@dataclass(eq=False)
class RecognizeOp:
    id: str
    target: str  # participant id
    kind: Literal["dtmf", "choices"] = "dtmf"
    prompt: list[Clip | None] = field(default_factory=list)
    interrupt_prompt: bool = True
    initial_silence: float = 5.0
    inter_tone: float = 2.0
    max_tones: int = 1
    stop_tones: frozenset[str] = frozenset()  # keys: "#", "*", "0"…
    choices: tuple[tuple[str, str], ...] = ()  # (label, key)
    context: str | None = None
    callback: str | None = None
    _index: int = 0
    _pos: int = 0
    _prompt_done: bool = False
    _tones: list[str] = field(default_factory=list)
    _deadline: float | None = None


Op = PlayOp | RecognizeOp


@dataclass(slots=True)
class _Loop:
    clip: Clip
    pos: int = 0

    def next(self) -> bytes:
        frame = self.clip.frame(self.pos)
        self.pos = (self.pos + 1) % self.clip.frames
        return frame


@dataclass(slots=True)
class _Send:
    pcm: bytes
    context: str | None
    callback: str | None
    pos: int = 0


@dataclass(slots=True)
class _Continuous:
    context: str | None
    callback: str | None
    sequence: int = 0


class MediaCore:
    """The media operations of one call connection (see the module docstring)."""

    def __init__(self) -> None:
        self._queue: list[Op] = []
        self._events: list[MediaEvent] = []
        self._participants: set[str] = set()
        self._detectors: dict[str, DtmfDetector] = {}
        self._held: dict[str, _Loop | None] = {}
        self._sending: dict[str, _Send] = {}
        self._continuous: dict[str, _Continuous] = {}
        self.last_output = SILENCE  # what the queue's head played this tick (for recordings)

    # participants ----------------------------------------------------------------------------------
    @property
    def participants(self) -> frozenset[str]:
        return frozenset(self._participants)

    def add_participant(self, pid: str) -> None:
        self._participants.add(pid)

    def remove_participant(self, pid: str) -> None:
        self._participants.discard(pid)
        self._detectors.pop(pid, None)
        self._held.pop(pid, None)
        self._sending.pop(pid, None)
        self._continuous.pop(pid, None)

    # commands --------------------------------------------------------------------------------------
    def submit(self, op: Op, *, interrupt: bool = False) -> None:
        """Queue ``op``; ``interrupt`` cancels everything queued or playing first."""
        if interrupt:
            self.cancel_all()
        self._queue.append(op)

    def loaded(self, op_id: str, index: int, clip: Clip) -> None:
        op = self._find(op_id)
        sources = None if op is None else (op.clips if isinstance(op, PlayOp) else op.prompt)
        if sources is not None and 0 <= index < len(sources):
            sources[index] = clip

    def load_failed(self, op_id: str, index: int, result: Result) -> None:
        """Source ``index`` of ``op_id`` cannot be played: the operation fails now."""
        op = self._find(op_id)
        if op is None:
            return
        self._queue.remove(op)
        data = {"failedPlaySourceIndex": index}
        if isinstance(op, PlayOp):
            self._emit("PlayFailed", op, result, data)
        else:
            self._emit("RecognizeFailed", op, PROMPT_FAILED, data)

    def cancel_all(self) -> None:
        """``cancelAllMediaOperations``: every queued or playing play and recognize is cancelled."""
        queue, self._queue = self._queue, []
        for op in queue:
            self._emit("PlayCanceled" if isinstance(op, PlayOp) else "RecognizeCanceled", op, CANCELED)

    def hold(self, pid: str, music: Clip | None) -> None:
        self._held[pid] = _Loop(music) if music is not None and music.frames else None

    def unhold(self, pid: str) -> None:
        self._held.pop(pid, None)

    def is_held(self, pid: str) -> bool:
        return pid in self._held

    def send_dtmf(
        self, pid: str, keys: list[str], context: str | None, callback: str | None, *, in_band: bool = True
    ) -> None:
        """Tones of ``keys`` (100 ms each, 60 ms apart) mixed into ``pid``'s audio, then
        ``SendDtmfTonesCompleted``. Not ``in_band``: the keys go by signaling (RFC 4733 on a
        trunk, sent by the caller of this), and the completion comes after as long a silence."""
        pcm = tones_pcm(keys, on=DTMF_ON, off=DTMF_OFF)
        self._sending[pid] = _Send(pcm if in_band else bytes(len(pcm)), context, callback)

    def start_continuous(self, pid: str, context: str | None, callback: str | None) -> None:
        if pid not in self._continuous:
            self._detector(pid, reset=True)
        self._continuous[pid] = _Continuous(context, callback)

    def stop_continuous(self, pid: str, context: str | None, callback: str | None) -> None:
        self._continuous.pop(pid, None)
        self._events.append(MediaEvent("ContinuousDtmfRecognitionStopped", context, callback, OK))

    def key_pressed(self, pid: str, key: str, now: float) -> None:
        """A key ``pid`` pressed, known from signaling rather than heard (RFC 4733 telephone
        events on a SIP leg): it counts exactly like a tone the detector found."""
        if key not in DTMF_TONES:
            raise ValueError(f"not a DTMF key: {key!r}")
        self._on_tone(pid, key, now)

    def events(self) -> list[MediaEvent]:
        out, self._events = self._events, []
        return out

    @property
    def busy(self) -> bool:
        """Something is queued or playing."""
        return bool(self._queue)

    # the beat --------------------------------------------------------------------------------------
    def tick(self, now: float, heard: Mapping[str, bytes]) -> dict[str, bytes]:
        """20 ms: detect tones in ``heard``, fire timers, and return each participant's frame."""
        head = self._queue[0] if self._queue else None
        if isinstance(head, RecognizeOp):
            self._detector(head.target)
        for pid, detector in list(self._detectors.items()):
            armed = pid in self._continuous or (isinstance(head, RecognizeOp) and head.target == pid)
            if not armed:
                del self._detectors[pid]
                continue
            pcm = heard.get(pid)
            if pcm:
                for tone in detector.feed(pcm):
                    self._on_tone(pid, tone.key, now)
        self._timers(now)
        return self._output(now)

    # internals -------------------------------------------------------------------------------------
    def _find(self, op_id: str) -> Op | None:
        return next((op for op in self._queue if op.id == op_id), None)

    def _detector(self, pid: str, *, reset: bool = False) -> DtmfDetector:
        detector = self._detectors.get(pid)
        if detector is None or reset:
            detector = self._detectors[pid] = DtmfDetector()
        return detector

    def _emit(self, type_: str, op: Op, result: Result, data: Mapping[str, Any] | None = None) -> None:
        self._events.append(MediaEvent(type_, op.context, op.callback, result, dict(data or {})))

    def _finish(self, op: Op, type_: str, result: Result, data: Mapping[str, Any] | None = None) -> None:
        if op in self._queue:
            self._queue.remove(op)
        self._emit(type_, op, result, data)

    def _on_tone(self, pid: str, key: str, now: float) -> None:
        continuous = self._continuous.get(pid)
        if continuous is not None:
            continuous.sequence += 1
            data = {"tone": DTMF_TONES[key], "sequenceId": continuous.sequence}
            self._events.append(
                MediaEvent(
                    "ContinuousDtmfRecognitionToneReceived", continuous.context, continuous.callback, OK, data
                )
            )
        head = self._queue[0] if self._queue else None
        if not isinstance(head, RecognizeOp) or head.target != pid:
            return
        if not head._prompt_done and head.interrupt_prompt:
            head._prompt_done = True
        if head.kind == "choices":
            label = next((lab for lab, k in head.choices if k == key), None)
            if label is None:
                self._finish(head, "RecognizeFailed", INCORRECT_TONE)
            else:
                data = {
                    "recognitionType": "choices",
                    "choiceResult": {"label": label, "recognizedPhrase": DTMF_TONES[key]},
                }
                self._finish(head, "RecognizeCompleted", CHOICE_MATCHED, data)
            return
        if key in head.stop_tones:
            self._finish(head, "RecognizeCompleted", STOP_TONE, _dtmf_result(head._tones))
            return
        head._tones.append(key)
        if len(head._tones) >= head.max_tones:
            self._finish(head, "RecognizeCompleted", MAX_DIGITS, _dtmf_result(head._tones))
        elif head._prompt_done:
            head._deadline = now + head.inter_tone

    def _timers(self, now: float) -> None:
        head = self._queue[0] if self._queue else None
        if isinstance(head, RecognizeOp) and head._deadline is not None and now >= head._deadline:
            self._finish(head, "RecognizeFailed", INTER_DIGIT if head._tones else INITIAL_SILENCE)

    def _advance(self, op: Op, now: float) -> bytes:
        """The head's frame for this tick (silence while a source loads); moves it on."""
        sources = op.clips if isinstance(op, PlayOp) else op.prompt
        if isinstance(op, RecognizeOp) and op._prompt_done:
            return SILENCE
        if op._index >= len(sources):
            self._ended(op, now)
            return SILENCE
        clip = sources[op._index]
        if clip is None:
            return SILENCE  # loading: keep the queue's order, wait
        if isinstance(op, PlayOp) and not op._started:
            op._started = True
            self._emit("PlayStarted", op, OK)
        frame = clip.frame(op._pos) if clip.frames else SILENCE
        op._pos += 1
        if op._pos >= clip.frames:
            op._index, op._pos = op._index + 1, 0
            if op._index >= len(sources):
                if isinstance(op, PlayOp) and op.loop:
                    op._index = 0
                else:
                    self._ended(op, now)
        return frame

    def _ended(self, op: Op, now: float) -> None:
        if isinstance(op, PlayOp):
            self._finish(op, "PlayCompleted", OK)
        elif not op._prompt_done:
            op._prompt_done = True
            wait = op.inter_tone if op._tones else op.initial_silence
            op._deadline = now + wait if (op._tones or wait > 0) else None

    def _output(self, now: float) -> dict[str, bytes]:
        head = self._queue[0] if self._queue else None
        frame = SILENCE
        if head is not None:
            if isinstance(head, RecognizeOp) and not head.prompt and not head._prompt_done:
                self._ended(head, now)  # no prompt: listening starts at once
            frame = self._advance(head, now)
        self.last_output = frame
        if isinstance(head, PlayOp):
            targets = head.targets
        elif isinstance(head, RecognizeOp):
            targets = frozenset({head.target})
        else:
            targets = frozenset()
        out: dict[str, bytes] = {}
        for pid in self._participants:
            if pid in self._held:
                music = self._held[pid]
                own = music.next() if music is not None else SILENCE
            else:
                own = frame if (targets is None or pid in targets) else SILENCE
            send = self._sending.get(pid)
            if send is not None:
                tone = send.pcm[send.pos : send.pos + FRAME_BYTES]
                send.pos += FRAME_BYTES
                own = mix([own, tone.ljust(FRAME_BYTES, b"\0")])
                if send.pos >= len(send.pcm):
                    del self._sending[pid]
                    self._events.append(MediaEvent("SendDtmfTonesCompleted", send.context, send.callback, OK))
            out[pid] = own
        return out


def _dtmf_result(keys: list[str]) -> dict[str, Any]:
    return {"recognitionType": "dtmf", "dtmfResult": {"tones": [DTMF_TONES[k] for k in keys]}}
