"""Wire models of the event subscription API: Event Grid's field names, ARM's envelope.

ACS manages event subscriptions through Azure Resource Manager (``Microsoft.EventGrid/
eventSubscriptions`` on the Communication Services resource); Telex has no resource manager, so
it serves the same resource shape at ``/eventSubscriptions/{name}``: ``PUT`` takes ARM's body
(``{"properties": {"destination", "filter", "eventDeliverySchema", "retryPolicy"}}``), ``PATCH``
takes ARM's update parameters (the same fields without ``properties``), and responses carry
``id``, ``name``, ``type`` and ``properties.provisioningState``. Unknown fields are ignored, as
ACS does; what Telex cannot do (advanced filters, other endpoint types) is refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

__all__ = [
    "DeadLetterPage",
    "DeliveryStatusModel",
    "FullUrlModel",
    "ReplayModel",
    "ReplayRequest",
    "RotateSecretRequest",
    "SecretsModel",
    "SubscriptionModel",
    "SubscriptionPage",
    "SubscriptionRequest",
    "SubscriptionUpdate",
    "ValidatedModel",
]

SchemaName = Literal["EventGridSchema", "CloudEventSchemaV1_0"]
EventType = Annotated[str, Field(min_length=1, max_length=128)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")


class WebhookProperties(_Request):
    endpointUrl: str | None = Field(default=None, min_length=1, max_length=2048)
    maxEventsPerBatch: StrictInt | None = Field(default=None, ge=1, le=5000)
    preferredBatchSizeInKilobytes: StrictInt | None = Field(default=None, ge=1, le=1024)


class Destination(_Request):
    endpointType: Literal["WebHook"] = "WebHook"
    properties: WebhookProperties = WebhookProperties()


class FilterRequest(_Request):
    includedEventTypes: list[EventType] | None = Field(default=None, max_length=100)
    subjectBeginsWith: str | None = Field(default=None, max_length=1024)
    subjectEndsWith: str | None = Field(default=None, max_length=1024)
    isSubjectCaseSensitive: StrictBool | None = None
    advancedFilters: list[Any] | None = Field(default=None, max_length=0, description="Not supported: empty")


class RetryPolicyModel(_Request):
    maxDeliveryAttempts: StrictInt | None = Field(default=None, ge=1, le=30)
    eventTimeToLiveInMinutes: StrictInt | None = Field(default=None, ge=1, le=1440)


class SubscriptionUpdate(_Request):
    """ARM's ``EventSubscriptionUpdateParameters`` (PATCH); the properties of a PUT."""

    destination: Destination | None = None
    filter: FilterRequest | None = None
    eventDeliverySchema: SchemaName | None = None
    retryPolicy: RetryPolicyModel | None = None


class SubscriptionRequest(_Request):
    properties: SubscriptionUpdate

    @model_validator(mode="after")
    def _needs_url(self) -> SubscriptionRequest:
        destination = self.properties.destination
        if destination is None or destination.properties.endpointUrl is None:
            raise ValueError("properties.destination.properties.endpointUrl is required")
        return self


# responses -----------------------------------------------------------------------------------------
class WebhookPropertiesModel(BaseModel):
    endpointBaseUrl: str
    maxEventsPerBatch: int
    preferredBatchSizeInKilobytes: int


class DestinationModel(BaseModel):
    endpointType: str = "WebHook"
    properties: WebhookPropertiesModel


class FilterModel(BaseModel):
    includedEventTypes: list[str] | None
    subjectBeginsWith: str
    subjectEndsWith: str
    isSubjectCaseSensitive: bool


class RetryPolicyOut(BaseModel):
    maxDeliveryAttempts: int
    eventTimeToLiveInMinutes: int


class PropertiesModel(BaseModel):
    topic: str
    provisioningState: str
    destination: DestinationModel
    filter: FilterModel
    eventDeliverySchema: str
    retryPolicy: RetryPolicyOut


class SystemDataModel(BaseModel):
    createdAt: str
    lastModifiedAt: str


class SubscriptionModel(BaseModel):
    id: str
    name: str
    type: str = "Microsoft.EventGrid/eventSubscriptions"
    properties: PropertiesModel
    systemData: SystemDataModel


class SubscriptionPage(BaseModel):
    value: list[SubscriptionModel]
    nextLink: str | None = None


class FullUrlModel(BaseModel):
    endpointUrl: str


class SecretsModel(BaseModel):
    signingSecret: str
    previousSigningSecret: str | None = None
    previousSigningSecretExpiresOn: str | None = None


class RotateSecretRequest(_Request):
    # How long the secret being replaced keeps signing (0: stop at once); a week at most.
    previousSecretValidMinutes: StrictInt = Field(default=1440, ge=0, le=10080)


class ReplayRequest(_Request):
    fromPosition: StrictInt | None = Field(default=None, ge=1)
    fromTime: datetime | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ReplayRequest:
        if (self.fromPosition is None) == (self.fromTime is None):
            raise ValueError("give exactly one of fromPosition and fromTime")
        if self.fromTime is not None and self.fromTime.tzinfo is None:
            raise ValueError("fromTime needs a time zone (for example a trailing Z)")
        return self


class ReplayModel(BaseModel):
    fromPosition: int


class DeliveryStatusModel(BaseModel):
    provisioningState: str
    deliveredPosition: int
    headPosition: int
    lagEvents: int


class DeadLetterPage(BaseModel):
    value: list[dict[str, Any]]
    nextLink: str | None = None


class ValidatedModel(BaseModel):
    status: str = "validated"
