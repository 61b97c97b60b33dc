"""The keyring: resource id, the two access keys, JWT signing keys and TURN secrets.

    first start ──► generate ──► store (first writer wins) ──► KeyringHolder.state
    telex keys rotate … ──► store ──► every node's refresher re-reads within ~1 s

The store is the truth so that several nodes on one PostgreSQL share one keyring; on the
embedded default the store is the SQLite file in the data dir (mode 0600).
"""

from __future__ import annotations

import base64
import logging
import secrets
import uuid
from dataclasses import replace
from itertools import pairwise

from cryptography.hazmat.primitives.asymmetric import ec

from telex.core.clock import Clock
from telex.core.ids import ResourceId
from telex.identity.repository import KeyringRepository, KeyringState
from telex.identity.tokens import SigningKey

__all__ = ["ACCESS_KEY_BYTES", "KeyringHolder", "new_keyring", "new_signing_key"]

log = logging.getLogger(__name__)

ACCESS_KEY_BYTES = 64  # ACS access keys are 64 random bytes, base64-encoded
# Signing keys older than this are dropped on rotation: no token outlives 24 h (+ leeway).
MAX_TOKEN_LIFETIME_SECONDS = 1440 * 60


def new_signing_key(now: float) -> SigningKey:
    return SigningKey(
        kid=uuid.uuid4().hex[:16], private_key=ec.generate_private_key(ec.SECP256R1()), created_at=now
    )


def new_keyring(now: float) -> KeyringState:
    return KeyringState(
        resource_id=ResourceId(str(uuid.uuid4())),
        primary_key=secrets.token_bytes(ACCESS_KEY_BYTES),
        secondary_key=secrets.token_bytes(ACCESS_KEY_BYTES),
        signing_keys=(new_signing_key(now),),
        # Text, not raw bytes: coturn's static-auth-secret shares it (docs/turn.md).
        turn_secrets=(secrets.token_urlsafe(32).encode("ascii"),),
    )


class KeyringHolder:
    """The node's current view of the keyring, refreshed from the store."""

    def __init__(self, repo: KeyringRepository, clock: Clock, primary_override: bytes | None = None) -> None:
        self._repo = repo
        self._clock = clock
        self._override = primary_override
        self._state: KeyringState | None = None

    @property
    def state(self) -> KeyringState:
        if self._state is None:
            raise RuntimeError("keyring not loaded; call load() first")
        return self._state

    @property
    def primary_overridden(self) -> bool:
        return self._override is not None

    def access_keys(self) -> tuple[bytes, bytes]:
        return self.state.primary_key, self.state.secondary_key

    async def load(self) -> KeyringState:
        """Load the keyring, creating it on the very first start."""
        state = await self._repo.load()
        if state is None:
            await self._repo.initialize(new_keyring(self._clock.now()), self._clock.now())
            state = await self._repo.load()
            assert state is not None
        if self._override is not None:
            state = replace(state, primary_key=self._override)
        self._state = state
        return state

    async def run_refresher(self, interval: float) -> None:
        while True:
            await self._clock.sleep(interval)
            try:
                await self.load()
            except Exception:  # keep serving with the last good keyring
                log.exception("keyring refresh failed")

    async def rotate_access_key(self, which: str) -> bytes:
        if which not in ("primary", "secondary"):
            raise ValueError("which must be 'primary' or 'secondary'")
        key = secrets.token_bytes(ACCESS_KEY_BYTES)
        await self._repo.set_access_key(which, key, self._clock.now())
        await self.load()
        return key

    async def rotate_signing_key(self) -> SigningKey:
        now = self._clock.now()
        key = new_signing_key(now)
        await self._repo.add_signing_key(key)
        # A key stopped signing when its successor was created; it must verify until every
        # token it signed has expired.
        keys = self.state.signing_keys
        cutoff = now - MAX_TOKEN_LIFETIME_SECONDS - 120
        await self._repo.drop_signing_keys(
            [old.kid for old, successor in pairwise(keys) if successor.created_at < cutoff]
        )
        await self.load()
        return key


def encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")
