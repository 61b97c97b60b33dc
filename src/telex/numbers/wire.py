"""Wire models of the phone-numbers API (api-version 2025-06-01, acs-wire.md §3.4).

Requests ignore unknown fields (as ACS does, so newer SDKs keep working); responses carry every
field the SDK's models require.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from telex.numbers.model import AssignmentType, Capability, NumberType

__all__ = [
    "AreaCodeModel",
    "AreaCodesPage",
    "AvailablePhoneNumberModel",
    "BrowseRequest",
    "BrowseResult",
    "CapabilitiesModel",
    "CapabilitiesRequest",
    "CostModel",
    "CountriesPage",
    "CountryModel",
    "ErrorModel",
    "LocalitiesPage",
    "LocalityModel",
    "NumberRouteModel",
    "NumberRouteRequest",
    "OfferingModel",
    "OfferingsPage",
    "OperationModel",
    "OperatorInformationModel",
    "OperatorInformationRequest",
    "OperatorInformationResult",
    "PurchaseRequest",
    "PurchasedPhoneNumberModel",
    "PurchasedPhoneNumbersPage",
    "ReservationModel",
    "ReservationPurchaseRequest",
    "ReservationRequest",
    "ReservationsPage",
    "RouteTargetModel",
    "SearchRequestModel",
    "SearchResultModel",
]


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CapabilitiesModel(BaseModel):
    calling: Capability
    sms: Capability


class CostModel(BaseModel):
    amount: float
    currencyCode: str
    billingFrequency: str = "monthly"


class ErrorModel(BaseModel):
    code: str
    message: str


# lists --------------------------------------------------------------------------------------------
class CountryModel(BaseModel):
    localizedName: str
    countryCode: str


class CountriesPage(BaseModel):
    countries: list[CountryModel]
    nextLink: str | None = None


class AreaCodeModel(BaseModel):
    areaCode: str


class AreaCodesPage(BaseModel):
    areaCodes: list[AreaCodeModel]
    nextLink: str | None = None


class DivisionModel(BaseModel):
    localizedName: str
    abbreviatedName: str


class LocalityModel(BaseModel):
    localizedName: str
    administrativeDivision: DivisionModel | None = None


class LocalitiesPage(BaseModel):
    phoneNumberLocalities: list[LocalityModel]
    nextLink: str | None = None


class OfferingModel(BaseModel):
    phoneNumberType: NumberType
    assignmentType: AssignmentType
    availableCapabilities: CapabilitiesModel
    cost: CostModel


class OfferingsPage(BaseModel):
    phoneNumberOfferings: list[OfferingModel]
    nextLink: str | None = None


# search and purchase -------------------------------------------------------------------------------
class SearchRequestModel(_Request):
    phoneNumberType: NumberType
    assignmentType: AssignmentType
    capabilities: CapabilitiesModel
    areaCode: StrictStr | None = Field(default=None, max_length=8)
    quantity: StrictInt | None = Field(default=None, ge=1, le=1000)


class SearchResultModel(BaseModel):
    searchId: str
    phoneNumbers: list[str]
    phoneNumberType: NumberType
    assignmentType: AssignmentType
    capabilities: CapabilitiesModel
    cost: CostModel
    searchExpiresBy: str
    isAgreementToNotResellRequired: bool = False
    error: str = "NoError"


class PurchaseRequest(_Request):
    searchId: StrictStr | None = Field(default=None, max_length=64)
    agreeToNotResell: StrictBool = False


class OperationModel(BaseModel):
    id: str
    operationType: str
    status: str
    createdDateTime: str
    lastActionDateTime: str
    resourceLocation: str | None = None
    error: ErrorModel | None = None


# owned numbers -----------------------------------------------------------------------------------------
class PurchasedPhoneNumberModel(BaseModel):
    id: str
    phoneNumber: str
    countryCode: str
    phoneNumberType: NumberType
    capabilities: CapabilitiesModel
    assignmentType: AssignmentType
    purchaseDate: str
    cost: CostModel


class PurchasedPhoneNumbersPage(BaseModel):
    phoneNumbers: list[PurchasedPhoneNumberModel]
    nextLink: str | None = None


class CapabilitiesRequest(_Request):
    calling: Capability | None = None
    sms: Capability | None = None


# number routes (a Telex extension: numbers/routing.py) ----------------------------------------------
class RouteUserModel(BaseModel):
    id: StrictStr


class RouteTargetModel(BaseModel):
    """A communication user, as a CommunicationIdentifierModel (``rawId`` or ``communicationUser``)."""

    rawId: StrictStr | None = None
    communicationUser: RouteUserModel | None = None


class NumberRouteRequest(_Request):
    """Ring ``targets`` (all at once; the first to answer takes the call), or join the caller to
    the group call ``groupCallId``; nobody answering within ``ringTimeoutInSeconds`` (default
    30): the carrier hears 480."""

    targets: list[RouteTargetModel] | None = Field(default=None, max_length=20)
    groupCallId: StrictStr | None = None
    ringTimeoutInSeconds: StrictInt | None = None


class NumberRouteModel(BaseModel):
    phoneNumber: str
    targets: list[RouteTargetModel] | None = None
    groupCallId: str | None = None
    ringTimeoutInSeconds: int


# browse and reservations -----------------------------------------------------------------------------
class BrowseCapabilities(_Request):
    calling: Capability | None = None
    sms: Capability | None = None


class BrowseRequest(_Request):
    phoneNumberType: NumberType
    capabilities: BrowseCapabilities | None = None
    assignmentType: AssignmentType | None = None
    phoneNumberPrefixes: list[StrictStr] | None = Field(default=None, max_length=10)


class AvailablePhoneNumberModel(BaseModel):
    id: str
    countryCode: str
    phoneNumber: str
    capabilities: CapabilitiesModel
    phoneNumberType: NumberType
    assignmentType: AssignmentType
    cost: CostModel
    status: str
    isAgreementToNotResellRequired: bool = False
    error: ErrorModel | None = None


class BrowseResult(BaseModel):
    phoneNumbers: list[AvailablePhoneNumberModel]


class ReservedNumberIn(_Request):
    """A number as a reservation change names it (the SDK leaves out the read-only fields)."""

    countryCode: StrictStr | None = Field(default=None, max_length=2)
    capabilities: CapabilitiesModel | None = None
    phoneNumberType: NumberType | None = None
    assignmentType: AssignmentType | None = None


class ReservationRequest(_Request):
    phoneNumbers: dict[str, ReservedNumberIn | None] | None = None


class ReservationModel(BaseModel):
    id: str
    expiresAt: str
    phoneNumbers: dict[str, AvailablePhoneNumberModel] | None = None
    status: str


class ReservationsPage(BaseModel):
    reservations: list[ReservationModel]
    nextLink: str | None = None


class ReservationPurchaseRequest(_Request):
    agreeToNotResell: StrictBool = False


# operator information --------------------------------------------------------------------------------
class OperatorOptions(_Request):
    includeAdditionalOperatorDetails: StrictBool = False


class OperatorInformationRequest(_Request):
    phoneNumbers: list[StrictStr] = Field(min_length=1, max_length=100)
    options: OperatorOptions | None = None


class OperatorDetailsModel(BaseModel):
    name: str | None = None
    mobileNetworkCode: str | None = None
    mobileCountryCode: str | None = None


class OperatorInformationModel(BaseModel):
    phoneNumber: str
    nationalFormat: str | None = None
    internationalFormat: str | None = None
    isoCountryCode: str | None = None
    numberType: str | None = None
    operatorDetails: OperatorDetailsModel | None = None


class OperatorInformationResult(BaseModel):
    values: list[OperatorInformationModel]
