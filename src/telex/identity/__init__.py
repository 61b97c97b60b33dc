"""Identity: access keys and HMAC request signing, users, and user access tokens.

What other capabilities and the composition root may use is exported here; the routes
(``identity.api``) import the web layer and are wired by the composition root.
"""

from telex.identity.hmac_auth import HmacFailure, SignedRequest
from telex.identity.keyring import KeyringHolder, encode_key
from telex.identity.repository import SqlKeyringRepository, SqlUserRepository, UserRepository
from telex.identity.scopes import Scope
from telex.identity.service import IdentityService
from telex.identity.settings import IdentitySettings
from telex.identity.tokens import IssuedToken, Principal
from telex.identity.verifier import TokenVerifier

__all__ = [
    "HmacFailure",
    "IdentityService",
    "IdentitySettings",
    "IssuedToken",
    "KeyringHolder",
    "Principal",
    "Scope",
    "SignedRequest",
    "SqlKeyringRepository",
    "SqlUserRepository",
    "TokenVerifier",
    "UserRepository",
    "encode_key",
]
