"""Wire models of the calling signaling API (Telex's own; ACS keeps its calling signaling
private to its SDKs, so these follow the ACS Calling SDK's names where it has them)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StrictBool,
    StrictInt,
    model_serializer,
)

from telex.chat.wire import IdentifierModel

__all__ = [
    "AcceptRequest",
    "CallModel",
    "DataChannelRequest",
    "HangUpRequest",
    "IceCandidateModel",
    "JoinGroupRequest",
    "JoinedModel",
    "MediaStateRequest",
    "ParticipantModel",
    "SignalRequest",
    "StartCallRequest",
]


class _In(BaseModel):
    # Unknown fields are ignored, as ACS does, so newer clients keep working.
    model_config = ConfigDict(extra="ignore")


class StartCallRequest(_In):
    targets: list[IdentifierModel] = Field(min_length=1, max_length=31)
    video: StrictBool = False
    displayName: str | None = Field(default=None, max_length=256)
    # The ACS Calling SDK's option for calls to phone numbers: the caller id they see, a number
    # of the resource with outbound calling.
    alternateCallerId: IdentifierModel | None = None


class JoinGroupRequest(_In):
    video: StrictBool = False
    displayName: str | None = Field(default=None, max_length=256)


class AcceptRequest(_In):
    video: StrictBool = False


class HangUpRequest(_In):
    forEveryone: StrictBool = False


class MediaStateRequest(_In):
    isMuted: StrictBool | None = None
    isVideoOn: StrictBool | None = None
    isScreenSharing: StrictBool | None = None


class IceCandidateModel(_In):
    candidate: str = Field(max_length=1024)
    sdpMid: str | None = Field(default=None, max_length=64)
    sdpMLineIndex: StrictInt | None = Field(default=None, ge=0, le=1024)


class SignalRequest(_In):
    to: str = Field(min_length=1, max_length=64)
    type: Literal["offer", "answer", "candidate"]
    sdp: str | None = None
    candidate: IceCandidateModel | None = None


class DataChannelRequest(_In):
    channelId: StrictInt = Field(ge=0, le=65535)
    reliability: Literal["lossy", "durable"] = "durable"
    priority: Literal["normal", "high"] = "normal"
    # Participant ids; absent: everyone in the call.
    participants: list[str] | None = Field(default=None, max_length=31)


class CommunicationIdentifierKind(BaseModel):
    """A user (``communicationUserId``) or a phone number (``phoneNumber``), as the ACS JS SDKs
    have them; the other key is absent, not null."""

    kind: str
    communicationUserId: str | None = None
    phoneNumber: str | None = None
    rawId: str

    @model_serializer(mode="wrap")
    def _present(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {k: v for k, v in handler(self).items() if v is not None}


class ParticipantModel(BaseModel):
    participantId: str
    identifier: CommunicationIdentifierKind
    displayName: str
    role: Literal["caller", "invitee", "member"]
    state: Literal["connecting", "ringing", "connected", "onHold", "disconnected"]
    isMuted: bool
    isVideoOn: bool
    isScreenSharing: bool
    isOnHold: bool
    callEndReason: str | None = None


class CallModel(BaseModel):
    callId: str
    kind: Literal["direct", "group"]
    state: Literal["ringing", "connected", "ended"]
    caller: CommunicationIdentifierKind
    videoOffered: bool
    startedOn: str
    groupId: str | None = None
    connectedOn: str | None = None
    endedOn: str | None = None
    callEndReason: str | None = None
    durationSeconds: float | None = None
    participants: list[ParticipantModel]


class JoinedModel(BaseModel):
    call: CallModel
    # The caller's own participant in the call.
    participantId: str
    # Participants already in the call: the newcomer sends each an SDP offer.
    peers: list[str]
    # Send ``:keepAlive`` at least this often while in the call, or be dropped as
    # ``connectionLost`` (absent: keep-alives are off on this server).
    keepAliveIntervalSeconds: float | None = None
