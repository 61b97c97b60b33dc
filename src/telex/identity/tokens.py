"""User access tokens: ES256 JWTs with ACS-like claims, and their verification.

Why ES256: measured on this machine with PyJWT + cryptography (bench/identity.py prints it
again), ES256 signs in ~55 µs and verifies in ~145 µs; RS256-2048 signs in ~400 µs and
verifies in ~85 µs; Ed25519 is close to ES256 but slower to verify. Tokens are issued far less
often than used, but the verifier caches per token (see ``TokenVerifier``), so signing cost and
token size (289 vs 545 bytes, carried on every request) decide. The algorithm is pinned: the
verifier never reads ``alg`` from the token to choose one.

The official Python SDK decodes the payload with *standard* base64 (acs-wire.md §2.2 gotcha 5):
a base64url payload containing ``-`` or ``_`` breaks it. ASCII JSON produces those characters only
for ``>``, ``?``, ``~`` or DEL, so every claim value is checked to be free of them.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from telex.core.errors import ErrorCode, TelexError
from telex.core.ids import ResourceId, UserId
from telex.identity.scopes import Scope, scope_bits

__all__ = [
    "ALGORITHM",
    "IssuedToken",
    "Principal",
    "SigningKey",
    "TokenFormat",
    "decode_token",
    "issue_token",
]

ALGORITHM = "ES256"
_UNSAFE_FOR_STD_B64 = frozenset(">?~\x7f")


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    private_key: ec.EllipticCurvePrivateKey
    created_at: float

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.private_key.public_key()))
        jwk.update(kid=self.kid, alg=ALGORITHM, use="sig")
        return jwk


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a verified token speaks for."""

    user_id: UserId
    scopes: frozenset[Scope]
    issued_at: int
    expires_at: int
    generation: int
    kid: str  # the signing key that verified it


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_at: int


@dataclass(frozen=True, slots=True)
class TokenFormat:
    resource_id: ResourceId
    location: str

    @property
    def issuer(self) -> str:
        return "telex"

    @property
    def audience(self) -> str:
        return f"telex:{self.resource_id}"


def issue_token(
    fmt: TokenFormat,
    key: SigningKey,
    user: UserId,
    scopes: frozenset[Scope],
    generation: int,
    now: float,
    lifetime_seconds: int,
) -> IssuedToken:
    iat = int(now)
    exp = iat + lifetime_seconds
    claims = {
        "skypeid": user.removeprefix("8:"),
        "scp": scope_bits(scopes),
        "csi": str(iat),
        "exp": exp,
        "acsScope": ",".join(sorted(scopes)),
        "resourceId": fmt.resource_id,
        "resourceLocation": fmt.location,
        "iat": iat,
        "iss": fmt.issuer,
        "aud": fmt.audience,
        "gen": generation,
    }
    # The claims' only free text is these strings (names, numbers and JSON's own punctuation never
    # hold one of the unsafe characters), so they are checked, not the serialized claims.
    if _UNSAFE_FOR_STD_B64.intersection(user + fmt.resource_id + fmt.location + fmt.issuer):
        # Cannot happen with Telex's own ids; refuse rather than mint a token the SDK can't read.
        raise TelexError(ErrorCode.INTERNAL, "Token claims contain characters unsafe for ACS clients.")
    token = jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid, "typ": "JWT"})
    return IssuedToken(token=token, expires_at=exp)


def _invalid() -> TelexError:
    return TelexError(ErrorCode.INVALID_TOKEN, "The access token is invalid or expired.")


def decode_token(
    token: str,
    fmt: TokenFormat,
    keys: Mapping[str, SigningKey],
    now: float,
    leeway: int,
) -> Principal:
    """Verify signature, issuer, audience and times; raise ``InvalidToken`` on any failure.

    Contract: ``kid`` only selects among ``keys`` (never a path, URL or embedded key); the
    algorithm is ``ALGORITHM`` whatever the header says; ``exp``/``iat``/``nbf`` are checked
    against the injected ``now``. Revocation and scope are the caller's (``TokenVerifier``).
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise _invalid() from exc
    kid = header.get("kid")
    if not isinstance(kid, str) or kid not in keys or header.get("alg") != ALGORITHM:
        raise _invalid()
    try:
        claims = jwt.decode(
            token,
            keys[kid].private_key.public_key(),
            algorithms=[ALGORITHM],
            audience=fmt.audience,
            issuer=fmt.issuer,
            options={
                "require": ["exp", "iat", "iss", "aud", "skypeid", "acsScope", "gen"],
                # Times are checked below against the injected clock.
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.PyJWTError as exc:
        raise _invalid() from exc
    return _principal(claims, kid, now, leeway)


def _principal(claims: Mapping[str, Any], kid: str, now: float, leeway: int) -> Principal:
    exp, iat, gen = claims["exp"], claims["iat"], claims["gen"]
    nbf = claims.get("nbf", iat)
    if not all(type(v) is int for v in (exp, iat, gen, nbf)):
        raise _invalid()
    if now >= exp + leeway or iat > now + leeway or nbf > now + leeway:
        raise _invalid()
    skypeid, names = claims["skypeid"], claims["acsScope"]
    if not isinstance(skypeid, str) or not isinstance(names, str):
        raise _invalid()
    try:
        scopes = frozenset(Scope(n) for n in names.split(",") if n)
    except ValueError as exc:
        raise _invalid() from exc
    return Principal(UserId("8:" + skypeid), scopes, iat, exp, gen, kid)


class LruCache(OrderedDict[str, Principal]):
    """A bounded map from token string to its verified principal."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity

    def put(self, key: str, value: Principal) -> None:
        self[key] = value
        self.move_to_end(key)
        if len(self) > self.capacity:
            self.popitem(last=False)
