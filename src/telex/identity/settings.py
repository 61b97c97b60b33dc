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
    # The management API's rate limits, per node, as ACS documents them (service-limits): create
    # identity, issue token (and create with a token) 1,000 each per 30 s; delete identity and
    # revoke tokens 500 each per 30 s. 429 with Retry-After beyond; 0 turns one off.
    issue_per_30s: int = Field(default=1000, ge=0)
    revoke_per_30s: int = Field(default=500, ge=0)
    # Requests with a bad HMAC signature from one client address in any minute; beyond, that
    # address gets 429 without its signatures being checked (online key guessing).
    hmac_failures_per_minute: int = Field(default=30, ge=0)
