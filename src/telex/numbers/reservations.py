"""Browsing and reservations (api-version 2025-06-01): the newer way to buy numbers.

    browse (200) ─► a random sample of free numbers, nothing held
    PATCH reservations/{id} {phoneNumbers: {numberId: {...} | null}} ─► hold / let go of numbers
          (held 15 min after the last change, at most 2 h after the reservation was created)
    POST reservations/{id}/:purchase ─► 202, operation reservationPurchase ─► the numbers are owned

Reservation states: active ─purchase─► submitted ─operation─► completed; an active one whose time
ran out reads as ``expired`` (its holds no longer count). Numbers that cannot be reserved (taken,
not sold here, described wrongly) are reported per number with ``status: error`` and the change
is answered 207; the others are reserved.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from telex.core.errors import ErrorCode, TelexError
from telex.numbers.catalog import check_country
from telex.numbers.inventory import COSTS
from telex.numbers.model import AssignmentType, Capabilities, Capability, NumberType, OwnedNumber
from telex.numbers.operations import Operation, OperationKind, OperationStatus, new_operation_id
from telex.numbers.repository import NumbersTx, Record
from telex.numbers.service import RESERVATION_HOLDER, NumbersService, OperationFailed
from telex.numbers.views import AvailableNumber, ReservationView
from telex.telephony.numbers import E164, is_e164

__all__ = ["NumberSpec", "ReservationService"]

# Holds of a submitted reservation last at least this long, so its purchase has time to run.
_SUBMITTED_HOLD = 600.0


@dataclass(frozen=True, slots=True)
class NumberSpec:
    """How a reservation change describes a number it wants (from a browse result)."""

    country: str | None
    number_type: NumberType | None
    assignment: AssignmentType | None
    capabilities: Capabilities | None


def _invalid(message: str) -> TelexError:
    return TelexError(ErrorCode.VALIDATION_FAILED, message)


def _available(e164: str, attrs: dict[str, str], status: str) -> AvailableNumber:
    number_type = NumberType(attrs["type"])
    return AvailableNumber(
        e164, attrs["country"], number_type, AssignmentType(attrs["assignment"]),
        Capabilities(Capability(attrs["calling"]), Capability(attrs["sms"])), COSTS[number_type], status,
    )  # fmt: skip


def _check_id(reservation_id: str) -> str:
    try:
        return str(uuid.UUID(reservation_id))
    except ValueError as exc:
        raise _invalid("The reservation id must be a UUID.") from exc


class ReservationService:
    def __init__(self, numbers: NumbersService) -> None:
        self._numbers = numbers
        self._inventory = numbers.inventory
        self._clock = numbers.clock
        self._settings = numbers.settings
        numbers.register_work(OperationKind.RESERVATION_PURCHASE, self._run_purchase)

    # browse ------------------------------------------------------------------------------------------
    async def browse(
        self,
        country: str,
        number_type: NumberType,
        assignment: AssignmentType | None,
        capabilities: Capabilities | None,
        prefixes: Sequence[str],
    ) -> list[AvailableNumber]:
        code = check_country(self._inventory, country)
        assignment = assignment or AssignmentType.APPLICATION
        offering = self._inventory.offering(code, number_type, assignment)
        if offering is None:
            return []
        caps = capabilities or offering.capabilities
        if not offering.capabilities.covers(caps):
            raise _invalid("The capabilities asked for are not offered for these numbers.")
        if len(prefixes) > 10 or any(not p.lstrip("+").isdigit() or len(p) > 16 for p in prefixes):
            raise _invalid("phoneNumberPrefixes must be at most 10 digit strings.")
        candidates = [x.e164 for x in self._inventory.candidates(code, number_type, None, prefixes)]
        now = self._clock.now()
        async with self._numbers.store.read() as tx:
            taken = await tx.unavailable(candidates, now)
        free = [n for n in candidates if n not in taken]
        sample = random.sample(free, min(len(free), self._settings.browse_results))
        cost = COSTS[number_type]
        return [AvailableNumber(n, code, number_type, assignment, caps, cost, "available") for n in sample]

    # reservations --------------------------------------------------------------------------------------
    def _view(self, row: Record, holds: Sequence[Record], now: float) -> ReservationView:
        status = row.status
        if status == "active" and row.expires_at <= now:
            status = "expired"
        numbers: dict[str, AvailableNumber] = {}
        if status == "completed":
            attrs_of = json.loads(row.purchased or "{}")
            number_status = "purchased"
        else:
            attrs_of = {h.e164: json.loads(h.attrs) for h in holds}
            number_status = "expired" if status == "expired" else "reserved"
        for e164, attrs in attrs_of.items():
            number = _available(e164, attrs, number_status)
            numbers[number.id] = number
        for number_id, (code, message) in json.loads(row.errors or "{}").items():
            numbers[number_id] = AvailableNumber(
                "+" + number_id, "", NumberType.GEOGRAPHIC, AssignmentType.APPLICATION,
                Capabilities(Capability.NONE, Capability.NONE), COSTS[NumberType.GEOGRAPHIC], "error",
                (code, message),
            )  # fmt: skip
        return ReservationView(row.id, status, row.expires_at, numbers)

    async def get(self, reservation_id: str) -> ReservationView:
        rid = _check_id(reservation_id)
        async with self._numbers.store.read() as tx:
            row = await tx.reservation(rid)
            if row is None:
                raise TelexError(ErrorCode.NOT_FOUND, "The reservation does not exist.")
            holds = await tx.holds(RESERVATION_HOLDER + rid)
        return self._view(row, holds, self._clock.now())

    async def list(self, after: str | None, limit: int) -> list[ReservationView]:
        """Reservations without their numbers (as ACS lists them), ordered by id."""
        now = self._clock.now()
        async with self._numbers.store.read() as tx:
            rows = await tx.reservations(after, limit)
        return [ReservationView(r.id, self._view(r, [], now).status, r.expires_at) for r in rows]

    async def put(
        self, reservation_id: str, changes: Mapping[str, NumberSpec | None]
    ) -> tuple[ReservationView, bool, bool]:
        """Create or change a reservation; returns (view, created, some numbers failed).
        409 for a reservation that is no longer active (submitted, completed or expired)."""
        rid = _check_id(reservation_id)
        if len(changes) > self._settings.max_search_quantity:
            raise _invalid(f"At most {self._settings.max_search_quantity} numbers may change at once.")
        now = self._clock.now()
        holder = RESERVATION_HOLDER + rid
        async with self._numbers.store.write() as tx:
            row = await tx.reservation(rid)
            created = row is None
            if row is not None and (row.status != "active" or row.expires_at <= now):
                raise TelexError(ErrorCode.CONFLICT, "The reservation is no longer active.")
            created_at = now if row is None else row.created_at
            expires = min(now + self._settings.reservation_hold_minutes * 60,
                          created_at + self._settings.reservation_max_minutes * 60)  # fmt: skip
            errors: dict[str, tuple[str, str]] = {}
            await tx.put_reservation(
                rid, status="active", created_at=created_at, expires_at=expires, errors=None
            )
            for number_id, spec in changes.items():
                e164 = "+" + number_id
                if not number_id.isdigit() or not is_e164(e164):
                    errors[number_id] = ("InvalidPhoneNumber", "The number id is not a valid phone number.")
                    continue
                if spec is None:
                    await tx.drop_holds(holder, [e164])
                    continue
                failure = await self._reserve(tx, holder, E164(e164), spec, expires, now)
                if failure is not None:
                    errors[number_id] = failure
            await tx.extend_holds(holder, expires)
            await tx.put_reservation(rid, errors=json.dumps(errors) if errors else None)
            row = await tx.reservation(rid)
            assert row is not None
            holds = await tx.holds(holder)
        return self._view(row, holds, now), created, bool(errors)

    async def _reserve(
        self, tx: NumbersTx, holder: str, e164: E164, spec: NumberSpec, expires: float, now: float
    ) -> tuple[str, str] | None:
        listing = self._inventory.get(e164)
        if listing is None:
            return ("PhoneNumberNotFound", "The number is not offered.")
        if (spec.country and spec.country.upper() != listing.country) or (
            spec.number_type and spec.number_type != listing.number_type
        ):
            return ("InvalidPhoneNumber", "The number does not match its country or type.")
        assignment = spec.assignment or AssignmentType.APPLICATION
        offering = self._inventory.offering(listing.country, listing.number_type, assignment)
        caps = spec.capabilities or (offering.capabilities if offering else None)
        if offering is None or caps is None or not offering.capabilities.covers(caps):
            return ("InvalidCapabilities", "The number is not offered with these capabilities.")
        if e164 in await tx.unavailable([e164], now, except_holder=holder):
            return ("PhoneNumberNotAvailable", "The number is no longer available.")
        attrs = {
            "country": listing.country, "type": listing.number_type.value, "assignment": assignment.value,
            "calling": caps.calling.value, "sms": caps.sms.value,
        }  # fmt: skip
        await tx.drop_holds(holder, [e164])
        await tx.hold([e164], holder, expires, attrs, now)
        return None

    async def delete(self, reservation_id: str) -> None:
        """Give the numbers back and forget the reservation; 404 unknown, 409 once submitted."""
        rid = _check_id(reservation_id)
        async with self._numbers.store.write() as tx:
            row = await tx.reservation(rid)
            if row is None:
                raise TelexError(ErrorCode.NOT_FOUND, "The reservation does not exist.")
            if row.status != "active":
                raise TelexError(ErrorCode.CONFLICT, "Only an active reservation can be deleted.")
            await tx.drop_holds(RESERVATION_HOLDER + rid)
            await tx.delete_reservation(rid)

    async def begin_purchase(self, reservation_id: str, agree_to_not_resell: bool) -> Operation:
        """Start buying every number of an active reservation; 404 unknown, 400 if it is not active,
        has expired or holds no number."""
        rid = _check_id(reservation_id)
        now = self._clock.now()
        op_id, _ = new_operation_id(OperationKind.RESERVATION_PURCHASE)
        request = json.dumps({"agreeToNotResell": agree_to_not_resell})
        op = Operation(op_id, OperationKind.RESERVATION_PURCHASE, OperationStatus.NOT_STARTED, rid, now, now,
                       request=request)  # fmt: skip
        holder = RESERVATION_HOLDER + rid
        async with self._numbers.store.write() as tx:
            row = await tx.reservation(rid)
            if row is None:
                raise TelexError(ErrorCode.NOT_FOUND, "The reservation does not exist.")
            if row.status != "active" or row.expires_at <= now:
                raise _invalid("Only an active reservation can be purchased.")
            if not [h for h in await tx.holds(holder) if h.expires_at > now]:
                raise _invalid("The reservation holds no phone number.")
            expires = max(row.expires_at, now + _SUBMITTED_HOLD)
            await tx.extend_holds(holder, expires)
            await tx.put_reservation(rid, status="submitted", expires_at=expires)
            await tx.insert_operation(op)
        self._numbers.schedule(op.id)
        return op

    async def _run_purchase(self, tx: NumbersTx, op: Operation, now: float) -> str | None:
        row = await tx.reservation(op.subject)
        if row is None or row.status != "submitted":
            raise OperationFailed("ReservationNotFound", "The reservation is not awaiting purchase.")
        holds = [h for h in await tx.holds(RESERVATION_HOLDER + op.subject) if h.expires_at > now]
        if not holds:
            await tx.put_reservation(op.subject, status="active")
            raise OperationFailed("ReservationExpired", "The reservation's numbers are no longer held.")
        owned = []
        for hold in holds:
            n = _available(hold.e164, json.loads(hold.attrs), "purchased")
            owned.append(
                OwnedNumber(E164(n.e164), n.country, n.number_type, n.assignment, n.capabilities, n.cost, now)
            )
        await tx.put_owned(owned)
        await tx.drop_holds(RESERVATION_HOLDER + op.subject)
        # The purchased numbers stay visible on the reservation (as ``purchased``).
        bought = {h.e164: json.loads(h.attrs) for h in holds}
        await tx.put_reservation(op.subject, status="completed", errors=None, purchased=json.dumps(bought))
        return None
