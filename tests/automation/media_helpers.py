"""What a test's calling client heard: DTMF keys in the last second of a participant's audio."""

from __future__ import annotations

from telex.automation.media.audio import Resampler
from telex.automation.media.dtmf import DtmfDetector
from telex.client.calling import Call

__all__ = ["heard_keys"]


def heard_keys(call: Call, user: str | None = None) -> list[str]:
    """Keys found in the frames kept from ``user`` (any participant when None)."""
    keys: list[str] = []
    for remote in call.participants.values():
        if user is not None and remote.user_id != user:
            continue
        detector, rs = DtmfDetector(), Resampler()
        keys += [t.key for f in list(remote.last_frames) for t in detector.feed(rs.pcm(f))]
    return keys
