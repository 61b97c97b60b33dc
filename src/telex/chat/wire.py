"""Wire models of the chat API (api-versions up to 2025-03-15, acs-wire.md §3.2).

2025-03-15 adds thread ``metadata`` and ``retentionPolicy`` and participant ``metadata``; the
routes accept and answer them only for that version (older clients never see them).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "AddParticipantsRequest",
    "ChatErrorModel",
    "ChatMessageModel",
    "ChatParticipantModel",
    "ChatThreadItemModel",
    "ChatThreadModel",
    "CreateThreadRequest",
    "CreateThreadResponse",
    "IdentifierModel",
    "ReadReceiptModel",
    "RetentionPolicyModel",
    "RetentionPolicyOut",
    "SendMessageRequest",
    "SendMessageResponse",
    "SendReadReceiptRequest",
    "TypingRequest",
    "UpdateMessageRequest",
    "UpdateThreadRequest",
]


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class _Model(BaseModel):
    # Unknown fields are ignored, as ACS does, so newer SDKs keep working.
    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        # PostgreSQL text cannot hold NUL; refuse it on every backend alike.
        if _has_nul(data):
            raise ValueError("strings must not contain NUL characters")
        return data


class CommunicationUserModel(_Model):
    id: str


class PhoneNumberModel(_Model):
    value: str


class IdentifierModel(_Model):
    """CommunicationIdentifierModel: ``rawId`` plus one kind sub-object (``kind`` never sent)."""

    rawId: str | None = None
    communicationUser: CommunicationUserModel | None = None
    phoneNumber: PhoneNumberModel | None = None

    def raw(self) -> str:
        if self.rawId:
            return self.rawId
        if self.communicationUser is not None:
            return self.communicationUser.id
        if self.phoneNumber is not None:
            return "4:" + self.phoneNumber.value
        return ""

    @classmethod
    def of_user(cls, user: str) -> IdentifierModel:
        return cls(rawId=user, communicationUser=CommunicationUserModel(id=user))


class ChatParticipantModel(_Model):
    communicationIdentifier: IdentifierModel
    displayName: str | None = Field(default=None, max_length=512)
    shareHistoryTime: datetime | None = None
    metadata: dict[str, str] | None = None  # 2025-03-15


class RetentionPolicyModel(_Model):
    """ChatRetentionPolicy (2025-03-15): ``threadCreationDate`` with ``deleteThreadAfterDays``, or
    ``none``."""

    kind: Literal["threadCreationDate", "none"]
    deleteThreadAfterDays: int | None = None

    @model_validator(mode="after")
    def _days(self) -> RetentionPolicyModel:
        if self.kind == "threadCreationDate" and self.deleteThreadAfterDays is None:
            raise ValueError("a threadCreationDate policy needs deleteThreadAfterDays")
        return self

    def days(self) -> int | None:
        return self.deleteThreadAfterDays if self.kind == "threadCreationDate" else None


class CreateThreadRequest(_Model):
    topic: str = Field(max_length=4096)
    participants: list[ChatParticipantModel] = Field(default_factory=list)
    metadata: dict[str, str] | None = None  # 2025-03-15
    retentionPolicy: RetentionPolicyModel | None = None  # 2025-03-15


class UpdateThreadRequest(_Model):
    topic: str | None = Field(default=None, max_length=4096)
    # 2025-03-15; merge-patch: a null value removes that name.
    metadata: dict[str, str | None] | None = None
    retentionPolicy: RetentionPolicyModel | None = None


class SendMessageRequest(_Model):
    content: str
    senderDisplayName: str | None = Field(default=None, max_length=512)
    type: Literal["text", "html"] = "text"
    metadata: dict[str, str] | None = None


class UpdateMessageRequest(_Model):
    content: str | None = None
    metadata: dict[str, str | None] | None = None


class AddParticipantsRequest(_Model):
    participants: list[ChatParticipantModel]


class TypingRequest(_Model):
    senderDisplayName: str | None = Field(default=None, max_length=512)


class SendReadReceiptRequest(_Model):
    chatMessageId: str = Field(max_length=64)


# responses ---------------------------------------------------------------------------------


class ChatErrorModel(BaseModel):
    code: str
    message: str
    target: str | None = None


class RetentionPolicyOut(BaseModel):
    kind: str
    deleteThreadAfterDays: int | None = None


class ChatThreadModel(BaseModel):
    id: str
    topic: str
    createdOn: str
    createdByCommunicationIdentifier: IdentifierModel
    deletedOn: str | None = None
    metadata: dict[str, str] | None = None  # 2025-03-15
    retentionPolicy: RetentionPolicyOut | None = None  # 2025-03-15


class CreateThreadResponse(BaseModel):
    chatThread: ChatThreadModel
    invalidParticipants: list[ChatErrorModel] | None = None


class ChatThreadItemModel(BaseModel):
    id: str
    topic: str
    deletedOn: str | None = None
    lastMessageReceivedOn: str | None = None


class ChatThreadsPage(BaseModel):
    value: list[ChatThreadItemModel]
    nextLink: str | None = None


class ChatParticipantOut(BaseModel):
    communicationIdentifier: IdentifierModel
    displayName: str | None = None
    shareHistoryTime: str | None = None
    metadata: dict[str, str] | None = None  # 2025-03-15


class ChatParticipantsPage(BaseModel):
    value: list[ChatParticipantOut]
    nextLink: str | None = None


class AddParticipantsResponse(BaseModel):
    invalidParticipants: list[ChatErrorModel] | None = None


class ChatMessageContentModel(BaseModel):
    message: str | None = None
    topic: str | None = None
    participants: list[ChatParticipantOut] | None = None
    initiatorCommunicationIdentifier: IdentifierModel | None = None


class ChatMessageModel(BaseModel):
    id: str
    type: str
    sequenceId: str
    version: str
    createdOn: str
    content: ChatMessageContentModel | None = None
    senderDisplayName: str | None = None
    senderCommunicationIdentifier: IdentifierModel | None = None
    deletedOn: str | None = None
    editedOn: str | None = None
    metadata: dict[str, str] | None = None


class ChatMessagesPage(BaseModel):
    value: list[ChatMessageModel]
    nextLink: str | None = None


class SendMessageResponse(BaseModel):
    id: str


class ReadReceiptModel(BaseModel):
    senderCommunicationIdentifier: IdentifierModel
    chatMessageId: str
    readOn: str


class ReadReceiptsPage(BaseModel):
    value: list[ReadReceiptModel]
    nextLink: str | None = None
