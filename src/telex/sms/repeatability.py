"""Repeatable requests for SMS: per recipient, ``repeatabilityRequestId`` + ``repeatabilityFirstSent``
(ACS SMS 2021-03-07 carries them in the body; OASIS Repeatable Requests v1.0 gives the rules).
Sans-I/O: values and ``now`` in, a decision out; the service keeps the record.

    neither field                    ─► no repeatability: every request is new
    one field only, a malformed id   ─► 400 (rejected)
    or date, or a date in the future
    first sent longer ago than the window ─► 412 (rejected)
    id never seen                    ─► new; the result is recorded with a hash of the request
    id seen, same hash               ─► the recorded result again (accepted)
    id seen, other hash              ─► 400 (rejected): the id was used for another request

The hash covers what makes the message: sender, recipient, text, delivery-report flag and tag.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import Enum

__all__ = ["Check", "Repeatability", "check", "request_hash"]

# A client's clock may run ahead of ours by this much (the HMAC date window is as wide).
FUTURE_SKEW = 300.0


class Check(Enum):
    NONE = "none"  # no repeatability asked for
    NEW = "new"  # to be checked against the record, then recorded
    INVALID = "invalid"  # 400
    TOO_OLD = "too old"  # 412


@dataclass(frozen=True, slots=True)
class Repeatability:
    check: Check
    request_id: str | None = None
    reason: str = ""


def check(request_id: str | None, first_sent: str | None, now: float, window: float) -> Repeatability:
    if request_id is None and first_sent is None:
        return Repeatability(Check.NONE)
    if request_id is None or first_sent is None:
        return Repeatability(
            Check.INVALID, reason="repeatabilityRequestId and repeatabilityFirstSent go together."
        )
    try:
        canonical = str(uuid.UUID(request_id))
    except ValueError:
        return Repeatability(Check.INVALID, reason="repeatabilityRequestId must be a GUID.")
    if len(request_id) > 64:
        return Repeatability(Check.INVALID, reason="repeatabilityRequestId must be a GUID.")
    try:
        sent = parsedate_to_datetime(first_sent)
    except (TypeError, ValueError, IndexError):
        sent = None
    if sent is None or sent.tzinfo is None:
        return Repeatability(Check.INVALID, reason="repeatabilityFirstSent must be an RFC 1123 date.")
    at = sent.timestamp()
    if at > now + FUTURE_SKEW:
        return Repeatability(Check.INVALID, reason="repeatabilityFirstSent is in the future.")
    if now - at > window:
        return Repeatability(
            Check.TOO_OLD, reason="repeatabilityFirstSent is older than the repeatability window."
        )
    return Repeatability(Check.NEW, canonical)


def request_hash(sender: str, recipient: str, message: str, delivery_report: bool, tag: str | None) -> str:
    text = json.dumps([sender, recipient, message, delivery_report, tag], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
