"""The one token verifier every data-plane route and the realtime gateway use.

    token ─► per-token cache (signature already checked) ─► expiry ─► scope ─► user state cache ─► Principal
                 miss: decode_token (kid, ES256, iss, aud, times)          (generation, deleted; TTL ≤ 1 s)

Revocation takes effect on this node at once (``forget_user``, which also tells the sockets'
liveness checkers to close that user's sockets now) and on other nodes when their user-state
cache entry expires (``revocation_cache_seconds``, at most 1 s).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from telex.core.clock import Clock
from telex.core.errors import ErrorCode, TelexError
from telex.core.ids import UserId
from telex.identity.keyring import KeyringHolder
from telex.identity.repository import UserRepository
from telex.identity.scopes import Scope
from telex.identity.tokens import LruCache, Principal, TokenFormat, decode_token

__all__ = ["TokenVerifier"]


@dataclass(frozen=True, slots=True)
class _UserState:
    generation: int
    live: bool
    fetched_at: float


class TokenVerifier:
    def __init__(
        self,
        keyring: KeyringHolder,
        users: UserRepository,
        clock: Clock,
        *,
        location: str,
        leeway_seconds: int,
        revocation_cache_seconds: float,
        cache_size: int = 10_000,
    ) -> None:
        self._keyring = keyring
        self._users = users
        self._clock = clock
        self._location = location
        self._leeway = leeway_seconds
        self._ttl = revocation_cache_seconds
        self._tokens = LruCache(cache_size)
        self._user_states: dict[UserId, _UserState] = {}
        self._on_revoked: list[Callable[[UserId], None]] = []

    async def verify(self, token: str, any_of: Iterable[Scope] | None = None) -> Principal:
        """The principal of a valid, unrevoked token holding one of ``any_of`` (None: any scope).

        Raises ``InvalidToken`` (401) for a bad, expired or revoked token or a deleted user,
        ``Forbidden`` (403) for a valid token without the scope.
        """
        principal = self._decode(token)
        if any_of is not None and principal.scopes.isdisjoint(any_of):
            raise TelexError(ErrorCode.FORBIDDEN, "The access token does not grant this operation.")
        await self.check_live(principal)
        return principal

    async def check_live(self, principal: Principal) -> None:
        """Raise ``InvalidToken`` if the token was revoked, its user deleted, or it expired."""
        if self._clock.now() >= principal.expires_at + self._leeway:
            raise TelexError(ErrorCode.INVALID_TOKEN, "The access token is invalid or expired.")
        state = await self._user_state(principal.user_id)
        if not state.live or state.generation != principal.generation:
            raise TelexError(ErrorCode.INVALID_TOKEN, "The access token is invalid or expired.")

    async def user_state(self, user: UserId) -> tuple[int, bool]:
        """``(token generation, live)`` of ``user``, at most ``revocation_cache_seconds`` old: what
        issuing a token needs. A token issued from a state a revocation has just made stale
        carries the old generation, so verification refuses it within the same bound."""
        state = await self._user_state(user)
        return state.generation, state.live

    def cached_user_state(self, user: UserId) -> tuple[int, bool] | None:
        """``(token generation, live)`` of ``user`` if this node read it less than
        ``revocation_cache_seconds`` ago, else None (``user_state`` reads it): what a check that
        cannot wait for the store (TURN's) asks first."""
        cached = self._user_states.get(user)
        if cached is None or self._clock.monotonic() - cached.fetched_at >= self._ttl:
            return None
        return cached.generation, cached.live

    def expired(self, principal: Principal) -> bool:
        """Whether the token has expired (no store access)."""
        return self._clock.now() >= principal.expires_at + self._leeway

    async def revoked_since(self, since: float) -> dict[UserId, tuple[int, bool]]:
        """``(generation, live)`` of every user revoked or deleted at ``since`` (wall clock) or
        later, read in one go, and remembered: what open connections re-check each round."""
        records = await self._users.revoked_since(since)
        now = self._clock.monotonic()
        out: dict[UserId, tuple[int, bool]] = {}
        for record in records:
            state = _UserState(record.token_generation, not record.deleted, now)
            self._user_states[record.id] = state
            out[record.id] = (state.generation, state.live)
        return out

    def on_revoked(self, listener: Callable[[UserId], None]) -> None:
        """Call ``listener`` with each user revoked or deleted on this node, as it happens."""
        self._on_revoked.append(listener)

    def forget_user(self, user: UserId) -> None:
        """Drop cached state of ``user`` (after a revocation or deletion on this node) and tell
        the listeners, so this node's open sockets close without waiting for a polling round."""
        self._user_states.pop(user, None)
        for listener in self._on_revoked:
            listener(user)

    def _decode(self, token: str) -> Principal:
        state = self._keyring.state
        cached = self._tokens.get(token)
        # A cached token is only as good as its key: a key dropped by rotation invalidates it.
        if cached is not None and any(k.kid == cached.kid for k in state.signing_keys):
            return cached
        keys = {k.kid: k for k in state.signing_keys}
        fmt = TokenFormat(state.resource_id, self._location)
        principal = decode_token(token, fmt, keys, self._clock.now(), self._leeway)
        self._tokens.put(token, principal)
        return principal

    async def _user_state(self, user: UserId) -> _UserState:
        now = self._clock.monotonic()
        cached = self._user_states.get(user)
        if cached is not None and now - cached.fetched_at < self._ttl:
            return cached
        record = await self._users.get(user)
        state = _UserState(
            generation=record.token_generation if record else -1,
            live=record is not None and not record.deleted,
            fetched_at=now,
        )
        if len(self._user_states) > 100_000:
            self._user_states.clear()
        self._user_states[user] = state
        return state
