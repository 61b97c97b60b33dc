"""Why a call ended: the ``Reason`` header (RFC 3326), Q.850 causes, and the mapping between a
SIP final status and the end reason a Telex call reports.

    trunk ── 486 Busy Here, Reason: Q.850;cause=17 ──► end_cause_for(486, reason) ─► BUSY
    Telex ── EndCause.DECLINED ──► rejection_for(DECLINED) ─► 603 + Reason: Q.850;cause=21

Q.850 ↔ SIP follows RFC 3398 §7.2.4.1 (SIP status → ISUP cause) and §8.2.6.1 (ISUP cause → SIP
status). ``EndCause`` values reuse the words of ``telex.calling``'s end reasons where one fits
(``declined``, ``cancelled``, ``missed``, ``hungUp``, ``remoteHungUp``, ``connectionLost``) and
add the PSTN ones a WebRTC call has no word for yet (``busy``, ``notFound``, ``unavailable``,
``forbidden``, ``failed``); this module imports nothing above it, so the gateway maps them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from telex.sip._syntax import is_digits
from telex.sip.errors import SipParseError
from telex.sip.headers import split_values
from telex.sip.uri import parse_params, quote_display_name

__all__ = [
    "END_CAUSE_BY_STATUS",
    "Q850_CAUSES",
    "Q850_TO_STATUS",
    "STATUS_TO_Q850",
    "EndCause",
    "Reason",
    "end_cause_for",
    "format_reason",
    "parse_reasons",
    "q850_reason",
    "rejection_for",
]


class EndCause(StrEnum):
    HUNG_UP = "hungUp"  # this side ended an established call (we sent BYE)
    REMOTE_HUNG_UP = "remoteHungUp"  # the other side sent BYE
    CANCELLED = "cancelled"  # the caller gave up before an answer (CANCEL, 487)
    DECLINED = "declined"  # 603 Decline, Q.850 21 call rejected
    BUSY = "busy"  # 486, 600, Q.850 17
    MISSED = "missed"  # rang, nobody answered (480 / 408 from the far end, Q.850 18, 19)
    NOT_FOUND = "notFound"  # no such number (404, 604, 484, 410, Q.850 1, 3, 22, 28)
    UNAVAILABLE = (
        "unavailable"  # the network could not reach it (5xx, our own timeouts, Q.850 27, 34, 38, 41…)
    )
    FORBIDDEN = "forbidden"  # the trunk refused us (403, authentication that could not be answered)
    FAILED = "failed"  # anything else: incompatible media (488), redirects we do not follow
    CONNECTION_LOST = "connectionLost"  # an established dialog died (no ACK, BYE timed out)


# ITU-T Q.850 Table 1 (the causes a SIP trunk actually sends).
Q850_CAUSES = {
    1: "Unallocated (unassigned) number",
    2: "No route to specified transit network",
    3: "No route to destination",
    16: "Normal call clearing",
    17: "User busy",
    18: "No user responding",
    19: "No answer from user (user alerted)",
    20: "Subscriber absent",
    21: "Call rejected",
    22: "Number changed",
    26: "Non-selected user clearing",
    27: "Destination out of order",
    28: "Invalid number format (address incomplete)",
    29: "Facility rejected",
    31: "Normal, unspecified",
    34: "No circuit/channel available",
    38: "Network out of order",
    41: "Temporary failure",
    42: "Switching equipment congestion",
    47: "Resource unavailable, unspecified",
    55: "Incoming calls barred within CUG",
    57: "Bearer capability not authorized",
    58: "Bearer capability not presently available",
    65: "Bearer capability not implemented",
    79: "Service or option not implemented, unspecified",
    88: "Incompatible destination",
    102: "Recovery on timer expiry",
    111: "Protocol error, unspecified",
    127: "Interworking, unspecified",
}

# RFC 3398 §8.2.6.1: the SIP status a gateway sends for an ISUP release cause.
Q850_TO_STATUS = {
    1: 404, 2: 404, 3: 404, 17: 486, 18: 408, 19: 480, 20: 480, 21: 403, 22: 410, 26: 404,
    27: 502, 28: 484, 29: 501, 31: 480, 34: 503, 38: 503, 41: 503, 42: 503, 47: 503, 55: 403,
    57: 403, 58: 503, 65: 488, 79: 501, 88: 503, 102: 504, 111: 500, 127: 500,
}  # fmt: skip

# RFC 3398 §7.2.4.1: the ISUP cause for a SIP status (487 is not in its table; 127 is its
# "interworking, unspecified" default, and a cancel is a normal clearing, so 16 is used).
STATUS_TO_Q850 = {
    400: 41, 401: 21, 402: 21, 403: 21, 404: 1, 405: 63, 406: 79, 407: 21, 408: 102, 410: 22,
    413: 127, 414: 127, 415: 79, 416: 127, 420: 127, 421: 127, 423: 127, 480: 18, 481: 41,
    482: 25, 483: 25, 484: 28, 485: 1, 486: 17, 487: 16, 488: 127, 500: 41, 501: 79, 502: 38,
    503: 41, 504: 102, 505: 127, 513: 127, 600: 17, 603: 21, 604: 1, 606: 58,
}  # fmt: skip

# What a failed INVITE means to the caller: the table the gateway reports end reasons from.
END_CAUSE_BY_STATUS = {
    401: EndCause.FORBIDDEN, 403: EndCause.FORBIDDEN, 407: EndCause.FORBIDDEN,
    404: EndCause.NOT_FOUND, 410: EndCause.NOT_FOUND, 484: EndCause.NOT_FOUND,
    485: EndCause.NOT_FOUND, 604: EndCause.NOT_FOUND,
    408: EndCause.MISSED, 480: EndCause.MISSED,
    486: EndCause.BUSY, 600: EndCause.BUSY,
    487: EndCause.CANCELLED,
    603: EndCause.DECLINED,
    500: EndCause.UNAVAILABLE, 502: EndCause.UNAVAILABLE, 503: EndCause.UNAVAILABLE,
    504: EndCause.UNAVAILABLE,
}  # fmt: skip

# A Q.850 cause in the failure's Reason header is more precise than the status (a 480 may be
# "no answer" or "subscriber absent"), so these win when present.
_END_CAUSE_BY_Q850 = {
    1: EndCause.NOT_FOUND, 3: EndCause.NOT_FOUND, 22: EndCause.NOT_FOUND, 28: EndCause.NOT_FOUND,
    17: EndCause.BUSY, 18: EndCause.MISSED, 19: EndCause.MISSED, 20: EndCause.UNAVAILABLE,
    21: EndCause.DECLINED, 27: EndCause.UNAVAILABLE, 34: EndCause.UNAVAILABLE,
    38: EndCause.UNAVAILABLE, 41: EndCause.UNAVAILABLE, 42: EndCause.UNAVAILABLE,
}  # fmt: skip

# What we send when Telex ends a SIP leg for a reason: (status for an unanswered INVITE, Q.850).
_REJECTIONS = {
    EndCause.DECLINED: (603, 21),
    EndCause.BUSY: (486, 17),
    EndCause.MISSED: (480, 19),
    EndCause.NOT_FOUND: (404, 1),
    EndCause.UNAVAILABLE: (503, 41),
    EndCause.FORBIDDEN: (403, 21),
    EndCause.FAILED: (500, 127),
    EndCause.CANCELLED: (487, 16),
    EndCause.HUNG_UP: (480, 16),
    EndCause.REMOTE_HUNG_UP: (480, 16),
    EndCause.CONNECTION_LOST: (480, 41),
}


@dataclass(frozen=True, slots=True)
class Reason:
    """One value of the Reason header: a protocol (``Q.850`` or ``SIP``), a cause, a text."""

    protocol: str
    cause: int | None
    text: str | None = None

    def __str__(self) -> str:
        return format_reason(self)


def format_reason(reason: Reason) -> str:
    out = reason.protocol
    if reason.cause is not None:
        out += f";cause={reason.cause}"
    if reason.text is not None:
        out += f";text={quote_display_name(reason.text)}"
    return out


def parse_reasons(values: list[str]) -> list[Reason]:
    """Every Reason value in the header lines given (RFC 3326 §2); a bad one raises."""
    out: list[Reason] = []
    for line in values:
        for value in split_values(line):
            protocol, semi, rest = value.partition(";")
            protocol = protocol.strip(" \t")
            if not protocol:
                raise SipParseError("Reason without protocol")
            params = dict(parse_params(rest)) if semi else {}
            cause_text = params.get("cause")
            cause: int | None = None
            if cause_text:
                if not is_digits(cause_text, 5):
                    raise SipParseError("bad Reason cause")
                cause = int(cause_text)
            out.append(Reason(protocol, cause, params.get("text")))
    return out


def q850_reason(cause: int) -> Reason:
    return Reason("Q.850", cause, Q850_CAUSES.get(cause))


def end_cause_for(status: int, reasons: Sequence[Reason] = ()) -> EndCause:
    """The end reason of an INVITE that failed with ``status`` (a 3xx-6xx)."""
    for reason in reasons:
        if reason.protocol.upper() == "Q.850" and reason.cause in _END_CAUSE_BY_Q850:
            return _END_CAUSE_BY_Q850[reason.cause]
    if status in END_CAUSE_BY_STATUS:
        return END_CAUSE_BY_STATUS[status]
    if 500 <= status < 600:
        return EndCause.UNAVAILABLE
    return EndCause.FAILED


def rejection_for(cause: EndCause) -> tuple[int, Reason]:
    """The status and Reason to send when Telex ends a SIP leg that was not answered."""
    status, q850 = _REJECTIONS[cause]
    return status, q850_reason(q850)
