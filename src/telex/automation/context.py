"""The ``incomingCallContext``: an opaque, signed, expiring ticket that names one ringing
participant of one call of one resource. Sans-I/O.

    IncomingCall event ◄── issue(call, participant, callee, expires) ── "v1.<payload>.<mac>"
    answer/reject/redirect ──► verify(text, now) ──► Ticket ──► the service checks that the
                                                                participant still rings

payload = base64url(JSON {"r": resource id, "c": call id, "p": participant id, "u": callee raw
id, "x": expiry (epoch seconds)}); mac = base64url(HMAC-SHA256(secret, "v1." + payload)).

What each property costs an attacker (security.md §2.2, sip.md §5 risk 7):

* *forged*: without the secret no MAC verifies (constant-time comparison; the secret is 32
  random bytes in the keyring table, shared by every node);
* *used by another resource*: the resource id is inside the MAC and checked; another Telex
  resource has another secret anyway;
* *reused after the call ended, or after it was answered*: the ticket is only a claim; the
  service answers only a participant that still rings, so a ticket is good for one answer,
  reject or redirect, and never after the invitation ended (``x`` bounds it further).

The payload is readable (base64) but says nothing its holder does not already know from the
event it came in. The same inputs always give the same ticket, so re-rendering an event (a
webhook retry, a replay) gives the same context.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass

from telex.core.errors import ErrorCode, TelexError

__all__ = ["ContextSigner", "Ticket", "invalid_context"]

_VERSION = "v1"
_MAX_LENGTH = 2048


@dataclass(frozen=True, slots=True)
class Ticket:
    resource: str
    call_id: str
    participant_id: str
    callee: str
    expires: int


def invalid_context() -> TelexError:
    # One answer for forged, garbled, expired and foreign contexts: no oracle.
    return TelexError(ErrorCode.BAD_REQUEST, "The incomingCallContext is not valid.")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ContextSigner:
    """Issues and verifies contexts; the first secret signs, every secret verifies (rotation)."""

    def __init__(self, resource: str, secrets: Sequence[bytes]) -> None:
        if not secrets or any(len(s) < 32 for s in secrets):
            raise ValueError("context secrets are at least 32 bytes")
        self._resource = resource
        self._secrets = tuple(secrets)

    def _mac(self, secret: bytes, signed: str) -> str:
        return _b64(hmac.new(secret, signed.encode("ascii"), hashlib.sha256).digest())

    def issue(self, call_id: str, participant_id: str, callee: str, expires: float) -> str:
        body = {"r": self._resource, "c": call_id, "p": participant_id, "u": callee, "x": int(expires)}
        payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
        signed = f"{_VERSION}.{payload}"
        return f"{signed}.{self._mac(self._secrets[0], signed)}"

    def verify(self, text: str, now: float) -> Ticket:
        """The ticket if ``text`` is a context this resource issued that has not expired;
        ``invalid_context()`` (400) otherwise."""
        if not isinstance(text, str) or len(text) > _MAX_LENGTH:
            raise invalid_context()
        version, _, rest = text.partition(".")
        payload, _, mac = rest.partition(".")
        if version != _VERSION or not payload or not mac:
            raise invalid_context()
        signed = f"{version}.{payload}"
        if not any(hmac.compare_digest(self._mac(s, signed), mac) for s in self._secrets):
            raise invalid_context()
        try:
            body = json.loads(_unb64(payload))
            ticket = Ticket(str(body["r"]), str(body["c"]), str(body["p"]), str(body["u"]), int(body["x"]))
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise invalid_context() from exc
        if ticket.resource != self._resource or ticket.expires <= now:
            raise invalid_context()
        return ticket
