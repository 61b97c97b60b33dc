"""Settings of calls (the ``[calling]`` section)."""

from __future__ import annotations

from pydantic import Field

from telex.core.settings import StrictSettings

__all__ = ["CallingSettings"]


class CallingSettings(StrictSettings):
    """Voice, video and data calls (the ``[calling]`` section)."""

    # An unanswered invitation ends with the ``missed`` reason after this long.
    ring_timeout_seconds: float = Field(default=60.0, gt=0, le=600)
    # Calls are a full mesh of WebRTC peer connections until a media server exists: every
    # participant sends to every other, so upstream bandwidth grows with the size of the call.
    max_participants: int = Field(default=6, ge=2, le=32)
    # Largest SDP or ICE candidate a client may send through signaling.
    max_signal_bytes: int = Field(default=64 * 1024, ge=1024, le=1 << 20)
    # A joined participant whose client sends no ``:keepAlive`` for this long is dropped with
    # ``connectionLost`` (a closed laptop, a crashed tab): otherwise it would stay "connected",
    # hold a mesh slot and keep a group call from ever ending. 0 turns this off. 90 s because
    # Chrome throttles timers in a tab hidden for 5 minutes to one wake-up a minute.
    keepalive_timeout_seconds: float = Field(default=90.0, ge=0, le=3600)
    # Invitations (each target of a started call) per caller and per callee in any minute, per
    # node; 429 with Retry-After beyond. ACS documents none; one caller used to ring a victim 497
    # times in 5 s. 0 turns either off.
    invitations_per_caller_per_minute: int = Field(default=30, ge=0)
    invitations_per_callee_per_minute: int = Field(default=10, ge=0)
    # The ringing timer re-checks the store at least this often (another node may add deadlines).
    timer_poll_seconds: float = Field(default=1.0, gt=0, le=60)
