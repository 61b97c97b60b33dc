"""SQL for event subscriptions and their dead letters (SQLAlchemy Core only).

Subscriptions change rarely and are few (``max_subscriptions``); every method is one short
transaction. A subscription's cursor lives in ``event_cursors`` (``telex.events.consumer``) and is
created, rewound and deleted with it by the service.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.sql.base import Executable

from telex.store.database import Database
from telex.subscriptions.model import DeliveryFilter, ProvisioningState, Subscription, SubscriptionSpec
from telex.subscriptions.schema import event_dead_letters, event_subscriptions
from telex.webhooks.envelope import Schema
from telex.webhooks.signing import WebhookSecret

__all__ = ["DeadLetter", "SubscriptionStore"]

S = event_subscriptions
D = event_dead_letters


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    subscription: str
    position: int
    event_id: str
    event: dict[str, Any]
    reason: str
    attempts: int
    outcome: str
    status: int | None
    published_at: float
    last_attempt_at: float


def _secret(text: str | None) -> WebhookSecret | None:
    return None if text is None else WebhookSecret.parse(text)


def _from_row(r: Any) -> Subscription:
    types = json.loads(r.included_types) if r.included_types is not None else None
    spec = SubscriptionSpec(
        url=r.url,
        schema=Schema(r.schema),
        filter=DeliveryFilter(
            frozenset(types) if types is not None else None,
            r.subject_begins_with,
            r.subject_ends_with,
            bool(r.case_sensitive),
        ),
        max_events_per_batch=r.max_events_per_batch,
        preferred_batch_kb=r.preferred_batch_kb,
        max_attempts=r.max_attempts,
        ttl_minutes=r.ttl_minutes,
    )
    secret = _secret(r.secret)
    assert secret is not None
    return Subscription(
        name=r.name,
        spec=spec,
        secret=secret,
        state=ProvisioningState(r.state),
        created_at=r.created_at,
        updated_at=r.updated_at,
        previous_secret=_secret(r.previous_secret),
        previous_secret_until=r.previous_secret_until,
        validation_hash=r.validation_hash,
        validation_deadline=r.validation_deadline,
        allowed_rate=r.allowed_rate,
    )


def _values(sub: Subscription) -> dict[str, Any]:
    spec = sub.spec
    types = spec.filter.included_types
    return {
        "name": sub.name,
        "url": spec.url,
        "schema": spec.schema.value,
        "included_types": json.dumps(sorted(types)) if types is not None else None,
        "subject_begins_with": spec.filter.subject_begins_with,
        "subject_ends_with": spec.filter.subject_ends_with,
        "case_sensitive": spec.filter.case_sensitive,
        "max_events_per_batch": spec.max_events_per_batch,
        "preferred_batch_kb": spec.preferred_batch_kb,
        "max_attempts": spec.max_attempts,
        "ttl_minutes": spec.ttl_minutes,
        "secret": str(sub.secret),
        "previous_secret": str(sub.previous_secret) if sub.previous_secret is not None else None,
        "previous_secret_until": sub.previous_secret_until,
        "state": sub.state.value,
        "validation_hash": sub.validation_hash,
        "validation_deadline": sub.validation_deadline,
        "allowed_rate": sub.allowed_rate,
        "created_at": sub.created_at,
        "updated_at": sub.updated_at,
    }


def _dead_letter(r: Any) -> DeadLetter:
    return DeadLetter(
        r.id, r.subscription, int(r.position), r.event_id, json.loads(r.event), r.reason, r.attempts,
        r.outcome, r.status, r.published_at, r.last_attempt_at,
    )  # fmt: skip


class SubscriptionStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, name: str) -> Subscription | None:
        async with self._db.read() as conn:
            row = (await conn.execute(select(S).where(S.c.name == name))).first()
        return None if row is None else _from_row(row)

    async def all(self) -> list[Subscription]:
        async with self._db.read() as conn:
            return [_from_row(r) for r in await conn.execute(select(S).order_by(S.c.name))]

    async def count(self) -> int:
        async with self._db.read() as conn:
            return int((await conn.execute(select(func.count()).select_from(S))).scalar_one())

    async def put(self, sub: Subscription, *, create: bool) -> bool:
        """Insert (``create``) or replace a row; False if it already existed / did not exist."""
        async with self._db.write() as conn:
            exists = (await conn.execute(select(S.c.name).where(S.c.name == sub.name))).first() is not None
            if exists == create:
                return False
            if create:
                await conn.execute(insert(S).values(**_values(sub)))
            else:
                await conn.execute(update(S).where(S.c.name == sub.name).values(**_values(sub)))
        return True

    async def touch(self, name: str, now: float, **values: Any) -> bool:
        """Update some columns (and ``updated_at``, which tells every node's runner to restart the
        subscription's worker)."""
        async with self._db.write() as conn:
            result = await conn.execute(update(S).where(S.c.name == name).values(updated_at=now, **values))
            assert isinstance(result, CursorResult)
            return result.rowcount == 1

    async def delete(self, name: str) -> bool:
        async with self._db.write() as conn:
            result = await conn.execute(delete(S).where(S.c.name == name))
            await conn.execute(delete(D).where(D.c.subscription == name))
            assert isinstance(result, CursorResult)
            return result.rowcount == 1

    # dead letters ---------------------------------------------------------------------------------
    @staticmethod
    def dead_letter_rows(rows: Sequence[dict[str, Any]]) -> tuple[Executable, list[dict[str, Any]]]:
        """The statement that records ``rows`` (run in the same unit as the cursor's advance)."""
        return insert(D), [{**r, "event": json.dumps(r["event"], separators=(",", ":"))} for r in rows]

    async def dead_letters(self, name: str, after: int, limit: int) -> list[DeadLetter]:
        async with self._db.read() as conn:
            rows = await conn.execute(
                select(D).where(D.c.subscription == name, D.c.id > after).order_by(D.c.id).limit(limit)
            )
            return [_dead_letter(r) for r in rows]
