"""TURN REST API credentials and nonces.

Credentials follow draft-uberti-behave-turn-rest-00 (the scheme coturn calls
``use-auth-secret``), so Telex and coturn relays accept the same ones::

    username = "<expiry unix seconds>:<user id>[#<token generation>]"
    password = base64(HMAC-SHA1(shared secret, username))
    key      = MD5(username ":" realm ":" password)        (RFC 8489 §9.2.2)

The token generation (the user's count of revocations when the credential was issued) binds the
credential to the user: once the user's tokens are revoked, or the user deleted, the TURN server
refuses it (``TurnCore``'s user check), though it has not expired. Relays that only know the
draft's scheme (coturn) see the whole ``<user id>#<generation>`` as the user part.

Every configured secret verifies (the first one signs), so a secret rotates without downtime.
A credential whose expiry is in the past, or further ahead than the configured window, is refused:
these credentials cannot be revoked, so a leaked ten-year one must not work (security.md §1.5).

Nonces are stateless: base64url(expiry || MAC) where the MAC binds the expiry to the client's
5-tuple under a per-process key, 12 characters in all. A nonce copied to another 5-tuple fails
(401); an expired one gets 438 and a fresh nonce (RFC 8489 §9.2.4, security.md §1.5).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from telex.turn.stun import long_term_key

__all__ = [
    "NonceStatus",
    "RestUser",
    "candidate_keys",
    "check_nonce",
    "make_credentials",
    "make_nonce",
    "parse_rest_username",
    "rest_password",
    "split_generation",
]

_MAX_USERNAME = 513  # RFC 8489 §14.3


def rest_password(secret: bytes, username: str) -> str:
    """The password for ``username`` under ``secret``."""
    return base64.b64encode(hmac.new(secret, username.encode(), hashlib.sha1).digest()).decode()


def make_credentials(
    secret: bytes, user_id: str, expiry: int, generation: int | None = None
) -> tuple[str, str]:
    """``(username, password)`` valid until the unix time ``expiry``, for the user's tokens of
    ``generation`` when given (a communication user; None for anyone else)."""
    # The expiry ends at the first colon (coturn parses it the same way), so user ids may
    # themselves contain colons, as ACS ids do ("8:acs:<resource>_<uuid>").
    if not user_id or "#" in user_id:
        raise ValueError("empty user id, or one with '#'")
    username = f"{int(expiry)}:{user_id}" + (f"#{int(generation)}" if generation is not None else "")
    return username, rest_password(secret, username)


def split_generation(user: str) -> tuple[str, int | None]:
    """``<user id>#<generation>`` into its parts (no generation: None)."""
    user_id, sep, generation = user.rpartition("#")
    if sep and user_id and generation.isascii() and generation.isdigit() and len(generation) <= 18:
        return user_id, int(generation)
    return user, None


@dataclass(frozen=True, slots=True)
class RestUser:
    """A REST username that verified: who (and the token generation it was issued for), until
    when, and the integrity key it proved."""

    username: str
    user_id: str
    expiry: int
    key: bytes
    generation: int | None = None


def parse_rest_username(username: str) -> tuple[int, str] | None:
    """Split ``<expiry>:<user>`` (the user with its generation, if any); ``None`` if malformed."""
    if len(username) > _MAX_USERNAME:
        return None
    expiry_text, sep, user_id = username.partition(":")
    if not sep or not user_id or not expiry_text.isascii() or not expiry_text.isdigit():
        return None
    return int(expiry_text), user_id


def candidate_keys(
    username: str, realm: str, secrets: Sequence[bytes], now: float, max_window: float
) -> list[RestUser]:
    """Integrity keys to try for ``username``: one per secret, or none if the name is refused.

    Refused: malformed, expired (``expiry <= now``) or expiring later than ``now + max_window``.
    """
    parsed = parse_rest_username(username)
    if parsed is None:
        return []
    expiry, user = parsed
    if expiry <= now or expiry > now + max_window:
        return []
    user_id, generation = split_generation(user)
    return [
        RestUser(
            username, user_id, expiry, long_term_key(username, realm, rest_password(s, username)), generation
        )
        for s in secrets
    ]


class NonceStatus(Enum):
    VALID = "valid"
    STALE = "stale"  # ours and for this 5-tuple, but expired: 438
    INVALID = "invalid"  # forged, mangled or minted for another 5-tuple: 401


_NONCE_CHARS = 12  # base64 of 3 bytes of expiry and 6 of MAC
_EXPIRY_WRAP = 1 << 24  # the expiry is kept modulo 2^24 seconds (194 days)
_MAX_NONCE_LIFETIME = 86400  # what the settings allow; a wrapped remainder beyond it is stale


def _nonce_mac(key: bytes, expiry: bytes, five_tuple: str) -> bytes:
    return hmac.new(key, expiry + five_tuple.encode(), hashlib.sha256).digest()[:6]


def make_nonce(key: bytes, five_tuple: str, now: float, lifetime: float) -> str:
    """A nonce for ``five_tuple`` that expires ``lifetime`` seconds after ``now``.

    9 bytes (3 of expiry modulo 2^24 seconds, 6 of MAC) as 12 base64url characters: short on
    purpose, since the nonce is most of a 401's size and 401s are what spoofed requests reflect.
    With it an unauthenticated 401 is 56 bytes, twice the 28-byte Allocate that asks for it
    (security.md T-01, G7: at most 2x). A 48-bit MAC is plenty for what a nonce protects: it
    binds a challenge to a 5-tuple and a deadline; the credential is what authenticates.
    """
    expiry = (int(now + lifetime) % _EXPIRY_WRAP).to_bytes(3, "big")
    return base64.urlsafe_b64encode(expiry + _nonce_mac(key, expiry, five_tuple)).decode()


def check_nonce(key: bytes, nonce: str, five_tuple: str, now: float) -> NonceStatus:
    if len(nonce) != _NONCE_CHARS:
        return NonceStatus.INVALID
    try:
        raw = base64.urlsafe_b64decode(nonce)
    except (ValueError, binascii.Error):
        return NonceStatus.INVALID
    expiry, mac = raw[:3], raw[3:]
    if not hmac.compare_digest(mac, _nonce_mac(key, expiry, five_tuple)):
        return NonceStatus.INVALID
    remaining = (int.from_bytes(expiry, "big") - int(now)) % _EXPIRY_WRAP
    return NonceStatus.VALID if 0 < remaining <= _MAX_NONCE_LIFETIME else NonceStatus.STALE
