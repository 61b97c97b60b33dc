"""Repository contract: the same tests on SQLite and PostgreSQL (STYLE.md principle 5)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from telex.core.ids import ResourceId, UserId, new_user_id
from telex.identity.keyring import new_keyring, new_signing_key
from telex.identity.repository import SqlKeyringRepository, SqlUserRepository
from telex.store.database import Database

RES = ResourceId(str(uuid.uuid4()))


@pytest.fixture
async def db(database_url: str, tmp_path: object) -> AsyncIterator[Database]:
    url = database_url or f"sqlite:///{tmp_path}/contract.db"
    database = Database(url)
    await database.migrate()
    try:
        yield database
    finally:
        await database.close()


async def test_migrations_are_idempotent(db: Database) -> None:
    await db.migrate()
    assert await db.ping()


async def test_user_lifecycle(db: Database) -> None:
    repo = SqlUserRepository(db)
    user = new_user_id(RES)
    assert await repo.get(user) is None
    await repo.create(user, 100.0)
    rec = await repo.get(user)
    assert rec is not None and (rec.token_generation, rec.deleted, rec.revoked_at) == (0, False, None)
    assert await repo.revoke(user, 200.0)
    rec = await repo.get(user)
    assert rec is not None and (rec.token_generation, rec.revoked_at) == (1, 200.0)
    assert await repo.delete(user, 300.0)
    rec = await repo.get(user)
    assert rec is not None and rec.deleted and rec.token_generation == 2
    assert not await repo.delete(user, 400.0)
    assert not await repo.revoke(user, 400.0)
    assert not await repo.revoke(UserId("8:acs:nobody"), 400.0)


async def test_duplicate_user_is_refused(db: Database) -> None:
    from sqlalchemy.exc import IntegrityError

    repo = SqlUserRepository(db)
    user = new_user_id(RES)
    await repo.create(user, 1.0)
    with pytest.raises(IntegrityError):
        await repo.create(user, 2.0)


async def test_concurrent_revocations_each_bump_the_generation(db: Database) -> None:
    repo = SqlUserRepository(db)
    user = new_user_id(RES)
    await repo.create(user, 1.0)
    await asyncio.gather(*(repo.revoke(user, 2.0) for _ in range(10)))
    rec = await repo.get(user)
    assert rec is not None and rec.token_generation == 10


async def test_keyring_first_writer_wins(db: Database) -> None:
    repo = SqlKeyringRepository(db)
    assert await repo.load() is None
    first, second = new_keyring(1.0), new_keyring(2.0)
    await asyncio.gather(repo.initialize(first, 1.0), repo.initialize(second, 2.0))
    loaded = await repo.load()
    assert loaded is not None
    assert loaded.resource_id in (first.resource_id, second.resource_id)
    winner = first if loaded.resource_id == first.resource_id else second
    assert loaded.primary_key == winner.primary_key
    assert loaded.secondary_key == winner.secondary_key
    assert loaded.turn_secrets == winner.turn_secrets
    assert [k.kid for k in loaded.signing_keys] == [k.kid for k in winner.signing_keys]


async def test_keyring_rotation_operations(db: Database) -> None:
    repo = SqlKeyringRepository(db)
    await repo.initialize(new_keyring(1.0), 1.0)
    await repo.set_access_key("secondary", b"s" * 64, 5.0)
    newer = new_signing_key(10.0)
    await repo.add_signing_key(newer)
    loaded = await repo.load()
    assert loaded is not None
    assert loaded.secondary_key == b"s" * 64
    assert loaded.signer.kid == newer.kid and len(loaded.signing_keys) == 2
    await repo.drop_signing_keys([loaded.signing_keys[0].kid])
    loaded = await repo.load()
    assert loaded is not None and [k.kid for k in loaded.signing_keys] == [newer.kid]
