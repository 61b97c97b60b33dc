"""Table definitions. Alembic migrations under ``migrations/versions`` create exactly these."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, Integer, MetaData, String, Table, Text

__all__ = ["keyring", "metadata", "signing_keys", "users"]

metadata = MetaData()

# Small secrets shared by every node: resource id, access keys, TURN secrets.
# They live in the store (not only in a node's data dir) so several nodes on one PostgreSQL
# agree on them and a rotation done on one node reaches all of them.
keyring = Table(
    "keyring",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# JWT signing keys. The newest non-retired key signs; every key newer than the longest token
# lifetime still verifies, so rotation never invalidates an unexpired token.
signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("alg", String(16), nullable=False),
    Column("private_pem", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("created_at", Float, nullable=False),
    # Revocation: tokens carry the generation they were issued in; revoking bumps it.
    Column("token_generation", Integer, nullable=False, default=0),
    Column("revoked_at", Float, nullable=True),
    # Deleted users keep a tombstone so an id is never reused and old tokens stay dead.
    Column("deleted", Boolean, nullable=False, default=False),
    # Revocations and deletions since an instant, in one indexed read (open sockets re-check them).
    Index("ix_users_revoked_at", "revoked_at"),
)
