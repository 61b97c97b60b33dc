"""TURN REST API credentials and nonces.

Credentials follow draft-uberti-behave-turn-rest-00 (the scheme coturn calls
``use-auth-secret``), so Telex and coturn relays accept the same ones::

    username = "<expiry unix seconds>:<user id>"
    password = base64(HMAC-SHA1(shared secret, username))
    key      = MD5(username ":" realm ":" password)        (RFC 8489 §9.2.2)

Every configured secret verifies (the first one signs), so a secret rotates without downtime.
A credential whose expiry is in the past, or further ahead than the configured window, is refused:
these credentials cannot be revoked, so a leaked ten-year one must not work (security.md §1.5).

Nonces are stateless: base64url(expiry || MAC) where the MAC binds the expiry to the client's
5-tuple under a per-process key. A nonce copied to another 5-tuple fails (401); an expired one gets
438 and a fresh nonce (RFC 8489 §9.2.4, security.md §1.5).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
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
]

_MAX_USERNAME = 513  # RFC 8489 §14.3


def rest_password(secret: bytes, username: str) -> str:
    """The password for ``username`` under ``secret``."""
    return base64.b64encode(hmac.new(secret, username.encode(), hashlib.sha1).digest()).decode()


def make_credentials(secret: bytes, user_id: str, expiry: int) -> tuple[str, str]:
    """``(username, password)`` valid until the unix time ``expiry``."""
    # The expiry ends at the first colon (coturn parses it the same way), so user ids may
    # themselves contain colons, as ACS ids do ("8:acs:<resource>_<uuid>").
    if not user_id:
        raise ValueError("empty user id")
    username = f"{int(expiry)}:{user_id}"
    return username, rest_password(secret, username)


@dataclass(frozen=True, slots=True)
class RestUser:
    """A REST username that verified: who, until when, and the integrity key it proved."""

    username: str
    user_id: str
    expiry: int
    key: bytes


def parse_rest_username(username: str) -> tuple[int, str] | None:
    """Split ``<expiry>:<user>``; ``None`` if malformed."""
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
    expiry, user_id = parsed
    if expiry <= now or expiry > now + max_window:
        return []
    return [
        RestUser(username, user_id, expiry, long_term_key(username, realm, rest_password(s, username)))
        for s in secrets
    ]


class NonceStatus(Enum):
    VALID = "valid"
    STALE = "stale"  # ours and for this 5-tuple, but expired: 438
    INVALID = "invalid"  # forged, mangled or minted for another 5-tuple: 401


def _nonce_mac(key: bytes, expiry: bytes, five_tuple: str) -> bytes:
    return hmac.new(key, expiry + five_tuple.encode(), hashlib.sha256).digest()[:8]


def make_nonce(key: bytes, five_tuple: str, now: float, lifetime: float) -> str:
    """A nonce for ``five_tuple`` that expires ``lifetime`` seconds after ``now``.

    12 bytes (4 of expiry, 8 of MAC) as 16 base64url characters: short on purpose, since the
    nonce is most of a 401's size and 401s are what spoofed requests reflect (security.md T-01).
    """
    expiry = struct.pack("!I", int(now + lifetime) & 0xFFFFFFFF)
    return base64.urlsafe_b64encode(expiry + _nonce_mac(key, expiry, five_tuple)).decode()


def check_nonce(key: bytes, nonce: str, five_tuple: str, now: float) -> NonceStatus:
    if len(nonce) != 16:
        return NonceStatus.INVALID
    try:
        raw = base64.urlsafe_b64decode(nonce)
    except (ValueError, binascii.Error):
        return NonceStatus.INVALID
    expiry, mac = raw[:4], raw[4:]
    if not hmac.compare_digest(mac, _nonce_mac(key, expiry, five_tuple)):
        return NonceStatus.INVALID
    return NonceStatus.VALID if now < struct.unpack("!I", expiry)[0] else NonceStatus.STALE
