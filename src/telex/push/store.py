"""The ``push_registrations`` table (migration ``0010_events_out``) and its SQL.

One row per (user, platform, token); ``token_hash`` makes the token findable without indexing a
4 KB column. Rows past ``expires_at`` are ignored and swept.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from sqlalchemy import Column, Float, Index, String, Table, Text, delete, insert, select, update
from sqlalchemy.engine import CursorResult

from telex.push.registry import Platform, Registration, token_hash
from telex.store.database import Database
from telex.store.schema import metadata

__all__ = ["RegistrationStore", "push_registrations"]

push_registrations = Table(
    "push_registrations",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(128), nullable=False),
    Column("platform", String(16), nullable=False),
    Column("token", Text, nullable=False),
    Column("token_hash", String(64), nullable=False),
    Column("options", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Index("ux_push_registrations_device", "user_id", "platform", "token_hash", unique=True),
    Index("ix_push_registrations_expires", "expires_at"),
)
R = push_registrations


def _from_row(r: Any) -> Registration:
    return Registration(
        r.id, r.user_id, Platform(r.platform), r.token, json.loads(r.options), r.created_at, r.expires_at
    )


class RegistrationStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def upsert(self, reg: Registration, now: float, max_per_user: int) -> tuple[Registration, bool]:
        """Register (or renew) ``reg``; returns the stored registration and whether it is new.

        The same device registered by another user is dropped from that user; past
        ``max_per_user`` the user's least recently registered devices are dropped."""
        digest = token_hash(reg.platform, reg.token)
        options = json.dumps(reg.options, separators=(",", ":"))
        async with self._db.write() as conn:
            await conn.execute(
                delete(R).where(
                    R.c.platform == reg.platform.value, R.c.token_hash == digest, R.c.user_id != reg.user
                )
            )
            found = (
                await conn.execute(
                    select(R).where(
                        R.c.user_id == reg.user, R.c.platform == reg.platform.value, R.c.token_hash == digest
                    )
                )
            ).first()
            if found is not None:
                await conn.execute(
                    update(R)
                    .where(R.c.id == found.id)
                    .values(options=options, updated_at=now, expires_at=reg.expires_at)
                )
                stored = Registration(
                    found.id, reg.user, reg.platform, reg.token, reg.options, found.created_at, reg.expires_at
                )
                return stored, False
            await conn.execute(
                insert(R).values(
                    id=reg.id,
                    user_id=reg.user,
                    platform=reg.platform.value,
                    token=reg.token,
                    token_hash=digest,
                    options=options,
                    created_at=now,
                    updated_at=now,
                    expires_at=reg.expires_at,
                )
            )
            rows = await conn.execute(
                select(R.c.id).where(R.c.user_id == reg.user).order_by(R.c.updated_at.desc(), R.c.id)
            )
            surplus = [r.id for r in rows][max_per_user:]
            if surplus:
                await conn.execute(delete(R).where(R.c.id.in_(surplus)))
        return reg, True

    async def for_users(self, users: Collection[str], now: float) -> list[Registration]:
        """The live registrations of ``users``."""
        if not users:
            return []
        async with self._db.read() as conn:
            rows = await conn.execute(
                select(R)
                .where(R.c.user_id.in_(list(users)), R.c.expires_at > now)
                .order_by(R.c.created_at, R.c.id)
            )
            return [_from_row(r) for r in rows]

    async def delete(self, registration_id: str, user: str | None = None) -> bool:
        """Delete one registration (only ``user``'s, when given)."""
        statement = delete(R).where(R.c.id == registration_id)
        if user is not None:
            statement = statement.where(R.c.user_id == user)
        async with self._db.write() as conn:
            result = await conn.execute(statement)
            assert isinstance(result, CursorResult)
            return result.rowcount == 1

    async def delete_user(self, user: str) -> int:
        async with self._db.write() as conn:
            result = await conn.execute(delete(R).where(R.c.user_id == user))
            assert isinstance(result, CursorResult)
            return int(result.rowcount)

    async def sweep(self, now: float) -> int:
        """Delete expired registrations; returns how many."""
        async with self._db.write() as conn:
            result = await conn.execute(delete(R).where(R.c.expires_at <= now))
            assert isinstance(result, CursorResult)
            return int(result.rowcount)
