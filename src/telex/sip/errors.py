"""The two kinds of SIP error, as in h11: the peer broke the protocol, or the caller misused the API.

``SipParseError`` is the only exception the parsers raise on hostile or broken input (a message,
a URI, a header, SDP, a digest challenge); the UA core catches it at its edge and drops or answers
400, so a malformed packet never escapes as anything else. ``SipUsageError`` means code in this
process asked for something the state does not allow (answer a call twice, BYE before a dialog).
"""

from __future__ import annotations

__all__ = ["SipParseError", "SipUsageError"]


class SipParseError(ValueError):
    """Bytes or text from a peer that do not follow the grammar (RFC 3261 §25, RFC 8866 §9)."""


class SipUsageError(RuntimeError):
    """A call of the API that the current state does not allow."""
