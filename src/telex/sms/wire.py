"""Wire models of the SMS API (api-version 2021-03-07, acs-wire.md §3.3), ACS's opt-out
management API (2024-12-10-preview) and Telex's message log."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

__all__ = [
    "MessageLogPage",
    "OptOutRequest",
    "OptOutResponse",
    "OptOutResponseItem",
    "SendMessageRequest",
    "SmsLogEntry",
    "SmsSendResponse",
    "SmsSendResponseItem",
]


class _Request(BaseModel):
    # Unknown fields are ignored, as ACS does, so newer SDKs keep working.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class SmsRecipientModel(_Request):
    to: StrictStr = Field(max_length=64)
    repeatabilityRequestId: StrictStr | None = Field(default=None, max_length=128)
    repeatabilityFirstSent: StrictStr | None = Field(default=None, max_length=128)


class SmsSendOptionsModel(_Request):
    enableDeliveryReport: StrictBool = False
    tag: StrictStr | None = None


class SendMessageRequest(_Request):
    from_: StrictStr = Field(alias="from", max_length=64)
    smsRecipients: list[SmsRecipientModel]
    message: StrictStr
    smsSendOptions: SmsSendOptionsModel | None = None


class SmsSendResponseItem(BaseModel):
    to: str
    messageId: str | None = None
    httpStatusCode: int
    repeatabilityResult: str | None = None
    successful: bool
    errorMessage: str | None = None


class SmsSendResponse(BaseModel):
    value: list[SmsSendResponseItem]


class OptOutRecipientModel(_Request):
    to: StrictStr = Field(max_length=64)


class OptOutRequest(_Request):
    from_: StrictStr = Field(alias="from", max_length=64)
    recipients: list[OptOutRecipientModel]


class OptOutResponseItem(BaseModel):
    to: str
    httpStatusCode: int
    isOptedOut: bool | None = None
    errorMessage: str | None = None


class OptOutResponse(BaseModel):
    value: list[OptOutResponseItem]


class SmsLogEntry(BaseModel):
    """One message of the log (Telex's extension; ACS has no such API)."""

    id: str
    direction: str  # outbound | inbound
    from_: str = Field(serialization_alias="from")
    to: str
    message: str
    segmentCount: int
    status: str  # queued | submitted | delivered | failed | received
    statusDetails: str | None = None
    tag: str | None = None
    createdDateTime: str
    completedDateTime: str | None = None


class MessageLogPage(BaseModel):
    value: list[SmsLogEntry]
    nextLink: str | None = None
