"""Identity service: users and their access tokens (acs-wire.md §3.1).

Callers are the management-plane routes (HMAC-authenticated: the customer's trusted service);
nothing here checks who the caller is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from telex.core.clock import Clock
from telex.core.errors import ErrorCode, TelexError
from telex.core.ids import UserId, new_user_id, parse_user_id
from telex.identity.keyring import KeyringHolder
from telex.identity.repository import UserRepository
from telex.identity.scopes import Scope, parse_scopes
from telex.identity.tokens import IssuedToken, TokenFormat, issue_token
from telex.identity.verifier import TokenVerifier

__all__ = ["DEFAULT_TOKEN_MINUTES", "IdentityService", "UserWithToken"]

DEFAULT_TOKEN_MINUTES = 1440
MIN_TOKEN_MINUTES = 60
MAX_TOKEN_MINUTES = 1440


@dataclass(frozen=True, slots=True)
class UserWithToken:
    user: UserId
    token: IssuedToken | None


def _not_found() -> TelexError:
    return TelexError(ErrorCode.IDENTITY_NOT_FOUND, "The identity does not exist.")


def validate_token_request(
    scopes: Sequence[str], expires_in_minutes: int | None
) -> tuple[frozenset[Scope], int]:
    """Parsed scopes and lifetime in minutes; raises ``ValidationFailed`` (400) otherwise."""
    if not scopes:
        raise TelexError(ErrorCode.VALIDATION_FAILED, "At least one scope is required.")
    try:
        parsed = parse_scopes(scopes)
    except ValueError as exc:
        raise TelexError(ErrorCode.VALIDATION_FAILED, f"Invalid scopes: {exc}.") from exc
    minutes = DEFAULT_TOKEN_MINUTES if expires_in_minutes is None else expires_in_minutes
    if not MIN_TOKEN_MINUTES <= minutes <= MAX_TOKEN_MINUTES:
        raise TelexError(
            ErrorCode.VALIDATION_FAILED,
            f"expiresInMinutes must be between {MIN_TOKEN_MINUTES} and {MAX_TOKEN_MINUTES}.",
        )
    return parsed, minutes


class IdentityService:
    def __init__(
        self,
        users: UserRepository,
        keyring: KeyringHolder,
        verifier: TokenVerifier,
        clock: Clock,
        location: str,
    ) -> None:
        self._users = users
        self._keyring = keyring
        self._verifier = verifier
        self._clock = clock
        self._location = location

    def parse_user(self, raw: str) -> UserId:
        """The user id if ``raw`` names one of this resource; ``IdentityNotFound`` otherwise."""
        user = parse_user_id(raw, self._keyring.state.resource_id)
        if user is None:
            raise _not_found()
        return user

    async def create_user(
        self, scopes: Sequence[str] | None = None, expires_in_minutes: int | None = None
    ) -> UserWithToken:
        """Create a user, with a token when ``scopes`` is given. Validation happens before creation."""
        request = validate_token_request(scopes, expires_in_minutes) if scopes is not None else None
        user = new_user_id(self._keyring.state.resource_id)
        await self._users.create(user, self._clock.now())
        token = self._mint(user, 0, *request) if request else None
        return UserWithToken(user, token)

    async def issue_token(
        self, user: UserId, scopes: Sequence[str], expires_in_minutes: int | None
    ) -> IssuedToken:
        parsed, minutes = validate_token_request(scopes, expires_in_minutes)
        # The verifier's cached user state (≤ 1 s old): a busy trusted service issuing tokens for
        # the same users reads each one from the store about once a second, not per token.
        generation, live = await self._verifier.user_state(user)
        if not live:
            raise _not_found()
        return self._mint(user, generation, parsed, minutes)

    async def require_live(self, user: UserId) -> None:
        """Raise ``IdentityNotFound`` unless ``user`` exists and is not deleted."""
        record = await self._users.get(user)
        if record is None or record.deleted:
            raise _not_found()

    async def revoke_tokens(self, user: UserId) -> None:
        """Every token issued to ``user`` so far stops working (within 1 s on every node)."""
        if not await self._users.revoke(user, self._clock.now()):
            raise _not_found()
        self._verifier.forget_user(user)

    async def delete_user(self, user: UserId) -> None:
        if not await self._users.delete(user, self._clock.now()):
            raise _not_found()
        self._verifier.forget_user(user)

    def _mint(self, user: UserId, generation: int, scopes: frozenset[Scope], minutes: int) -> IssuedToken:
        state = self._keyring.state
        fmt = TokenFormat(state.resource_id, self._location)
        return issue_token(fmt, state.signer, user, scopes, generation, self._clock.now(), minutes * 60)
