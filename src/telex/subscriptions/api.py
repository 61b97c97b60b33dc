"""Event subscription routes (management plane, HMAC-signed; the validation link is not).

PUT    /eventSubscriptions/{name}                 create (201) or replace (200); handshake first
PATCH  /eventSubscriptions/{name}                 change some fields (URL change: handshake)
GET    /eventSubscriptions · /eventSubscriptions/{name}
DELETE /eventSubscriptions/{name}
POST   /eventSubscriptions/{name}/:getFullUrl     the endpoint URL with its query (GET hides it)
POST   /eventSubscriptions/{name}/:listSecrets    the Standard Webhooks signing secret(s)
POST   /eventSubscriptions/{name}/:rotateSecret   a new secret; the old one signs a while longer
POST   /eventSubscriptions/{name}/:replay         deliver again from a position or a time (202)
GET    /eventSubscriptions/{name}/deadLetters     events given up on, with their reasons
GET    /eventSubscriptions/{name}/deliveryStatus  delivered position and lag
GET|POST /eventSubscriptions/{name}/:validate?token=…   the validation link (no signature)
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, Depends, Query, Request, Response

from telex.core.clock import iso_time
from telex.subscriptions.model import DeliveryFilter, Subscription, SubscriptionSpec
from telex.subscriptions.service import SubscriptionService, not_found
from telex.subscriptions.store import DeadLetter
from telex.subscriptions.wire import (
    DeadLetterPage,
    DeliveryStatusModel,
    DestinationModel,
    FilterModel,
    FullUrlModel,
    PropertiesModel,
    ReplayModel,
    ReplayRequest,
    RetryPolicyOut,
    RotateSecretRequest,
    SecretsModel,
    SubscriptionModel,
    SubscriptionPage,
    SubscriptionRequest,
    SubscriptionUpdate,
    SystemDataModel,
    ValidatedModel,
    WebhookPropertiesModel,
)
from telex.web.auth import HmacAuth
from telex.web.body import body_doc, read_json
from telex.web.errors import ErrorResponse
from telex.webhooks.envelope import Schema

__all__ = [
    "merge",
    "render_dead_letter",
    "render_secrets",
    "render_subscription",
    "subscriptions_router",
]

_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorResponse} for s in (400, 401, 404, 409, 413, 415, 500, 503)
}
_ONE = "/eventSubscriptions/{name}"


def _base_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def render_subscription(service: SubscriptionService, sub: Subscription) -> SubscriptionModel:
    spec, f = sub.spec, sub.spec.filter
    return SubscriptionModel(
        id=f"{service.topic}/providers/Microsoft.EventGrid/eventSubscriptions/{sub.name}",
        name=sub.name,
        properties=PropertiesModel(
            topic=service.topic,
            provisioningState=sub.effective_state(service.now()).value,
            destination=DestinationModel(
                properties=WebhookPropertiesModel(
                    endpointBaseUrl=_base_url(spec.url),
                    maxEventsPerBatch=spec.max_events_per_batch,
                    preferredBatchSizeInKilobytes=spec.preferred_batch_kb,
                )
            ),
            filter=FilterModel(
                includedEventTypes=sorted(f.included_types) if f.included_types is not None else None,
                subjectBeginsWith=f.subject_begins_with,
                subjectEndsWith=f.subject_ends_with,
                isSubjectCaseSensitive=f.case_sensitive,
            ),
            eventDeliverySchema=spec.schema.value,
            retryPolicy=RetryPolicyOut(
                maxDeliveryAttempts=spec.max_attempts, eventTimeToLiveInMinutes=spec.ttl_minutes
            ),
        ),
        systemData=SystemDataModel(
            createdAt=iso_time(sub.created_at), lastModifiedAt=iso_time(sub.updated_at)
        ),
    )


def merge(base: SubscriptionSpec | None, update: SubscriptionUpdate) -> SubscriptionSpec:
    """``update``'s fields over ``base`` (PUT: over the defaults). A field present with null in a
    PATCH (``includedEventTypes: null``) is reset, as JSON merge patch says."""
    spec = base or SubscriptionSpec(url="")
    f = spec.filter
    url, batch, kb = spec.url, spec.max_events_per_batch, spec.preferred_batch_kb
    if update.destination is not None:
        p = update.destination.properties
        url = p.endpointUrl if p.endpointUrl is not None else url
        batch = p.maxEventsPerBatch if p.maxEventsPerBatch is not None else batch
        kb = p.preferredBatchSizeInKilobytes if p.preferredBatchSizeInKilobytes is not None else kb
    if update.filter is not None:
        given = update.filter.model_fields_set
        u = update.filter
        f = DeliveryFilter(
            included_types=(
                (frozenset(u.includedEventTypes) if u.includedEventTypes is not None else None)
                if "includedEventTypes" in given or base is None
                else f.included_types
            ),
            subject_begins_with=u.subjectBeginsWith
            if u.subjectBeginsWith is not None
            else f.subject_begins_with,
            subject_ends_with=u.subjectEndsWith if u.subjectEndsWith is not None else f.subject_ends_with,
            case_sensitive=(
                u.isSubjectCaseSensitive if u.isSubjectCaseSensitive is not None else f.case_sensitive
            ),
        )
    schema = Schema(update.eventDeliverySchema) if update.eventDeliverySchema else spec.schema
    attempts, ttl = spec.max_attempts, spec.ttl_minutes
    if update.retryPolicy is not None:
        r = update.retryPolicy
        attempts = r.maxDeliveryAttempts if r.maxDeliveryAttempts is not None else attempts
        ttl = r.eventTimeToLiveInMinutes if r.eventTimeToLiveInMinutes is not None else ttl
    return SubscriptionSpec(url, schema, f, batch, kb, attempts, ttl)


def render_secrets(sub: Subscription, now: float) -> SecretsModel:
    previous = sub.previous_secret if (sub.previous_secret_until or 0) > now else None
    return SecretsModel(
        signingSecret=str(sub.secret),
        previousSigningSecret=str(previous) if previous is not None else None,
        previousSigningSecretExpiresOn=(
            iso_time(sub.previous_secret_until)
            if previous is not None and sub.previous_secret_until
            else None
        ),
    )


def render_dead_letter(d: DeadLetter) -> dict[str, Any]:
    """A dead-lettered event as Event Grid writes one: the event with the dead-letter fields
    (plus its log position, for a replay)."""
    out = {
        **d.event,
        "deadLetterReason": d.reason,
        "deliveryAttempts": d.attempts,
        "lastDeliveryOutcome": d.outcome,
        "publishTime": iso_time(d.published_at),
        "lastDeliveryAttemptTime": iso_time(d.last_attempt_at),
        "position": d.position,
    }
    if d.status is not None:
        out["lastHttpStatusCode"] = d.status
    return out


def subscriptions_router(service: SubscriptionService, hmac: HmacAuth) -> APIRouter:
    router = APIRouter(tags=["events"], responses=_ERRORS)
    signed = [Depends(hmac)]

    @router.put(
        _ONE,
        dependencies=signed,
        response_model=SubscriptionModel,
        responses={201: {"model": SubscriptionModel, "description": "Created"}},
        openapi_extra=body_doc(SubscriptionRequest),
    )
    async def put_subscription(name: str, request: Request, response: Response) -> SubscriptionModel:
        body = await read_json(request, SubscriptionRequest)
        assert body is not None
        sub, created = await service.put(name, merge(None, body.properties), str(request.base_url))
        response.status_code = 201 if created else 200
        return render_subscription(service, sub)

    @router.patch(
        _ONE,
        dependencies=signed,
        response_model=SubscriptionModel,
        openapi_extra=body_doc(SubscriptionUpdate),
    )
    async def patch_subscription(name: str, request: Request) -> SubscriptionModel:
        body = await read_json(request, SubscriptionUpdate)
        assert body is not None
        current = await service.get(name)
        sub, _ = await service.put(name, merge(current.spec, body), str(request.base_url), must_exist=True)
        return render_subscription(service, sub)

    @router.get("/eventSubscriptions", dependencies=signed, response_model=SubscriptionPage)
    async def list_subscriptions() -> SubscriptionPage:
        return SubscriptionPage(value=[render_subscription(service, s) for s in await service.all()])

    @router.get(_ONE, dependencies=signed, response_model=SubscriptionModel)
    async def get_subscription(name: str) -> SubscriptionModel:
        return render_subscription(service, await service.get(name))

    @router.delete(_ONE, dependencies=signed, status_code=204, response_class=Response)
    async def delete_subscription(name: str) -> Response:
        await service.delete(name)
        return Response(status_code=204)

    @router.post(_ONE + "/:getFullUrl", dependencies=signed, response_model=FullUrlModel)
    async def get_full_url(name: str) -> FullUrlModel:
        return FullUrlModel(endpointUrl=(await service.get(name)).spec.url)

    @router.post(_ONE + "/:listSecrets", dependencies=signed, response_model=SecretsModel)
    async def list_secrets(name: str) -> SecretsModel:
        return render_secrets(await service.get(name), service.now())

    @router.post(
        _ONE + "/:rotateSecret", dependencies=signed, response_model=SecretsModel,
        openapi_extra=body_doc(RotateSecretRequest, required=False),
    )  # fmt: skip
    async def rotate_secret(name: str, request: Request) -> SecretsModel:
        body = await read_json(request, RotateSecretRequest, allow_empty=True) or RotateSecretRequest()
        sub = await service.rotate_secret(name, body.previousSecretValidMinutes * 60.0)
        return render_secrets(sub, service.now())

    @router.post(
        _ONE + "/:replay", dependencies=signed, status_code=202, response_model=ReplayModel,
        openapi_extra=body_doc(ReplayRequest),
    )  # fmt: skip
    async def replay(name: str, request: Request) -> ReplayModel:
        body = await read_json(request, ReplayRequest)
        assert body is not None
        when = body.fromTime.timestamp() if body.fromTime is not None else None
        first = await service.replay(name, from_position=body.fromPosition, from_time=when)
        return ReplayModel(fromPosition=first)

    @router.get(_ONE + "/deadLetters", dependencies=signed, response_model=DeadLetterPage)
    async def dead_letters(
        name: str,
        request: Request,
        maxPageSize: int = Query(default=100, ge=1, le=200),
        after: int = Query(default=0, ge=0, le=2**62),
    ) -> DeadLetterPage:
        found = await service.dead_letters(name, after, maxPageSize + 1)
        page = found[:maxPageSize]
        items = [render_dead_letter(d) for d in page]
        next_link = None
        if len(found) > maxPageSize:
            next_link = f"{request.url.path}?maxPageSize={maxPageSize}&after={page[-1].id}"
        return DeadLetterPage(value=items, nextLink=next_link)

    @router.get(_ONE + "/deliveryStatus", dependencies=signed, response_model=DeliveryStatusModel)
    async def delivery_status(name: str) -> DeliveryStatusModel:
        sub = await service.get(name)
        position, head = await service.position(name)
        return DeliveryStatusModel(
            provisioningState=sub.effective_state(service.now()).value,
            deliveredPosition=position,
            headPosition=head,
            lagEvents=max(0, head - position),
        )

    async def _validate(name: str, token: str) -> ValidatedModel:
        """The link sent in the handshake: its token alone authenticates the caller."""
        if not await service.validate(name, token):
            raise not_found()
        return ValidatedModel()

    validate_doc: dict[int | str, dict[str, Any]] = {404: {"model": ErrorResponse}}

    # The endpoint's owner opens the link (GET); a CloudEvents receiver may call it back (POST).
    @router.get(_ONE + "/:validate", response_model=ValidatedModel, responses=validate_doc)
    async def validate(name: str, token: str = Query(default="", max_length=256)) -> ValidatedModel:
        return await _validate(name, token)

    @router.post(_ONE + "/:validate", response_model=ValidatedModel, responses=validate_doc)
    async def validate_callback(name: str, token: str = Query(default="", max_length=256)) -> ValidatedModel:
        return await _validate(name, token)

    return router
