"""Call Automation's secrets, shared by every node through the keyring table, and the bearer
JWT on callbacks with the JWKS that verifies it.

    keyring table rows (first writer wins, like the rest of the keyring):
      automation.context_secret   32 random bytes: HMAC of incomingCallContext
      automation.callback_key     an EC P-256 key (PEM) signing callback JWTs, ES256
      automation.callback_kid     its key id
      automation.app_user         the identity an application is in calls as when it names none

    callback ──► Authorization: Bearer <JWT>   iss = the public URL, aud = the resource id,
                                               iat/nbf/exp (5 minutes), jti = the delivery's id
    GET /calling/.well-known/acsopenidconfiguration ─► {"issuer", "jwks_uri", …}
    GET /calling/.well-known/acskeys                ─► {"keys": [the public JWK]}

ACS signs its callbacks the same way (a bearer JWT from an OpenID configuration, audience the
resource id, five-minute lifetime; acs-wire.md §3.7), so an application's existing check works
once it points at Telex's configuration.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from telex.store.database import Database
from telex.store.schema import keyring

__all__ = ["AutomationKeys", "CallbackSigner"]

_NAMES = (
    "automation.context_secret",
    "automation.callback_key",
    "automation.callback_kid",
    "automation.app_user",
)


def _pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


@dataclass(frozen=True, slots=True)
class AutomationKeys:
    context_secret: bytes
    callback_key: ec.EllipticCurvePrivateKey
    callback_kid: str
    app_user: str

    @classmethod
    async def load(cls, db: Database, new_app_user: str, now: float) -> AutomationKeys:
        """The stored keys, created on the first start (every node then reads the same ones)."""
        fresh = {
            "automation.context_secret": base64.b64encode(secrets.token_bytes(32)).decode("ascii"),
            "automation.callback_key": _pem(ec.generate_private_key(ec.SECP256R1())),
            "automation.callback_kid": uuid.uuid4().hex[:16],
            "automation.app_user": new_app_user,
        }
        async with db.read() as conn:
            rows = {
                r.name: r.value for r in await conn.execute(select(keyring).where(keyring.c.name.in_(_NAMES)))
            }
        missing = [n for n in _NAMES if n not in rows]
        if missing:
            try:
                async with db.write() as conn:
                    await conn.execute(
                        insert(keyring), [{"name": n, "value": fresh[n], "updated_at": now} for n in missing]
                    )
                rows.update({n: fresh[n] for n in missing})
            except IntegrityError:  # another node created them first: read its
                async with db.read() as conn:
                    rows = {
                        r.name: r.value
                        for r in await conn.execute(select(keyring).where(keyring.c.name.in_(_NAMES)))
                    }
        key = serialization.load_pem_private_key(
            rows["automation.callback_key"].encode("ascii"), password=None
        )
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return cls(
            base64.b64decode(rows["automation.context_secret"]),
            key,
            rows["automation.callback_kid"],
            rows["automation.app_user"],
        )


def _b64url_int(value: int, size: int) -> str:
    return base64.urlsafe_b64encode(value.to_bytes(size, "big")).rstrip(b"=").decode("ascii")


class CallbackSigner:
    """Mints the callback JWTs and publishes their keys."""

    def __init__(self, keys: AutomationKeys, issuer: str, audience: str, lifetime: int) -> None:
        self._keys = keys
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self._lifetime = lifetime

    def token(self, now: float, delivery_id: str) -> str:
        iat = int(now)
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "iat": iat,
            "nbf": iat,
            "exp": iat + self._lifetime,
            "jti": delivery_id,
        }
        return jwt.encode(
            claims, self._keys.callback_key, algorithm="ES256", headers={"kid": self._keys.callback_kid}
        )

    def jwks(self) -> dict[str, Any]:
        numbers = self._keys.callback_key.public_key().public_numbers()
        return {
            "keys": [
                {
                    "kty": "EC",
                    "crv": "P-256",
                    "use": "sig",
                    "alg": "ES256",
                    "kid": self._keys.callback_kid,
                    "x": _b64url_int(numbers.x, 32),
                    "y": _b64url_int(numbers.y, 32),
                }
            ]
        }

    def openid_configuration(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": f"{self.issuer}/calling/.well-known/acskeys",
            "id_token_signing_alg_values_supported": ["ES256"],
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
        }
