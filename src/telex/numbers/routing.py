"""Number routes: where the PSTN gateway takes an inbound call to a purchased number when no
application is to answer it (a Telex extension: ACS has no public API for this).

    carrier ─INVITE +1425…─► gateway ─► route of +1425…?
        none ──────────────► IncomingCall to Event Grid / Call Automation (as without routes)
        users [a, b, …] ───► ring them all from 4:+caller; the first to answer takes the call,
                             the others stop ringing; nobody within ring_seconds: 480, all
                             declined: 603 (busy: 486)
        groupCallId g ─────► the caller joins the group call g at once (200)

Set by the resource owner: ``PUT /phoneNumbers/{number}/routing`` (HMAC) or ``telex numbers
route``. A route belongs to an owned number; releasing the number leaves the row, which is
ignored (the gateway looks the number up first) and replaced when the number is bought again.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update

from telex.core.errors import ErrorCode, TelexError
from telex.numbers.repository import NumbersStore
from telex.numbers.schema import number_routes as T
from telex.numbers.service import parse_number_path

__all__ = ["MAX_RING_SECONDS", "MAX_USERS", "NumberRoute", "NumberRoutes", "make_route"]

MAX_USERS = 20  # rung at once: a mesh call could not hold more anyway
MAX_RING_SECONDS = 300
DEFAULT_RING_SECONDS = 30  # then the carrier hears 480 (its voicemail, if it has one, takes over)


@dataclass(frozen=True, slots=True)
class NumberRoute:
    number: str
    users: tuple[str, ...] = ()
    group_call_id: str | None = None
    ring_seconds: int = DEFAULT_RING_SECONDS

    def wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"phoneNumber": self.number, "ringTimeoutInSeconds": self.ring_seconds}
        if self.group_call_id is not None:
            out["groupCallId"] = self.group_call_id
        else:
            out["targets"] = [{"rawId": u, "communicationUser": {"id": u}} for u in self.users]
        return out


def _invalid(message: str) -> TelexError:
    return TelexError(ErrorCode.VALIDATION_FAILED, message)


def _user(target: Any) -> str:
    """A target as a raw id string or a CommunicationIdentifierModel of a user."""
    raw = target
    if isinstance(target, dict):
        raw = target.get("rawId") or (target.get("communicationUser") or {}).get("id")
    if not isinstance(raw, str) or not raw.startswith("8:acs:") or len(raw) > 128:
        raise _invalid("A route's targets must be communication users (8:acs:…).")
    return raw


def make_route(
    number: str, users: Sequence[Any], group_call_id: str | None, ring_seconds: int | None
) -> NumberRoute:
    """A checked route (400 naming what is wrong): users or a group call, not both."""
    e164 = parse_number_path(number)
    wanted = tuple(dict.fromkeys(_user(u) for u in users))
    if bool(wanted) == bool(group_call_id):
        raise _invalid("A route needs targets (users to ring) or a groupCallId, not both.")
    if len(wanted) > MAX_USERS:
        raise _invalid(f"A route rings at most {MAX_USERS} users.")
    if group_call_id is not None:
        try:
            group_call_id = str(uuid.UUID(group_call_id))
        except ValueError as exc:
            raise _invalid("groupCallId must be a UUID.") from exc
    ring = DEFAULT_RING_SECONDS if ring_seconds is None else ring_seconds
    if isinstance(ring, bool) or not isinstance(ring, int) or not 1 <= ring <= MAX_RING_SECONDS:
        raise _invalid(f"ringTimeoutInSeconds must be from 1 to {MAX_RING_SECONDS}.")
    return NumberRoute(e164, wanted, group_call_id, ring)


def _from_row(row: Any) -> NumberRoute:
    return NumberRoute(row.e164, tuple(json.loads(row.users)), row.group_call_id, row.ring_seconds)


class NumberRoutes:
    """The routes of this resource's numbers, in the numbers' store."""

    def __init__(self, store: NumbersStore) -> None:
        self._store = store

    async def get(self, number: str) -> NumberRoute | None:
        async with self._store.read() as tx:
            row = (await tx.conn.execute(select(T).where(T.c.e164 == number))).first()
        return _from_row(row) if row is not None else None

    async def all(self) -> list[NumberRoute]:
        async with self._store.read() as tx:
            return [_from_row(r) for r in await tx.conn.execute(select(T).order_by(T.c.e164))]

    async def put(self, route: NumberRoute, now: float) -> NumberRoute:
        """Route an owned number (404 for one this resource does not own)."""
        values = {
            "users": json.dumps(list(route.users)), "group_call_id": route.group_call_id,
            "ring_seconds": route.ring_seconds, "updated_at": now,
        }  # fmt: skip
        async with self._store.write() as tx:
            if await tx.owned(route.number) is None:
                raise TelexError(ErrorCode.NOT_FOUND, "The phone number does not exist.")
            if (await tx.conn.execute(select(T.c.e164).where(T.c.e164 == route.number))).first() is None:
                await tx.conn.execute(insert(T).values(e164=route.number, **values))
            else:
                await tx.conn.execute(update(T).where(T.c.e164 == route.number).values(**values))
        return route

    async def delete(self, number: str) -> bool:
        """Back to IncomingCall for ``number``; whether there was a route."""
        async with self._store.write() as tx:
            result = await tx.conn.execute(delete(T).where(T.c.e164 == number))
        return bool(getattr(result, "rowcount", 0))
