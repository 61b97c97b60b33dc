"""What a test's calling client heard: DTMF keys in the last second of a participant's audio."""

from __future__ import annotations

import asyncio

from telex.automation.media.audio import Resampler
from telex.automation.media.dtmf import DtmfDetector
from telex.client.calling import Call

__all__ = ["heard_keys", "wait_heard"]


def heard_keys(call: Call, user: str | None = None) -> list[str]:
    """Keys found in the frames kept from ``user`` (any participant when None)."""
    keys: list[str] = []
    for remote in call.participants.values():
        if user is not None and remote.user_id != user:
            continue
        detector, rs = DtmfDetector(), Resampler()
        keys += [t.key for f in list(remote.last_frames) for t in detector.feed(rs.pcm(f))]
    return keys


async def wait_heard(call: Call, key: str, user: str | None = None, within: float = 5.0) -> None:
    """Until ``key`` is in what ``call`` heard (from ``user``): a tone the server finished sending
    may still be on its way, later on a loaded machine; the last second is checked every 50 ms so
    the tone cannot scroll past unseen."""
    async with asyncio.timeout(within):
        while key not in heard_keys(call, user):
            await asyncio.sleep(0.05)
