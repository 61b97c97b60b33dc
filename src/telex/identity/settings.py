"""Settings of identity: HMAC, tokens, the keyring (the ``[identity]`` section)."""

from __future__ import annotations

from pydantic import Field

from telex.core.settings import StrictSettings

__all__ = ["IdentitySettings"]


class IdentitySettings(StrictSettings):
    """Management-plane auth and user tokens."""

    # acs-wire.md §2.1: other Azure HMAC services allow ±15 minutes; ACS documents none.
    hmac_skew_seconds: int = Field(default=900, ge=1, le=3600)
    # How long a node may trust a cached "revoked before" instant (the issue asks ≤ 1 s).
    revocation_cache_seconds: float = Field(default=0.5, ge=0, le=1)
    # How often a node re-reads the keyring (access and signing keys) from the store.
    keyring_refresh_seconds: float = Field(default=1.0, gt=0, le=60)
    token_leeway_seconds: int = Field(default=30, ge=0, le=60)
    resource_location: str = "local"
