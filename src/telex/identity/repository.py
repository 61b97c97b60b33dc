"""Persistence of users and of the keyring (one narrow repository per aggregate)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from telex.core.ids import ResourceId, UserId
from telex.identity.tokens import ALGORITHM, SigningKey
from telex.store.database import FAST, Database
from telex.store.schema import keyring, signing_keys, users

__all__ = [
    "KeyringRepository",
    "KeyringState",
    "SqlKeyringRepository",
    "SqlUserRepository",
    "UserRecord",
    "UserRepository",
]


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: UserId
    created_at: float
    token_generation: int
    revoked_at: float | None
    deleted: bool


class UserRepository(Protocol):
    async def create(self, user: UserId, now: float) -> None: ...

    async def get(self, user: UserId) -> UserRecord | None: ...

    async def revoke(self, user: UserId, now: float) -> bool:
        """Bump the token generation of a live user; False if there is none."""

    async def revoked_since(self, since: float) -> list[UserRecord]:
        """Users revoked or deleted at ``since`` or later (both set ``revoked_at``)."""

    async def delete(self, user: UserId, now: float) -> bool:
        """Tombstone a live user; False if there is none."""


# Built once: building a statement per call costs more than running it against the page cache.
_GET_USER = select(users).where(users.c.id == bindparam("id")).execution_options(**FAST)
_REVOKED_SINCE = select(users).where(users.c.revoked_at >= bindparam("since"))


def _record(row: Any) -> UserRecord:
    return UserRecord(UserId(row.id), row.created_at, row.token_generation, row.revoked_at, bool(row.deleted))


class SqlUserRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, user: UserId, now: float) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                insert(users).values(id=user, created_at=now, token_generation=0, deleted=False)
            )

    async def get(self, user: UserId) -> UserRecord | None:
        async with self._db.read() as conn:
            row = (await conn.execute(_GET_USER, {"id": user})).first()
        return None if row is None else _record(row)

    async def revoked_since(self, since: float) -> list[UserRecord]:
        async with self._db.read() as conn:
            rows = await conn.execute(_REVOKED_SINCE, {"since": since})
            return [_record(r) for r in rows]

    async def revoke(self, user: UserId, now: float) -> bool:
        async with self._db.write() as conn:
            result = await conn.execute(
                update(users)
                .where(users.c.id == user, users.c.deleted.is_(False))
                .values(token_generation=users.c.token_generation + 1, revoked_at=now)
                .returning(users.c.id)
            )
            return result.first() is not None

    async def delete(self, user: UserId, now: float) -> bool:
        async with self._db.write() as conn:
            result = await conn.execute(
                update(users)
                .where(users.c.id == user, users.c.deleted.is_(False))
                .values(deleted=True, token_generation=users.c.token_generation + 1, revoked_at=now)
                .returning(users.c.id)
            )
            return result.first() is not None


@dataclass(frozen=True, slots=True)
class KeyringState:
    resource_id: ResourceId
    primary_key: bytes
    secondary_key: bytes
    signing_keys: tuple[SigningKey, ...]  # oldest first; the last one signs
    turn_secrets: tuple[bytes, ...]

    @property
    def signer(self) -> SigningKey:
        return self.signing_keys[-1]


class KeyringRepository(Protocol):
    async def load(self) -> KeyringState | None: ...

    async def initialize(self, state: KeyringState, now: float) -> None:
        """Store ``state`` unless a keyring exists already (first writer wins)."""

    async def set_access_key(self, which: str, key: bytes, now: float) -> None: ...

    async def add_signing_key(self, key: SigningKey) -> None: ...

    async def drop_signing_keys(self, kids: list[str]) -> None: ...


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def _load_pem(text: str) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("signing key is not an EC key")
    return key


class SqlKeyringRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def load(self) -> KeyringState | None:
        async with self._db.read() as conn:
            entries = {r.name: r.value for r in await conn.execute(select(keyring))}
            keys = (await conn.execute(select(signing_keys).order_by(signing_keys.c.created_at))).all()
        if "resource_id" not in entries or not keys:
            return None
        return KeyringState(
            resource_id=ResourceId(entries["resource_id"]),
            primary_key=base64.b64decode(entries["access_key.primary"]),
            secondary_key=base64.b64decode(entries["access_key.secondary"]),
            signing_keys=tuple(SigningKey(k.kid, _load_pem(k.private_pem), k.created_at) for k in keys),
            turn_secrets=tuple(
                base64.b64decode(v) for n, v in sorted(entries.items()) if n.startswith("turn_secret.")
            ),
        )

    async def initialize(self, state: KeyringState, now: float) -> None:
        values = {
            "resource_id": state.resource_id,
            "access_key.primary": _b64(state.primary_key),
            "access_key.secondary": _b64(state.secondary_key),
        }
        values.update({f"turn_secret.{i}": _b64(s) for i, s in enumerate(state.turn_secrets)})
        try:
            async with self._db.write() as conn:
                if (await conn.execute(select(keyring.c.name).limit(1))).first() is not None:
                    return
                await conn.execute(
                    insert(keyring), [{"name": n, "value": v, "updated_at": now} for n, v in values.items()]
                )
                await conn.execute(insert(signing_keys), [_key_row(k) for k in state.signing_keys])
        except IntegrityError:
            return  # another node initialised it first; its keyring wins

    async def set_access_key(self, which: str, key: bytes, now: float) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                update(keyring)
                .where(keyring.c.name == f"access_key.{which}")
                .values(value=_b64(key), updated_at=now)
            )

    async def add_signing_key(self, key: SigningKey) -> None:
        async with self._db.write() as conn:
            await conn.execute(insert(signing_keys).values(**_key_row(key)))

    async def drop_signing_keys(self, kids: list[str]) -> None:
        if kids:
            async with self._db.write() as conn:
                await conn.execute(delete(signing_keys).where(signing_keys.c.kid.in_(kids)))


def _key_row(key: SigningKey) -> dict[str, object]:
    return {
        "kid": key.kid,
        "alg": ALGORITHM,
        "private_pem": _pem(key.private_key),
        "created_at": key.created_at,
    }
