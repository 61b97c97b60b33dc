"""Repeatable requests (OASIS Repeatable Requests 1.0, as ACS applies them; security.md §3):
the SDKs put ``Repeatability-Request-ID`` and ``Repeatability-First-Sent`` on every operation
that changes a call, so a retry after a lost response does not answer, transfer or play twice.

    headers ─► none: run it
            ─► malformed id or date ─► 400                       (repeatability-result: rejected)
            ─► first sent more than 5 minutes ago ─► 412          (rejected)
            ─► claim the id (insert; the primary key decides a race)
                 new ─► run ─► store status and body (not a 5xx: that one may run again)
                 same id, other request ─► 400                    (rejected)
                 same id, still running ─► 409                    (rejected)
                 same id, same request, done ─► the stored status and body (accepted)

A request is the same when its method, path and body hash alike. Records live five minutes
past their first-sent time, then a later request purges them.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from telex.automation.schema import automation_requests as R
from telex.core.clock import Clock
from telex.core.errors import ErrorCode, TelexError
from telex.store.database import Database

__all__ = ["Outcome", "Repeatability", "fingerprint"]

WINDOW = 300.0


@dataclass(frozen=True, slots=True)
class Outcome:
    status: int
    body: dict[str, Any] | None
    repeated: bool  # the stored answer of an earlier request


def fingerprint(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), b"\n", path.encode(), b"\n", body):
        digest.update(part)
    return digest.hexdigest()


class RepeatabilityError(TelexError):
    """A rejected repeatable request (the response says ``repeatability-result: rejected``)."""


def _rejected(code: ErrorCode, message: str) -> RepeatabilityError:
    return RepeatabilityError(code, message)


class Repeatability:
    def __init__(self, db: Database, clock: Clock, window: float = WINDOW) -> None:
        self._db = db
        self._clock = clock
        self._window = window
        self._last_purge = 0.0

    async def run(
        self,
        request_id: str | None,
        first_sent: str | None,
        print_: str,
        action: Callable[[], Awaitable[tuple[int, dict[str, Any] | None]]],
    ) -> Outcome:
        if request_id is None and first_sent is None:
            status, body = await action()
            return Outcome(status, body, False)
        now = self._clock.now()
        sent = self._check(request_id, first_sent, now)
        assert request_id is not None
        await self._purge(now)
        try:
            async with self._db.write() as conn:
                await conn.execute(
                    insert(R).values(request_id=request_id, fingerprint=print_, status=0, created_at=sent)
                )
        except IntegrityError:
            return await self._earlier(request_id, print_)
        try:
            status, body = await action()
        except TelexError as exc:
            if exc.status >= 500:
                await self._forget(request_id)
            else:
                error = {"error": {"code": exc.code.wire, "message": exc.message}}
                await self._store(request_id, exc.status, error)
            raise
        except BaseException:
            await self._forget(request_id)
            raise
        await self._store(request_id, status, body)
        return Outcome(status, body, False)

    def _check(self, request_id: str | None, first_sent: str | None, now: float) -> float:
        try:
            uuid.UUID(str(request_id))
        except ValueError as exc:
            raise _rejected(ErrorCode.BAD_REQUEST, "Repeatability-Request-ID must be a GUID.") from exc
        if first_sent is None:
            return now
        try:
            moment = parsedate_to_datetime(first_sent)
        except (TypeError, ValueError) as exc:
            raise _rejected(ErrorCode.BAD_REQUEST, "Repeatability-First-Sent must be an HTTP date.") from exc
        if moment.tzinfo is None:
            raise _rejected(ErrorCode.BAD_REQUEST, "Repeatability-First-Sent must be an HTTP date.")
        sent = moment.timestamp()
        if sent < now - self._window:
            raise _rejected(
                ErrorCode.PRECONDITION_FAILED,
                "Repeatability-First-Sent is older than the repeatability window.",
            )
        return sent

    async def _earlier(self, request_id: str, print_: str) -> Outcome:
        async with self._db.read() as conn:
            row = (await conn.execute(select(R).where(R.c.request_id == request_id))).first()
        if row is None:  # it was forgotten (a 5xx) in between: the caller may simply retry
            raise _rejected(ErrorCode.CONFLICT, "The repeatable request is being processed; retry.")
        if row.fingerprint != print_:
            raise _rejected(
                ErrorCode.BAD_REQUEST, "Repeatability-Request-ID was already used by a different request."
            )
        if row.status == 0:
            raise _rejected(
                ErrorCode.CONFLICT, "The first request with this Repeatability-Request-ID is running."
            )
        body = json.loads(row.body) if row.body else None
        if row.status >= 400 and isinstance(body, dict) and "error" in body:
            error = body["error"]
            code = next((c for c in ErrorCode if c.wire == error.get("code")), ErrorCode.BAD_REQUEST)
            raise TelexError(code, str(error.get("message", "")))
        return Outcome(row.status, body, True)

    async def _store(self, request_id: str, status: int, body: dict[str, Any] | None) -> None:
        text = json.dumps(body, separators=(",", ":")) if body is not None else None
        async with self._db.write() as conn:
            await conn.execute(update(R).where(R.c.request_id == request_id).values(status=status, body=text))

    async def _forget(self, request_id: str) -> None:
        async with self._db.write() as conn:
            await conn.execute(delete(R).where(R.c.request_id == request_id))

    async def _purge(self, now: float) -> None:
        if now - self._last_purge < 60:
            return
        self._last_purge = now
        async with self._db.write() as conn:
            await conn.execute(delete(R).where(R.c.created_at < now - 2 * self._window))
