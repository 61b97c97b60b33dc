"""Settings of Call Automation and its server-side media (the ``[automation]`` section)."""

from __future__ import annotations

from pydantic import Field

from telex.core.settings import StrictSettings

__all__ = ["AutomationSettings"]


class AutomationSettings(StrictSettings):
    """Call Automation (the ``[automation]`` section); docs/call-automation.md explains each key."""

    enabled: bool = True
    # Server-side media sessions (bots in calls) one node runs at once; beyond that, answering
    # or placing a call gets 503 with Retry-After (the SDKs retry), so a node's CPU is never
    # exhausted by bots. Each session costs about one Opus decode and encode per participant.
    max_media_sessions: int = Field(default=32, ge=0, le=10_000)
    # Threads that fetch-decode play sources (MP3 decoding is CPU work).
    decode_threads: int = Field(default=2, ge=1, le=64)
    # Play sources: largest download, longest audio, and how many decoded sources the cache
    # keeps (by ``playSourceCacheId``, else by URL).
    max_source_bytes: int = Field(default=16 * 1024 * 1024, ge=1024, le=1 << 30)
    max_source_seconds: float = Field(default=600.0, gt=0, le=7200)
    source_cache_entries: int = Field(default=64, ge=0, le=10_000)
    # Server-side media reaches browsers through the TURN relay, as clients do (their ICE
    # servers come from the same relay configuration); off: host candidates too.
    media_relay_only: bool = True
    # Callbacks: Event Grid's retry schedule, compressed by this factor (tests use 1000).
    callback_retry_compression: float = Field(default=1.0, ge=1.0, le=1e6)
    # At most this many callback deliveries are in flight per node (one per call connection).
    callback_concurrency: int = Field(default=64, ge=1, le=10_000)
    # Lifetime of the bearer JWT on each callback (ACS: 5 minutes).
    callback_token_seconds: int = Field(default=300, ge=60, le=3600)
    # Where callbacks and play sources may go is the node's one outbound policy ([outbound]).
    # Recordings are kept under data_dir/recordings; deleted after this many days (0: never).
    recording_retention_days: float = Field(default=2.0, ge=0, le=3650)
