"""Settings of chat (the ``[chat]`` section)."""

from __future__ import annotations

from pydantic import Field

from telex.core.settings import StrictSettings

__all__ = ["ChatSettings"]


class ChatSettings(StrictSettings):
    """Chat limits (acs-wire.md §4). Rate limits are per node."""

    max_content_bytes: int = Field(default=28 * 1024, ge=1)
    # Message metadata (ACS documents none for messages; 1 KB in all for thread and participant
    # metadata): keys, the UTF-8 bytes of one key and one value, and of all keys and values
    # together. An edit's metadata replaces the message's (it is not merged into it).
    max_metadata_keys: int = Field(default=32, ge=1, le=1000)
    max_metadata_key_bytes: int = Field(default=256, ge=1)
    max_metadata_value_bytes: int = Field(default=4096, ge=1)
    max_metadata_bytes: int = Field(default=8192, ge=1)
    max_participants: int = Field(default=250, ge=1)
    max_participants_per_batch: int = Field(default=200, ge=1)
    max_page_size: int = Field(default=200, ge=1)
    default_page_size: int = Field(default=100, ge=1)
    # ACS turns typing notifications and read receipts off above this many participants.
    signals_max_participants: int = Field(default=20, ge=0)
    # Rate limits (0 disables one): ACS documents these values.
    threads_per_user_per_10s: int = Field(default=10, ge=0)
    messages_per_thread_per_10s: int = Field(default=10, ge=0)
    messages_per_thread_per_minute: int = Field(default=30, ge=0)
    typing_per_user_per_10s: int = Field(default=5, ge=0)
