"""Phone-numbers API routes (management plane, HMAC-signed; acs-wire.md §1.6, §3.4).

Long-running operations answer 202 with an empty body and these headers (azure-core's
``LROBasePolling`` polls ``Operation-Location`` verbatim, waiting ``retry-after-ms``)::

    Operation-Location: /phoneNumbers/operations/search_<id>?api-version=…
    operation-id: search_<id>        search-id: <id>     (purchase-id, release-id, capabilities-id,
    Location: …  (search: its result; capabilities: the number)    reservation-purchase-id)
    retry-after-ms: N                (Retry-After: N/1000 only for whole seconds: azure-core reads
                                      Retry-After first, and a rounded-up value would slow it down)

Lists page with ``skip`` and ``maxPageSize`` (owned numbers: ``skip`` and ``top``); the
``nextLink`` repeats every filter, since the SDK keeps nothing of the first request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, TypeVar
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request, Response

from telex.core.clock import iso_time
from telex.core.errors import ErrorCode, TelexError
from telex.numbers.catalog import Catalog
from telex.numbers.model import AssignmentType, Capabilities, Capability, Cost, NumberType, OwnedNumber
from telex.numbers.operations import Operation
from telex.numbers.reservations import NumberSpec, ReservationService
from telex.numbers.routing import NumberRoutes, make_route
from telex.numbers.service import NumbersService, SearchRequest, parse_number_path
from telex.numbers.views import AvailableNumber, ReservationView
from telex.numbers.wire import (
    AreaCodeModel,
    AreaCodesPage,
    AvailablePhoneNumberModel,
    BrowseRequest,
    BrowseResult,
    CapabilitiesModel,
    CapabilitiesRequest,
    CostModel,
    CountriesPage,
    CountryModel,
    DivisionModel,
    ErrorModel,
    LocalitiesPage,
    LocalityModel,
    NumberRouteModel,
    NumberRouteRequest,
    OfferingModel,
    OfferingsPage,
    OperationModel,
    OperatorDetailsModel,
    OperatorInformationModel,
    OperatorInformationRequest,
    OperatorInformationResult,
    PurchasedPhoneNumberModel,
    PurchasedPhoneNumbersPage,
    PurchaseRequest,
    ReservationModel,
    ReservationPurchaseRequest,
    ReservationRequest,
    ReservationsPage,
    SearchRequestModel,
    SearchResultModel,
)
from telex.web.apiversion import ApiVersions
from telex.web.auth import HmacAuth
from telex.web.body import body_doc, read_json
from telex.web.errors import ErrorResponse

__all__ = ["NUMBERS_VERSIONS", "numbers_router"]

# 2021-03-07 (the first SDKs), 2022-12-01 (GA with search and purchase as today), 2025-06-01
# (browse, reservations: Python 1.4, JavaScript 1.5).
NUMBERS_VERSIONS = ApiVersions("phone numbers", ("2021-03-07", "2022-12-01", "2025-06-01"))
_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorResponse} for s in (400, 401, 404, 409, 413, 415, 429, 500, 503)
}
_ACCEPTED: dict[int | str, dict[str, Any]] = {202: {"description": "Accepted: poll Operation-Location"}}
MAX_PAGE = 1000
T = TypeVar("T")

Skip = Annotated[int, Query(ge=0, le=1_000_000)]
PageSize = Annotated[int, Query(alias="maxPageSize", ge=1, le=MAX_PAGE)]


def _api_version(request: Request) -> str:
    """The version the request named (checked by the router): the links it gets name it too,
    since a poller requests them verbatim."""
    return request.query_params.get("api-version") or NUMBERS_VERSIONS.latest


def _page(
    items: Sequence[T], skip: int, size: int, path: str, params: dict[str, Any]
) -> tuple[list[T], str | None]:
    """One page, and the link to the next one with every filter in it (None on the last page)."""
    page = list(items[skip : skip + size])
    if skip + size >= len(items):
        return page, None
    query = {k: v for k, v in params.items() if v is not None}
    return page, f"{path}?{urlencode({**query, 'skip': skip + size, 'maxPageSize': size})}"


def _caps(c: Capabilities) -> CapabilitiesModel:
    return CapabilitiesModel(calling=c.calling, sms=c.sms)


def _cost(c: Cost) -> CostModel:
    return CostModel(amount=c.amount, currencyCode=c.currency, billingFrequency=c.billing_frequency)


def _purchased(n: OwnedNumber) -> PurchasedPhoneNumberModel:
    return PurchasedPhoneNumberModel(
        id=n.id, phoneNumber=n.e164, countryCode=n.country, phoneNumberType=n.number_type,
        capabilities=_caps(n.capabilities), assignmentType=n.assignment,
        purchaseDate=iso_time(n.purchased_at), cost=_cost(n.cost),
    )  # fmt: skip


def _available(n: AvailableNumber) -> AvailablePhoneNumberModel:
    return AvailablePhoneNumberModel(
        id=n.id, countryCode=n.country, phoneNumber=n.e164, capabilities=_caps(n.capabilities),
        phoneNumberType=n.number_type, assignmentType=n.assignment, cost=_cost(n.cost), status=n.status,
        error=ErrorModel(code=n.error[0], message=n.error[1]) if n.error else None,
    )  # fmt: skip


def _reservation(r: ReservationView, *, with_numbers: bool = True) -> ReservationModel:
    numbers = {k: _available(v) for k, v in r.numbers.items()} if with_numbers else None
    return ReservationModel(id=r.id, expiresAt=iso_time(r.expires_at), phoneNumbers=numbers, status=r.status)


def _operation(op: Operation) -> OperationModel:
    error = ErrorModel(code=op.error_code or "", message=op.error_message or "") if op.error_code else None
    return OperationModel(
        id=op.id, operationType=op.kind.value, status=op.status.value,
        createdDateTime=iso_time(op.created_at), lastActionDateTime=iso_time(op.last_action_at),
        resourceLocation=op.resource_location, error=error,
    )  # fmt: skip


def numbers_router(
    service: NumbersService, reservations: ReservationService, catalog: Catalog, hmac: HmacAuth
) -> APIRouter:
    router = APIRouter(
        tags=["phone numbers"],
        dependencies=[Depends(NUMBERS_VERSIONS.dependency), Depends(hmac)],
        responses=_ERRORS,
    )
    retry_ms = service.settings.retry_after_ms
    # azure-core prefers Retry-After (whole seconds) to retry-after-ms: send it only when it says the same.
    wait_headers = {"retry-after-ms": str(retry_ms)}
    if retry_ms % 1000 == 0:
        wait_headers["Retry-After"] = str(retry_ms // 1000)

    def accepted(op: Operation, request: Request, location: str | None = None) -> Response:
        version = _api_version(request)
        headers = {
            "Operation-Location": f"/phoneNumbers/operations/{op.id}?api-version={version}",
            "operation-id": op.id,
            f"{op.kind.id_prefix}-id": op.id.split("_", 1)[1],
            **wait_headers,
        }
        if location is not None:
            headers["Location"] = location
        return Response(status_code=202, headers=headers)

    def number_location(e164: str, request: Request) -> str:
        return f"/phoneNumbers/{quote(e164, safe='')}?api-version={_api_version(request)}"

    # what can be bought --------------------------------------------------------------------------
    @router.get(
        "/availablePhoneNumbers/countries", response_model=CountriesPage, response_model_exclude_none=True
    )
    async def list_available_countries(skip: Skip = 0, max_page_size: PageSize = 100) -> Any:
        items = [CountryModel(localizedName=c.name, countryCode=c.code) for c in catalog.countries()]
        page, link = _page(items, skip, max_page_size, "/availablePhoneNumbers/countries", {})
        return CountriesPage(countries=page, nextLink=link)

    @router.get(
        "/availablePhoneNumbers/countries/{country_code}/areaCodes",
        response_model=AreaCodesPage,
        response_model_exclude_none=True,
    )
    async def list_area_codes(
        country_code: str,
        phone_number_type: Annotated[NumberType, Query(alias="phoneNumberType")],
        assignment_type: Annotated[AssignmentType | None, Query(alias="assignmentType")] = None,
        locality: Annotated[str | None, Query(max_length=100)] = None,
        division: Annotated[str | None, Query(alias="administrativeDivision", max_length=100)] = None,
        skip: Skip = 0,
        max_page_size: PageSize = 100,
    ) -> Any:
        codes = catalog.area_codes(country_code, phone_number_type, locality, division)
        params = {"phoneNumberType": phone_number_type.value, "assignmentType": assignment_type,
                  "locality": locality, "administrativeDivision": division}  # fmt: skip
        path = f"/availablePhoneNumbers/countries/{quote(country_code, safe='')}/areaCodes"
        page, link = _page([AreaCodeModel(areaCode=c) for c in codes], skip, max_page_size, path, params)
        return AreaCodesPage(areaCodes=page, nextLink=link)

    @router.get(
        "/availablePhoneNumbers/countries/{country_code}/localities",
        response_model=LocalitiesPage,
        response_model_exclude_none=True,
    )
    async def list_available_localities(
        country_code: str,
        division: Annotated[str | None, Query(alias="administrativeDivision", max_length=100)] = None,
        phone_number_type: Annotated[NumberType | None, Query(alias="phoneNumberType")] = None,
        skip: Skip = 0,
        max_page_size: PageSize = 100,
    ) -> Any:
        items = [
            LocalityModel(
                localizedName=x.name,
                administrativeDivision=DivisionModel(
                    localizedName=x.division, abbreviatedName=x.division_abbr or ""
                )
                if x.division
                else None,
            )
            for x in catalog.localities(country_code, division, phone_number_type)
        ]
        params = {"administrativeDivision": division, "phoneNumberType": phone_number_type}
        path = f"/availablePhoneNumbers/countries/{quote(country_code, safe='')}/localities"
        page, link = _page(items, skip, max_page_size, path, params)
        return LocalitiesPage(phoneNumberLocalities=page, nextLink=link)

    @router.get(
        "/availablePhoneNumbers/countries/{country_code}/offerings",
        response_model=OfferingsPage,
        response_model_exclude_none=True,
    )
    async def list_offerings(
        country_code: str,
        phone_number_type: Annotated[NumberType | None, Query(alias="phoneNumberType")] = None,
        assignment_type: Annotated[AssignmentType | None, Query(alias="assignmentType")] = None,
        skip: Skip = 0,
        max_page_size: PageSize = 100,
    ) -> Any:
        items = [
            OfferingModel(
                phoneNumberType=o.number_type,
                assignmentType=o.assignment,
                availableCapabilities=_caps(o.capabilities),
                cost=_cost(o.cost),
            )
            for o in catalog.offerings(country_code, phone_number_type, assignment_type)
        ]
        params = {"phoneNumberType": phone_number_type, "assignmentType": assignment_type}
        path = f"/availablePhoneNumbers/countries/{quote(country_code, safe='')}/offerings"
        page, link = _page(items, skip, max_page_size, path, params)
        return OfferingsPage(phoneNumberOfferings=page, nextLink=link)

    # search, then purchase -------------------------------------------------------------------------
    @router.post(
        "/availablePhoneNumbers/countries/{country_code}/:search",
        status_code=202,
        response_class=Response,
        responses=_ACCEPTED,
        openapi_extra=body_doc(SearchRequestModel),
    )
    async def search_available_phone_numbers(country_code: str, request: Request) -> Response:
        body = await read_json(request, SearchRequestModel)
        assert body is not None
        caps = Capabilities(body.capabilities.calling, body.capabilities.sms)
        req = SearchRequest(country_code, body.phoneNumberType, body.assignmentType, caps, body.areaCode,
                            body.quantity or 1)  # fmt: skip
        op, search_id = await service.begin_search(req)
        location = f"/availablePhoneNumbers/searchResults/{search_id}?api-version={_api_version(request)}"
        return accepted(op, request, location)

    @router.get(
        "/availablePhoneNumbers/searchResults/{search_id}",
        response_model=SearchResultModel,
        response_model_exclude_none=True,
    )
    async def get_search_result(search_id: str) -> Any:
        r = await service.search_result(search_id)
        return SearchResultModel(
            searchId=r.search_id, phoneNumbers=list(r.numbers), phoneNumberType=r.number_type,
            assignmentType=r.assignment, capabilities=_caps(r.capabilities), cost=_cost(r.cost),
            searchExpiresBy=iso_time(r.expires_by), isAgreementToNotResellRequired=r.agreement_required,
        )  # fmt: skip

    @router.post(
        "/availablePhoneNumbers/:purchase",
        status_code=202,
        response_class=Response,
        responses=_ACCEPTED,
        openapi_extra=body_doc(PurchaseRequest),
    )
    async def purchase_phone_numbers(request: Request) -> Response:
        body = await read_json(request, PurchaseRequest)
        assert body is not None
        return accepted(await service.begin_purchase(body.searchId, body.agreeToNotResell), request)

    # browse and reservations ----------------------------------------------------------------------
    @router.post(
        "/availablePhoneNumbers/countries/{country_code}/:browse",
        response_model=BrowseResult,
        response_model_exclude_none=True,
        openapi_extra=body_doc(BrowseRequest),
    )
    async def browse_available_numbers(country_code: str, request: Request) -> Any:
        body = await read_json(request, BrowseRequest)
        assert body is not None
        caps = None
        if body.capabilities is not None:
            caps = Capabilities(
                body.capabilities.calling or Capability.NONE, body.capabilities.sms or Capability.NONE
            )
        found = await reservations.browse(
            country_code, body.phoneNumberType, body.assignmentType, caps, body.phoneNumberPrefixes or []
        )
        return BrowseResult(phoneNumbers=[_available(n) for n in found])

    @router.get(
        "/availablePhoneNumbers/reservations",
        response_model=ReservationsPage,
        response_model_exclude_none=True,
    )
    async def list_reservations(
        max_page_size: PageSize = 100,
        skip_token: Annotated[str | None, Query(alias="skipToken", max_length=36)] = None,
    ) -> Any:
        found = await reservations.list(skip_token, max_page_size + 1)
        page = found[:max_page_size]
        link = None
        if len(found) > max_page_size:
            query = urlencode({"maxPageSize": max_page_size, "skipToken": page[-1].id})
            link = f"/availablePhoneNumbers/reservations?{query}"
        return ReservationsPage(
            reservations=[_reservation(r, with_numbers=False) for r in page], nextLink=link
        )

    @router.get(
        "/availablePhoneNumbers/reservations/{reservation_id}",
        response_model=ReservationModel,
        response_model_exclude_none=True,
    )
    async def get_reservation(reservation_id: str) -> Any:
        return _reservation(await reservations.get(reservation_id))

    @router.patch(
        "/availablePhoneNumbers/reservations/{reservation_id}",
        response_model=ReservationModel,
        response_model_exclude_none=True,
        responses={201: {"model": ReservationModel}, 207: {"model": ReservationModel}},
        openapi_extra=body_doc(ReservationRequest),
    )
    async def create_or_update_reservation(reservation_id: str, request: Request, response: Response) -> Any:
        body = await read_json(request, ReservationRequest)
        assert body is not None
        changes: dict[str, NumberSpec | None] = {}
        for number_id, spec in (body.phoneNumbers or {}).items():
            caps = (
                Capabilities(spec.capabilities.calling, spec.capabilities.sms)
                if spec and spec.capabilities
                else None
            )
            changes[number_id] = (
                NumberSpec(spec.countryCode, spec.phoneNumberType, spec.assignmentType, caps)
                if spec
                else None
            )
        view, created, partial = await reservations.put(reservation_id, changes)
        response.status_code = 207 if partial else 201 if created else 200
        return _reservation(view)

    @router.delete(
        "/availablePhoneNumbers/reservations/{reservation_id}", status_code=204, response_class=Response
    )
    async def delete_reservation(reservation_id: str) -> Response:
        await reservations.delete(reservation_id)
        return Response(status_code=204)

    @router.post(
        "/availablePhoneNumbers/reservations/{reservation_id}/:purchase",
        status_code=202,
        response_class=Response,
        responses=_ACCEPTED,
        openapi_extra=body_doc(ReservationPurchaseRequest, required=False),
    )
    async def purchase_reservation(reservation_id: str, request: Request) -> Response:
        body = await read_json(request, ReservationPurchaseRequest, allow_empty=True)
        agree = body.agreeToNotResell if body else False
        return accepted(await reservations.begin_purchase(reservation_id, agree), request)

    # operations -------------------------------------------------------------------------------------
    @router.get(
        "/phoneNumbers/operations/{operation_id}",
        response_model=OperationModel,
        response_model_exclude_none=True,
    )
    async def get_operation(operation_id: str, response: Response) -> Any:
        op = await service.operation(operation_id)
        if not op.status.terminal:
            response.headers.update(wait_headers)
        if op.resource_location is not None:
            response.headers["Location"] = op.resource_location
        return _operation(op)

    @router.delete("/phoneNumbers/operations/{operation_id}", status_code=204, response_class=Response)
    async def cancel_operation(operation_id: str) -> Response:
        await service.cancel_operation(operation_id)
        return Response(status_code=204)

    # owned numbers -----------------------------------------------------------------------------------
    @router.get("/phoneNumbers", response_model=PurchasedPhoneNumbersPage, response_model_exclude_none=True)
    async def list_phone_numbers(skip: Skip = 0, top: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100) -> Any:
        found = await service.list_numbers(skip, top + 1)
        link = f"/phoneNumbers?{urlencode({'skip': skip + top, 'top': top})}" if len(found) > top else None
        return PurchasedPhoneNumbersPage(phoneNumbers=[_purchased(n) for n in found[:top]], nextLink=link)

    @router.get(
        "/phoneNumbers/{phone_number}",
        response_model=PurchasedPhoneNumberModel,
        response_model_exclude_none=True,
    )
    async def get_by_number(phone_number: str) -> Any:
        return _purchased(await service.get_number(phone_number))

    @router.delete(
        "/phoneNumbers/{phone_number}", status_code=202, response_class=Response, responses=_ACCEPTED
    )
    async def release_phone_number(phone_number: str, request: Request) -> Response:
        return accepted(await service.begin_release(phone_number), request)

    @router.patch(
        "/phoneNumbers/{phone_number}/capabilities",
        status_code=202,
        response_class=Response,
        responses=_ACCEPTED,
        openapi_extra=body_doc(CapabilitiesRequest),
    )
    async def update_capabilities(phone_number: str, request: Request) -> Response:
        e164 = parse_number_path(phone_number)
        body = await read_json(request, CapabilitiesRequest)
        assert body is not None
        if body.calling is None and body.sms is None:
            raise TelexError(ErrorCode.VALIDATION_FAILED, "Give calling, sms or both.")
        location = number_location(e164, request)
        op = await service.begin_update_capabilities(e164, body.calling, body.sms, location)
        return accepted(op, request, location)

    # routes (a Telex extension: calls to a number ring users without an application) ---------------
    routes = NumberRoutes(service.store)

    @router.get(
        "/phoneNumbers/{phone_number}/routing",
        response_model=NumberRouteModel,
        response_model_exclude_none=True,
        tags=["telex extensions"],
    )
    async def get_routing(phone_number: str) -> Any:
        e164 = parse_number_path(phone_number)
        route = await routes.get(e164) if await service.lookup(e164) is not None else None
        if route is None:
            raise TelexError(ErrorCode.NOT_FOUND, "The phone number has no route.")
        return route.wire()

    @router.put(
        "/phoneNumbers/{phone_number}/routing",
        response_model=NumberRouteModel,
        response_model_exclude_none=True,
        openapi_extra=body_doc(NumberRouteRequest),
        tags=["telex extensions"],
    )
    async def put_routing(phone_number: str, request: Request) -> Any:
        body = await read_json(request, NumberRouteRequest)
        assert body is not None
        targets = [t.model_dump(exclude_none=True) for t in body.targets or []]
        route = make_route(phone_number, targets, body.groupCallId, body.ringTimeoutInSeconds)
        return (await routes.put(route, service.clock.now())).wire()

    @router.delete(
        "/phoneNumbers/{phone_number}/routing", status_code=204, response_class=Response,
        tags=["telex extensions"],
    )  # fmt: skip
    async def delete_routing(phone_number: str) -> Response:
        await routes.delete(parse_number_path(phone_number))
        return Response(status_code=204)

    # operator information ----------------------------------------------------------------------------
    @router.post(
        "/operatorInformation/:search",
        response_model=OperatorInformationResult,
        response_model_exclude_none=True,
        openapi_extra=body_doc(OperatorInformationRequest),
    )
    async def operator_information_search(request: Request) -> Any:
        body = await read_json(request, OperatorInformationRequest)
        assert body is not None
        details = bool(body.options and body.options.includeAdditionalOperatorDetails)
        values = [
            OperatorInformationModel(
                phoneNumber=i.e164,
                nationalFormat=i.national_format,
                internationalFormat=i.international_format,
                isoCountryCode=i.country,
                numberType=i.number_type,
                operatorDetails=OperatorDetailsModel(name=i.operator_name) if details else None,
            )
            for i in catalog.operator_information(body.phoneNumbers, details)
        ]
        return OperatorInformationResult(values=values)

    return router
