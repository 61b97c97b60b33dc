"""Phone numbers: searches, purchases, releases, capability updates (long-running operations),
the numbers owned, and the directory SMS and voice ask "may this number do that?".

    route ─► begin_*(…) ─► write unit: check, record the operation (notStarted) ─► 202
                              └─ on return: schedule(op id) ─► run_operation (this node, now)
    run_operation: unit 1 claim (running, lease) ─► unit 2 the work + succeeded | failed
    sweep (every node, every sweep_seconds): operations never started or whose runner died

Contract of the ``begin_*`` methods: they raise ``TelexError`` before anything is recorded —
``VALIDATION_FAILED`` (400) for malformed input, ``NOT_FOUND`` (404) for an unknown search,
number or country — and otherwise return the operation, whose own failure (no numbers left, a
search that expired, already purchased) is reported by polling it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from telex.core.clock import Clock
from telex.core.errors import ErrorCode, TelexError
from telex.numbers.catalog import check_country
from telex.numbers.inventory import COSTS, Inventory
from telex.numbers.model import AssignmentType, Capabilities, Capability, NumberType, OwnedNumber
from telex.numbers.operations import (
    Operation,
    OperationInput,
    OperationKind,
    OperationStatus,
    new_operation_id,
    next_status,
)
from telex.numbers.repository import NumbersStore, NumbersTx
from telex.numbers.settings import NumbersSettings
from telex.numbers.views import SearchResult
from telex.telephony.numbers import E164, parse_e164

__all__ = ["NumbersService", "OperationFailed", "SearchRequest", "parse_number_path"]

log = logging.getLogger(__name__)

SEARCH_HOLDER = "search:"
RESERVATION_HOLDER = "reservation:"


class OperationFailed(Exception):
    """The operation cannot do its work; recorded as its error (``code``, ``message``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class SearchRequest:
    country: str
    number_type: NumberType
    assignment: AssignmentType
    capabilities: Capabilities
    area_code: str | None = None
    quantity: int = 1


def _not_found(what: str) -> TelexError:
    return TelexError(ErrorCode.NOT_FOUND, f"The {what} does not exist.")


def _invalid(message: str) -> TelexError:
    return TelexError(ErrorCode.VALIDATION_FAILED, message)


def parse_number_path(value: str) -> E164:
    """A number as a path names it: ``+14255550100`` or its id ``14255550100``; 400 otherwise."""
    return parse_e164(value if value.startswith("+") else "+" + value)


Work = Callable[[NumbersTx, Operation, float], Awaitable[str | None]]


class NumbersService:
    def __init__(
        self,
        store: NumbersStore,
        inventory: Inventory,
        clock: Clock,
        settings: NumbersSettings,
    ) -> None:
        self.store = store
        self.inventory = inventory
        self.clock = clock
        self.settings = settings
        self._work: dict[OperationKind, Work] = {
            OperationKind.SEARCH: self._run_search,
            OperationKind.PURCHASE: self._run_purchase,
            OperationKind.RELEASE: self._run_release,
            OperationKind.UPDATE_CAPABILITIES: self._run_update,
        }
        self._tasks: set[asyncio.Task[None]] = set()

    def register_work(self, kind: OperationKind, work: Work) -> None:
        """Another module's operation kind (reservation purchases)."""
        self._work[kind] = work

    # the directory (SMS, voice) --------------------------------------------------------------------
    async def lookup(self, number: str) -> OwnedNumber | None:
        """The number if this resource owns it (not released); None for any other string."""
        async with self.store.read() as tx:
            return await tx.owned(number)

    async def calling(self, number: str) -> Capability:
        """What ``number`` may do with calls here: ``none`` unless this resource owns it. The voice
        gateway asks this before it places a call from a number or takes one to it."""
        owned = await self.lookup(number)
        return owned.capabilities.calling if owned is not None else Capability.NONE

    # searches and purchases ------------------------------------------------------------------------
    def _check_search(self, req: SearchRequest) -> str:
        country = check_country(self.inventory, req.country)
        offering = self.inventory.offering(country, req.number_type, req.assignment)
        if offering is None:
            raise _invalid(
                f"No {req.number_type.value} numbers for {req.assignment.value} use are offered in {country}."
            )
        if not offering.capabilities.covers(req.capabilities):
            raise _invalid("The capabilities asked for are not offered for these numbers.")
        if not 1 <= req.quantity <= self.settings.max_search_quantity:
            raise _invalid(f"quantity must be between 1 and {self.settings.max_search_quantity}.")
        if req.area_code is not None and not (req.area_code.isdigit() and len(req.area_code) <= 8):
            raise _invalid("areaCode must be up to 8 digits.")
        return country

    async def begin_search(self, req: SearchRequest) -> tuple[Operation, str]:
        """Start a search; returns the operation and the search id (its numbers come with the
        operation's success, held for ``search_hold_minutes``)."""
        country = self._check_search(req)
        op_id, search_id = new_operation_id(OperationKind.SEARCH)
        now = self.clock.now()
        op = Operation(op_id, OperationKind.SEARCH, OperationStatus.NOT_STARTED, search_id, now, now)
        async with self.store.write() as tx:
            await tx.insert_search(
                id=search_id, country=country, number_type=req.number_type.value,
                assignment=req.assignment.value, calling=req.capabilities.calling.value,
                sms=req.capabilities.sms.value, area_code=req.area_code, quantity=req.quantity,
                status="pending", created_at=now,
            )  # fmt: skip
            await tx.insert_operation(op)
        self.schedule(op.id)
        return op, search_id

    async def search_result(self, search_id: str) -> SearchResult:
        """A search that ran and found numbers (purchased or not); 404 for any other id."""
        async with self.store.read() as tx:
            row = await tx.search(search_id) if len(search_id) <= 36 else None
        if row is None or row.numbers is None:
            raise _not_found("search")
        number_type = NumberType(row.number_type)
        return SearchResult(
            search_id=row.id,
            numbers=tuple(json.loads(row.numbers)),
            number_type=number_type,
            assignment=AssignmentType(row.assignment),
            capabilities=Capabilities(Capability(row.calling), Capability(row.sms)),
            cost=COSTS[number_type],
            expires_by=row.expires_at,
        )

    async def begin_purchase(self, search_id: str | None, agree_to_not_resell: bool) -> Operation:
        """Start buying a search's numbers; 400 without a search id, 404 for an unknown one."""
        if not search_id:
            raise _invalid("searchId is required.")
        now = self.clock.now()
        op_id, _ = new_operation_id(OperationKind.PURCHASE)
        request = json.dumps({"agreeToNotResell": agree_to_not_resell})
        op = Operation(
            op_id, OperationKind.PURCHASE, OperationStatus.NOT_STARTED, search_id, now, now, request=request
        )
        async with self.store.write() as tx:
            if len(search_id) > 36 or await tx.search(search_id) is None:
                raise _not_found("search")
            await tx.insert_operation(op)
        self.schedule(op.id)
        return op

    # owned numbers ---------------------------------------------------------------------------------
    async def list_numbers(self, skip: int, top: int) -> list[OwnedNumber]:
        async with self.store.read() as tx:
            return await tx.list_owned(skip, top)

    async def get_number(self, number: str) -> OwnedNumber:
        e164 = parse_number_path(number)
        owned = await self.lookup(e164)
        if owned is None:
            raise _not_found("phone number")
        return owned

    async def begin_release(self, number: str) -> Operation:
        """Release a number. Releasing one already released succeeds again (idempotent); a number
        never bought here is 404."""
        e164 = parse_number_path(number)
        now = self.clock.now()
        op_id, _ = new_operation_id(OperationKind.RELEASE)
        op = Operation(op_id, OperationKind.RELEASE, OperationStatus.NOT_STARTED, e164, now, now)
        async with self.store.write() as tx:
            if await tx.number(e164) is None:
                raise _not_found("phone number")
            await tx.insert_operation(op)
        self.schedule(op.id)
        return op

    async def begin_update_capabilities(
        self, number: str, calling: Capability | None, sms: Capability | None, location: str
    ) -> Operation:
        """Change what an owned number may do; a capability left out stays as it is. 404 if the
        number is not owned; 400 if its offering does not include what is asked for."""
        e164 = parse_number_path(number)
        now = self.clock.now()
        op_id, _ = new_operation_id(OperationKind.UPDATE_CAPABILITIES)
        request = json.dumps({"calling": calling, "sms": sms})
        async with self.store.write() as tx:
            owned = await tx.owned(e164)
            if owned is None:
                raise _not_found("phone number")
            wanted = Capabilities(calling or owned.capabilities.calling, sms or owned.capabilities.sms)
            offering = self.inventory.offering(owned.country, owned.number_type, owned.assignment)
            if offering is not None and not offering.capabilities.covers(wanted):
                raise _invalid("The capabilities asked for are not offered for this number.")
            op = Operation(
                op_id, OperationKind.UPDATE_CAPABILITIES, OperationStatus.NOT_STARTED, e164, now, now,
                resource_location=location, request=request,
            )  # fmt: skip
            await tx.insert_operation(op)
        self.schedule(op.id)
        return op

    # operations ------------------------------------------------------------------------------------
    async def operation(self, operation_id: str) -> Operation:
        async with self.store.read() as tx:
            op = await tx.operation(operation_id) if len(operation_id) <= 80 else None
        if op is None:
            raise _not_found("operation")
        return op

    async def cancel_operation(self, operation_id: str) -> None:
        """Forget an operation (404 if unknown). Cancelling a search also gives its numbers back;
        an operation that had not started never runs."""
        async with self.store.write() as tx:
            op = await tx.operation(operation_id) if len(operation_id) <= 80 else None
            if op is None:
                raise _not_found("operation")
            next_status(op.status, OperationInput.CANCEL)
            if op.kind is OperationKind.SEARCH:
                search = await tx.search(op.subject)
                if search is not None and search.status in ("pending", "active"):
                    await tx.drop_holds(SEARCH_HOLDER + op.subject)
                    await tx.update_search(op.subject, status="cancelled", numbers=None)
            await tx.delete_operation(op.id)

    # running operations ----------------------------------------------------------------------------
    def schedule(self, operation_id: str) -> None:
        """Run the operation soon, on this node (called after the commit that recorded it)."""
        try:
            task = asyncio.get_running_loop().create_task(self._run_logged(operation_id))
        except RuntimeError:  # no loop (a synchronous caller): the sweep will run it
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_logged(self, operation_id: str) -> None:
        try:
            await self.run_operation(operation_id)
        except Exception:  # the store may be briefly away: the sweep runs it later
            log.exception("phone-number operation %s did not run", operation_id)

    async def run_operation(self, operation_id: str) -> OperationStatus | None:
        """Claim and run one operation; returns its status after, or None if another runner has
        it or it is gone. Safe to call on every node at once."""
        now = self.clock.now()
        lease = now + self.settings.operation_lease_seconds
        async with self.store.write() as tx:
            op = await tx.operation(operation_id)
            if op is None or not op.claimable(now):
                return None
            next_status(op.status, OperationInput.CLAIM)
            await tx.update_operation(
                op.id, status=OperationStatus.RUNNING.value, lease_until=lease, last_action_at=now
            )
        async with self.store.write() as tx:
            op = await tx.operation(operation_id)
            if op is None or op.status is not OperationStatus.RUNNING or op.lease_until != lease:
                return None  # cancelled meanwhile, or our lease lapsed and someone else runs it
            now = self.clock.now()
            try:
                location = await self._work[op.kind](tx, op, now)
            except OperationFailed as failure:
                status = next_status(op.status, OperationInput.FAIL)
                await tx.update_operation(
                    op.id, status=OperationStatus.FAILED.value, last_action_at=now, lease_until=None,
                    error_code=failure.code, error_message=failure.message,
                )  # fmt: skip
                return status
            status = next_status(op.status, OperationInput.COMPLETE)
            values: dict[str, Any] = {
                "status": OperationStatus.SUCCEEDED.value,
                "last_action_at": now,
                "lease_until": None,
            }
            if location is not None:
                values["resource_location"] = location
            await tx.update_operation(op.id, **values)
            return status

    async def sweep(self) -> None:
        """Run operations nobody runs (never started, or their runner died); forget old ones."""
        now = self.clock.now()
        async with self.store.read() as tx:
            ids = await tx.claimable_operations(now, 100)
        for op_id in ids:
            await self.run_operation(op_id)
        async with self.store.write() as tx:
            await tx.purge(now - self.settings.retention_hours * 3600)

    async def run_sweeps(self) -> None:
        """``sweep`` every ``sweep_seconds`` until cancelled (``Node.start_background``)."""
        while True:
            await self.clock.sleep(self.settings.sweep_seconds)
            try:
                await self.sweep()
            except Exception:
                log.exception("phone-number operation sweep failed; the next one retries")

    async def drain(self) -> None:
        """Wait for the operations this node is running (tests; shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # the work of each kind (inside the completing unit; checks before changes) ----------------------
    async def _run_search(self, tx: NumbersTx, op: Operation, now: float) -> str | None:
        row = await tx.search(op.subject)
        if row is None or row.status != "pending":
            raise OperationFailed("SearchNotFound", "The search no longer exists.")
        number_type = NumberType(row.number_type)
        candidates = [x.e164 for x in self.inventory.candidates(row.country, number_type, row.area_code)]
        taken = await tx.unavailable(candidates, now)
        found = [n for n in candidates if n not in taken][: row.quantity]
        if len(found) < row.quantity:
            await tx.update_search(op.subject, status="failed")
            raise OperationFailed("NoNumbersAvailable", "No numbers matched the search.")
        expires = now + self.settings.search_hold_minutes * 60
        attrs = {
            "type": row.number_type,
            "assignment": row.assignment,
            "calling": row.calling,
            "sms": row.sms,
        }
        await tx.hold(found, SEARCH_HOLDER + op.subject, expires, attrs, now)
        await tx.update_search(op.subject, numbers=json.dumps(found), status="active", expires_at=expires)
        return f"/availablePhoneNumbers/searchResults/{op.subject}"

    async def _run_purchase(self, tx: NumbersTx, op: Operation, now: float) -> str | None:
        search = await tx.search(op.subject)
        if search is None or search.numbers is None:
            raise OperationFailed("SearchNotFound", "The search does not exist or found no numbers.")
        if search.status == "purchased":
            raise OperationFailed(
                "SearchAlreadyPurchased", "The numbers of this search were already purchased."
            )
        if search.status != "active" or search.expires_at is None or search.expires_at <= now:
            raise OperationFailed("SearchExpired", "The search has expired; search again.")
        numbers = json.loads(search.numbers)
        held = {r.e164 for r in await tx.holds(SEARCH_HOLDER + op.subject) if r.expires_at > now}
        if held != set(numbers):
            raise OperationFailed("SearchExpired", "The numbers of this search are no longer held.")
        number_type = NumberType(search.number_type)
        caps = Capabilities(Capability(search.calling), Capability(search.sms))
        owned = [
            OwnedNumber(E164(n), search.country, number_type, AssignmentType(search.assignment), caps,
                        COSTS[number_type], now)
            for n in numbers
        ]  # fmt: skip
        await tx.put_owned(owned)
        await tx.drop_holds(SEARCH_HOLDER + op.subject)
        await tx.update_search(op.subject, status="purchased")
        return None

    async def _run_release(self, tx: NumbersTx, op: Operation, now: float) -> str | None:
        await tx.release(op.subject, now)  # a number already released stays released
        return None

    async def _run_update(self, tx: NumbersTx, op: Operation, now: float) -> str | None:
        owned = await tx.owned(op.subject)
        if owned is None:
            raise OperationFailed("PhoneNumberNotFound", "The phone number is not owned by this resource.")
        asked = json.loads(op.request)
        calling = Capability(asked["calling"]) if asked.get("calling") else owned.capabilities.calling
        sms = Capability(asked["sms"]) if asked.get("sms") else owned.capabilities.sms
        await tx.set_capabilities(op.subject, Capabilities(calling, sms))
        return op.resource_location
