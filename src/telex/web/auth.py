"""Authentication dependencies: HMAC for the management plane, bearer tokens for the data plane."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable

from starlette.requests import HTTPConnection, Request

from telex.core.clock import Clock
from telex.core.errors import ErrorCode, TelexError
from telex.core.logthrottle import RateLimitedLog
from telex.core.ratelimit import RateLimiter
from telex.identity import KeyringHolder, Principal, Scope, TokenVerifier, hmac_auth

__all__ = ["BearerAuth", "HmacAuth", "raw_target"]

log = logging.getLogger(__name__)

_SIGNED = frozenset((b"authorization", b"x-ms-date", b"x-ms-content-sha256", b"host"))


def raw_target(conn: HTTPConnection) -> str:
    """The request target exactly as it arrived (percent-encoding and parameter order kept)."""
    raw_path = conn.scope.get("raw_path") or conn.scope["path"].encode()
    target = bytes(raw_path).decode("latin-1")
    query = conn.scope.get("query_string", b"")
    return f"{target}?{query.decode('latin-1')}" if query else target


class HmacAuth:
    """FastAPI dependency: the request must be signed with the primary or secondary access key.

    Failed signatures are counted per client address: past ``failures_per_minute`` in a minute
    that address gets 429 (Retry-After) without its signatures being checked, so a key cannot be
    guessed online at hundreds a second (security.md §2.2, "rate-limit signature failures"), and
    the failures are logged at most once per 10 s with a count, not once each."""

    def __init__(
        self, keyring: KeyringHolder, clock: Clock, skew_seconds: float, failures_per_minute: int = 0
    ) -> None:
        self._keyring = keyring
        self._clock = clock
        self._skew = skew_seconds
        self._failures = RateLimiter(clock)
        self._limit = [(failures_per_minute, 60.0)]
        self._log = RateLimitedLog(log)

    async def __call__(self, request: Request) -> None:
        source = request.client.host if request.client else ""
        if self._limit[0][0] and (wait := self._failures.blocked(source, self._limit)) > 0:
            self._log.warning("throttled", "hmac authentication throttled for %s", source)
            raise TelexError(
                ErrorCode.TOO_MANY_REQUESTS, "Too many failed signatures; retry later.", retry_after=wait
            )
        try:
            signed_headers: dict[str, str] = {}
            # One pass, not one per name; the server lower-cases names (the ASGI spec asks it to).
            for raw_name, raw_value in request.scope["headers"]:
                if raw_name in _SIGNED:
                    name = raw_name.decode("latin-1")
                    if name in signed_headers:
                        raise hmac_auth.HmacFailure("duplicate signed header")
                    signed_headers[name] = raw_value.decode("latin-1")
            signed = hmac_auth.SignedRequest(
                method=request.method,
                target=raw_target(request),
                host=signed_headers.get("host", ""),
                headers=signed_headers,
                body=await request.body(),
            )
            hmac_auth.verify(signed, self._keyring.access_keys(), self._clock.now(), self._skew)
        except hmac_auth.HmacFailure as exc:
            # The reason is for the log; the caller gets the same 401 whatever failed.
            self._log.warning("failed", "hmac authentication failed from %s: %s", source, exc.reason)
            if self._limit[0][0]:
                with contextlib.suppress(TelexError):  # this one is refused anyway; later ones get 429
                    self._failures.hit(source, self._limit)
            raise


def bearer_token(conn: HTTPConnection) -> str:
    value = conn.headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TelexError(ErrorCode.UNAUTHORIZED, "A bearer access token is required.")
    return token.strip()


class BearerAuth:
    """Builds dependencies that verify the user token and require one of some scopes."""

    def __init__(self, verifier: TokenVerifier) -> None:
        self.verifier = verifier

    def require(self, *scopes: Scope) -> Callable[[Request], Awaitable[Principal]]:
        async def dependency(request: Request) -> Principal:
            return await self.verifier.verify(bearer_token(request), scopes or None)

        return dependency
