"""Call Automation's media operations and recordings: requests checked here, then carried out by
the connection's media session (``media.engine``), wherever it runs.

    :play :recognize :cancelAllMediaOperations :hold :unhold :sendDtmfTones
    :startContinuousDtmfRecognition :stopContinuousDtmfRecognition
        ─► validate (text, SSML, speech: 501, no speech service here) ─► command ─► engine.submit
    POST /calling/recordings ─► a row ─► the session records the mix ─► RecordingStateChanged
    session stops the file ─► RecordingFileStatusUpdated (Event Grid) with HMAC-signed download
        URLs: GET …/recordings/{id}/content (Range), …/metadata, DELETE …/content

The session reports back through ``media_events`` and ``recording_changed`` (this object is the
engine's host), which append callbacks like every other: one path, in order.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update

from telex.automation.events import RECORDING_FILE_STATUS, RECORDINGS_TOPIC, callback_event
from telex.automation.identifiers import raw_id
from telex.automation.media.core import MediaEvent
from telex.automation.media.dtmf import DTMF_TONES
from telex.automation.media.recorder import Recorder
from telex.automation.schema import recordings as REC
from telex.automation.service import AutomationService, not_implemented
from telex.automation.store import ConnectionRepo
from telex.automation.wire import (
    ContinuousDtmfRequest,
    HoldRequest,
    PlayRequest,
    PlaySource,
    RecognizeRequest,
    SendDtmfTonesRequest,
    StartRecordingRequest,
    UnholdRequest,
)
from telex.core.clock import Clock, iso_time
from telex.core.errors import ErrorCode, TelexError
from telex.events.model import DomainEvent
from telex.store.database import Database

__all__ = ["MediaOps"]

_KEYS = {name: key for key, name in DTMF_TONES.items()} | {k: k for k in DTMF_TONES}
_KIND = "AzureCommunicationServices"


def _key(tone: str) -> str:
    key = _KEYS.get(tone) or _KEYS.get(tone.lower())
    if key is None:
        raise TelexError(ErrorCode.VALIDATION_FAILED, f"{tone[:20]!r} is not a DTMF tone.")
    return key


def _needs_tts() -> TelexError:
    return not_implemented(
        "Text and SSML play sources need a text-to-speech service, which this server does not have; "
        "play WAV or MP3 files instead."
    )


def _sources(sources: list[PlaySource]) -> list[dict[str, Any]]:
    out = []
    for source in sources:
        if source.kind != "file" or source.file is None:
            raise _needs_tts()
        out.append({"uri": source.file.uri, "cacheId": source.playSourceCacheId})
    return out


class MediaOps:
    def __init__(self, service: AutomationService, db: Database, clock: Clock, public_url: str) -> None:
        self.service = service
        self._db = db
        self._clock = clock
        self._base = public_url.rstrip("/")

    async def _submit(self, connection_id: str, command: dict[str, Any]) -> None:
        conn, _ = await self.service.live(connection_id)
        engine = self.service.engine
        if engine is None or engine.max_sessions == 0:
            raise not_implemented(
                "Server-side media is turned off on this server (automation.max_media_sessions)."
            )
        await engine.submit(conn.id, command)

    def _uri(self, uri: str | None) -> str | None:
        return self.service.check_uri(uri, "operationCallbackUri") if uri else None

    # media -------------------------------------------------------------------------------------------
    async def play(self, connection_id: str, req: PlayRequest) -> None:
        command = {
            "op": "play",
            "id": str(uuid.uuid4()),
            "sources": _sources(req.playSources),
            "playTo": [raw_id(t, "playTo") for t in req.playTo],
            "loop": bool(req.playOptions and req.playOptions.loop),
            "interrupt": req.interruptCallMediaOperation,
            "context": req.operationContext,
            "callback": self._uri(req.operationCallbackUri),
        }
        await self._submit(connection_id, command)

    async def recognize(self, connection_id: str, req: RecognizeRequest) -> None:
        options = req.recognizeOptions
        if req.recognizeInputType in ("speech", "speechOrDtmf"):
            raise not_implemented(
                "Speech recognition needs a speech service, which this server does not have; "
                "recognize DTMF or choices by their tones instead."
            )
        prompts = list(req.playPrompts or []) + ([req.playPrompt] if req.playPrompt else [])
        dtmf = options.dtmfOptions
        choices: list[list[str]] = []
        if req.recognizeInputType == "choices":
            if not options.choices:
                raise TelexError(ErrorCode.VALIDATION_FAILED, "Recognizing choices needs choices.")
            choices = [[c.label, _key(c.tone)] for c in options.choices if c.tone]
        command = {
            "op": "recognize",
            "id": str(uuid.uuid4()),
            "target": raw_id(options.targetParticipant, "targetParticipant"),
            "kind": req.recognizeInputType,
            "prompts": _sources(prompts),
            "interruptPrompt": True if options.interruptPrompt is None else options.interruptPrompt,
            "initialSilence": 5
            if options.initialSilenceTimeoutInSeconds is None
            else options.initialSilenceTimeoutInSeconds,
            "interTone": (dtmf.interToneTimeoutInSeconds if dtmf and dtmf.interToneTimeoutInSeconds else 2),
            "maxTones": (dtmf.maxTonesToCollect if dtmf and dtmf.maxTonesToCollect else 1),
            "stopTones": [_key(t) for t in (dtmf.stopTones or [])] if dtmf else [],
            "choices": choices,
            "interrupt": req.interruptCallMediaOperation,
            "context": req.operationContext,
            "callback": self._uri(req.operationCallbackUri),
        }
        await self._submit(connection_id, command)

    async def cancel_all(self, connection_id: str) -> None:
        await self._submit(connection_id, {"op": "cancelAll"})

    async def continuous(self, connection_id: str, req: ContinuousDtmfRequest, *, start: bool) -> None:
        command = {
            "op": "continuousStart" if start else "continuousStop",
            "target": raw_id(req.targetParticipant, "targetParticipant"),
            "context": req.operationContext,
            "callback": self._uri(req.operationCallbackUri),
        }
        await self._submit(connection_id, command)

    async def send_dtmf(self, connection_id: str, req: SendDtmfTonesRequest) -> dict[str, Any]:
        command = {
            "op": "sendDtmf",
            "target": raw_id(req.targetParticipant, "targetParticipant"),
            "tones": [_key(t) for t in req.tones],
            "context": req.operationContext,
            "callback": self._uri(req.operationCallbackUri),
        }
        await self._submit(connection_id, command)
        return {"operationContext": req.operationContext}

    async def hold(self, connection_id: str, req: HoldRequest | UnholdRequest, *, hold: bool) -> None:
        conn, call = await self.service.live(connection_id)
        target = raw_id(req.targetParticipant, "targetParticipant")
        legs = [x for x in call.legs if x.user_id == target and x.joined and x.id != conn.leg_id]
        if not legs:
            raise TelexError(ErrorCode.NOT_FOUND, "The participant is not in the call.")
        source = None
        if isinstance(req, HoldRequest) and req.playSourceInfo is not None:
            source = _sources([req.playSourceInfo])[0]
        for leg in legs:
            if leg.state.value != ("onHold" if hold else "connected"):
                await self.service.calling.hold_participant(conn.call_id, leg.id, hold=hold)
        command = {"op": "hold" if hold else "unhold", "target": target, "source": source}
        if self.service.engine is not None and self.service.engine.max_sessions:
            await self.service.engine.submit(conn.id, command)

    # recordings --------------------------------------------------------------------------------------
    async def start_recording(self, req: StartRecordingRequest) -> dict[str, Any]:
        if req.externalStorage:
            raise not_implemented("Recording to external storage is not supported by this server.")
        if (req.recordingContentType or "audio").lower() != "audio":
            raise not_implemented("Only audio recordings are supported by this server.")
        if (req.recordingChannelType or "mixed").lower() != "mixed":
            raise not_implemented("Only mixed recordings (one channel) are supported by this server.")
        if (req.recordingFormatType or "wav").lower() != "wav":
            raise not_implemented("Recordings are WAV files on this server.")
        uri = (
            self.service.check_uri(req.recordingStateCallbackUri, "recordingStateCallbackUri")
            if (req.recordingStateCallbackUri)
            else None
        )
        conn = await self._recorded_connection(req)
        recording_id = str(uuid.uuid4())
        paused = bool(req.pauseOnStart)
        async with self._db.write() as c:
            await c.execute(
                insert(REC).values(
                    id=recording_id,
                    call_id=conn.call_id,
                    connection_id=conn.id,
                    state="inactive" if paused else "active",
                    callback_uri=uri,
                    content_type="audio",
                    channel_type="mixed",
                    format="wav",
                    started_at=self._clock.now(),
                    deleted=0,
                )
            )
        await self._submit(conn.id, {"op": "recordStart", "id": recording_id, "paused": paused})
        return {
            "recordingId": recording_id,
            "recordingState": "inactive" if paused else "active",
            "recordingKind": _KIND,
        }

    async def _recorded_connection(self, req: StartRecordingRequest) -> Any:
        if req.callConnectionId:
            conn, _ = await self.service.live(req.callConnectionId)
            return conn
        locator = req.callLocator
        call_id = None
        if locator is not None and locator.serverCallId:
            call_id = locator.serverCallId
        elif locator is not None and locator.groupCallId:
            call_id = await self.service.calling.live_group_call(locator.groupCallId)
        if call_id is None:
            raise TelexError(
                ErrorCode.VALIDATION_FAILED, "Name the call to record: callConnectionId or callLocator."
            )
        async with self._db.read() as c:
            live = await ConnectionRepo(c).live_of_call(call_id)
        if not live:
            raise TelexError(
                ErrorCode.BAD_REQUEST,
                "A call is recorded by its Call Automation participant: "
                "answer, create or connect the call first.",
            )
        return live[0]

    async def _row(self, recording_id: str) -> Any:
        async with self._db.read() as c:
            row = (await c.execute(select(REC).where(REC.c.id == recording_id[:64]))).first()
        if row is None or row.deleted:
            raise TelexError(ErrorCode.NOT_FOUND, "The recording does not exist.")
        return row

    async def recording(self, recording_id: str) -> dict[str, Any]:
        row = await self._row(recording_id)
        state = "active" if row.state == "active" else "inactive"
        return {"recordingId": row.id, "recordingState": state, "recordingKind": _KIND}

    async def recording_command(self, recording_id: str, op: str) -> None:
        row = await self._row(recording_id)
        if row.state == "stopped":
            if op == "recordStop":
                return
            raise TelexError(ErrorCode.CONFLICT, "The recording has stopped.")
        engine = self.service.engine
        if engine is not None:
            await engine.submit(row.connection_id, {"op": op, "id": row.id})

    async def content_path(self, recording_id: str) -> Path:
        row = await self._row(recording_id)
        if row.state != "stopped" or not row.path or not await asyncio.to_thread(Path(row.path).exists):
            raise TelexError(ErrorCode.NOT_FOUND, "The recording has no file yet: stop it first.")
        return Path(row.path)

    async def metadata(self, recording_id: str) -> dict[str, Any]:
        row = await self._row(recording_id)
        return {
            "resourceId": self.service.signer._resource,
            "callId": row.call_id,
            "recordingId": row.id,
            "chunkDocumentId": row.id,
            "chunkIndex": 0,
            "chunkStartTime": iso_time(row.started_at),
            "chunkDuration": float(row.duration_ms or 0),
            "recordingInfo": {
                "contentType": "audio",
                "channelType": "mixed",
                "format": "wav",
                "audioConfiguration": {
                    "sampleRate": 16000,
                    "bitRate": 256000,
                    "channels": 1,
                },
            },
        }

    async def delete_content(self, recording_id: str) -> None:
        row = await self._row(recording_id)
        if row.state != "stopped":
            raise TelexError(ErrorCode.CONFLICT, "Stop the recording before deleting it.")
        if row.path:
            await asyncio.to_thread(Path(row.path).unlink, missing_ok=True)
        async with self._db.write() as c:
            await c.execute(update(REC).where(REC.c.id == row.id).values(deleted=1))

    async def purge_recordings(self, retention_days: float) -> int:
        """Delete the files of recordings stopped more than ``retention_days`` ago; how many."""
        if retention_days <= 0:
            return 0
        cutoff = self._clock.now() - retention_days * 86400
        async with self._db.read() as c:
            rows = (
                await c.execute(
                    select(REC.c.id, REC.c.path).where(
                        REC.c.state == "stopped", REC.c.deleted == 0, REC.c.stopped_at < cutoff
                    )
                )
            ).all()
        for row in rows:
            if row.path:
                await asyncio.to_thread(Path(row.path).unlink, missing_ok=True)
            async with self._db.write() as c:
                await c.execute(update(REC).where(REC.c.id == row.id).values(deleted=1))
        return len(rows)

    # the engine's host -----------------------------------------------------------------------------
    async def media_events(self, session: Any, events: list[MediaEvent]) -> None:
        await self.service.media_events(session, events)

    def session_ended(self, session: Any) -> None:
        self.service.forget(session.connection_id)

    async def recording_changed(self, session: Any, recorder: Recorder, state: str) -> None:
        now = self._clock.now()
        row = await self._row(recorder.id)
        default = self.service._uris.get(session.connection_id)
        if default is None:
            default = (await self.service.connection(session.connection_id)).callback_uri
        uri = row.callback_uri or default
        values: dict[str, Any] = {"state": state}
        events: list[DomainEvent] = []
        wire_state = "active" if state == "active" else "inactive"
        if state == "stopped":
            values.update(path=str(recorder.path), bytes=recorder.path.stat().st_size, stopped_at=now)
            values["duration_ms"] = recorder.duration_ms
        # Start, pause and resume are changes the application hears of; a stop is one only when
        # the recording was active (a paused one is already inactive).
        if state != "stopped" or row.state == "active":
            events.append(
                callback_event(
                    "RecordingStateChanged",
                    connection_id=session.connection_id,
                    call_id=session.call_id,
                    uri=uri,
                    now=now,
                    data={
                        "recordingId": recorder.id,
                        "state": wire_state,
                        "startDateTime": iso_time(row.started_at),
                        "recordingKind": _KIND,
                    },
                )
            )
        if state == "stopped":
            events.append(self._file_status(row, recorder, session.call_id, now))
        async with self.service.backbone.write() as unit:
            await unit.conn.execute(update(REC).where(REC.c.id == recorder.id).values(**values))
            for event in events:
                unit.emit(event)

    def _file_status(self, row: Any, recorder: Recorder, call_id: str, now: float) -> DomainEvent:
        base = f"{self._base}/calling/recordings/{recorder.id}"
        ended_by_call = self.service.engine is not None and (
            (s := self.service.engine.sessions.get(row.connection_id)) is None or s.done.is_set()
        )
        data = {
            "recordingStorageInfo": {
                "recordingChunks": [
                    {
                        "documentId": recorder.id,
                        "index": 0,
                        "endReason": "SessionEnded",
                        "contentLocation": f"{base}/content",
                        "metadataLocation": f"{base}/metadata",
                        "deleteLocation": f"{base}/content",
                    }
                ]
            },
            "recordingStartTime": iso_time(row.started_at),
            "recordingDurationMs": recorder.duration_ms,
            "recordingContentType": "Audio",
            "recordingChannelType": "Mixed",
            "recordingFormatType": "Wav",
            "sessionEndReason": "CallEnded" if ended_by_call else "StopRecording",
        }
        subject = f"/recording/call/{call_id}/recordingId/{recorder.id}"
        return DomainEvent(RECORDING_FILE_STATUS, RECORDINGS_TOPIC, data, now, subject=subject)
