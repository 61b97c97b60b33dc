"""Wire models of Call Automation (api-version 2026-03-12; acs-wire.md §3.7).

Requests ignore unknown fields, as ACS does, so newer SDKs keep working. Identifiers are kept as
the raw objects the SDK sends and read with ``identifiers.raw_id``; times and limits follow the
SDK models (``invitationTimeoutInSeconds`` 0–180, ``initialSilenceTimeoutInSeconds`` 0–300,
``interToneTimeoutInSeconds`` 1–60).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

__all__ = [
    "AddParticipantRequest",
    "AnswerCallRequest",
    "CancelAddParticipantRequest",
    "ConnectRequest",
    "ContinuousDtmfRequest",
    "CreateCallRequest",
    "HoldRequest",
    "MuteParticipantsRequest",
    "PlayRequest",
    "PlaySource",
    "RecognizeRequest",
    "RedirectCallRequest",
    "RejectCallRequest",
    "RemoveParticipantRequest",
    "SendDtmfTonesRequest",
    "StartRecordingRequest",
    "TransferToParticipantRequest",
    "UnholdRequest",
]

Identifier = dict[str, Any]
_URI = Field(min_length=1, max_length=2048)
_CONTEXT = Field(default=None, max_length=5000)


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore")


class FileSource(_In):
    uri: str = _URI


class PlaySource(_In):
    kind: Literal["file", "text", "ssml"]
    playSourceCacheId: str | None = Field(default=None, max_length=256)
    file: FileSource | None = None
    text: dict[str, Any] | None = None
    ssml: dict[str, Any] | None = None


class CreateCallRequest(_In):
    targets: list[Identifier] = Field(min_length=1, max_length=31)
    callbackUri: str = _URI
    source: Identifier | None = None
    sourceCallerIdNumber: dict[str, Any] | None = None
    sourceDisplayName: str | None = Field(default=None, max_length=256)
    operationContext: str | None = _CONTEXT
    callIntelligenceOptions: dict[str, Any] | None = None
    mediaStreamingOptions: dict[str, Any] | None = None
    transcriptionOptions: dict[str, Any] | None = None


class AnswerCallRequest(_In):
    incomingCallContext: str = Field(min_length=1, max_length=8192)
    callbackUri: str = _URI
    answeredBy: Identifier | None = None
    operationContext: str | None = _CONTEXT
    callIntelligenceOptions: dict[str, Any] | None = None
    mediaStreamingOptions: dict[str, Any] | None = None
    transcriptionOptions: dict[str, Any] | None = None


class RejectCallRequest(_In):
    incomingCallContext: str = Field(min_length=1, max_length=8192)
    callRejectReason: Literal["none", "busy", "forbidden"] | None = None


class RedirectCallRequest(_In):
    incomingCallContext: str = Field(min_length=1, max_length=8192)
    target: Identifier


class CallLocator(_In):
    groupCallId: str | None = Field(default=None, max_length=128)
    serverCallId: str | None = Field(default=None, max_length=256)
    roomId: str | None = Field(default=None, max_length=128)
    kind: str | None = None


class ConnectRequest(_In):
    callLocator: CallLocator
    callbackUri: str = _URI
    operationContext: str | None = _CONTEXT
    callIntelligenceOptions: dict[str, Any] | None = None
    mediaStreamingOptions: dict[str, Any] | None = None
    transcriptionOptions: dict[str, Any] | None = None


class TransferToParticipantRequest(_In):
    targetParticipant: Identifier
    transferee: Identifier | None = None
    sourceCallerIdNumber: dict[str, Any] | None = None
    operationContext: str | None = _CONTEXT
    operationCallbackUri: str | None = Field(default=None, max_length=2048)


class AddParticipantRequest(_In):
    participantToAdd: Identifier
    sourceCallerIdNumber: dict[str, Any] | None = None
    sourceDisplayName: str | None = Field(default=None, max_length=256)
    invitationTimeoutInSeconds: StrictInt | None = Field(default=None, ge=0, le=180)
    operationContext: str | None = _CONTEXT
    operationCallbackUri: str | None = Field(default=None, max_length=2048)


class RemoveParticipantRequest(_In):
    participantToRemove: Identifier
    operationContext: str | None = _CONTEXT
    operationCallbackUri: str | None = Field(default=None, max_length=2048)


class MuteParticipantsRequest(_In):
    targetParticipants: list[Identifier] = Field(min_length=1, max_length=1)
    operationContext: str | None = _CONTEXT


class CancelAddParticipantRequest(_In):
    invitationId: str = Field(min_length=1, max_length=64)
    operationContext: str | None = _CONTEXT
    operationCallbackUri: str | None = Field(default=None, max_length=2048)


class PlayOptions(_In):
    loop: StrictBool = False


class PlayRequest(_In):
    playSources: list[PlaySource] = Field(min_length=1, max_length=10)
    playTo: list[Identifier] = Field(default_factory=list, max_length=31)
    interruptCallMediaOperation: StrictBool = False
    playOptions: PlayOptions | None = None
    operationContext: str | None = _CONTEXT
    operationCallbackUri: str | None = Field(default=None, max_length=2048)


class DtmfOptions(_In):
    interToneTimeoutInSeconds: StrictInt | None = Field(default=None, ge=1, le=60)
    maxTonesToCollect: StrictInt | None = Field(default=None, ge=1, le=100)
    stopTones: list[str] | None = Field(default=None, max_length=16)


class Choice(_In):
    label: str = Field(min_length=1, max_length=256)
    phrases: list[str] = Field(default_factory=list, max_length=50)
    tone: str | None = None


class RecognizeOptions(_In):
    targetParticipant: Identifier
    interruptPrompt: StrictBool | None = None
    initialSilenceTimeoutInSeconds: StrictInt | None = Field(default=None, ge=0, le=300)
    dtmfOptions: DtmfOptions | None = None
    choices: list[Choice] | None = Field(default=None, max_length=50)
    speechOptions: dict[str, Any] | None = None
    speechLanguage: str | None = None
    speechRecognitionModelEndpointId: str | None = None


class RecognizeRequest(_In):
    recognizeInputType: Literal["dtmf", "speech", "speechOrDtmf", "choices"]
    playPrompt: PlaySource | None = None
    playPrompts: list[PlaySource] | None = Field(default=None, max_length=10)
    interruptCallMediaOperation: StrictBool = False
    recognizeOptions: RecognizeOptions
    operationContext: str | None = _CONTEXT
    operationCallbackUri: str | None = Field(default=None, max_length=2048)


class ContinuousDtmfRequest(_In):
    targetParticipant: Identifier
    operationContext: str | None = _CONTEXT
    operationCallbackUri: str | None = Field(default=None, max_length=2048)


class SendDtmfTonesRequest(_In):
    tones: list[str] = Field(min_length=1, max_length=18)
    targetParticipant: Identifier
    operationContext: str | None = _CONTEXT
    operationCallbackUri: str | None = Field(default=None, max_length=2048)


class HoldRequest(_In):
    targetParticipant: Identifier
    playSourceInfo: PlaySource | None = None
    operationContext: str | None = _CONTEXT
    operationCallbackUri: str | None = Field(default=None, max_length=2048)


class UnholdRequest(_In):
    targetParticipant: Identifier
    operationContext: str | None = _CONTEXT
    operationCallbackUri: str | None = Field(default=None, max_length=2048)


class StartRecordingRequest(_In):
    callLocator: CallLocator | None = None
    callConnectionId: str | None = Field(default=None, max_length=64)
    recordingStateCallbackUri: str | None = Field(default=None, max_length=2048)
    recordingContentType: str | None = None
    recordingChannelType: str | None = None
    recordingFormatType: str | None = None
    pauseOnStart: StrictBool | None = None
    externalStorage: dict[str, Any] | None = None
