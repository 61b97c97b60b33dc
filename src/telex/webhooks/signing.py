"""Standard Webhooks signatures: sign what Telex sends, verify what a receiver gets.

    sender:   body, msg id, now ──► HMAC-SHA256(key, "{id}.{timestamp}.{body}") per secret
                                ──► webhook-id, webhook-timestamp, webhook-signature: "v1,<b64> v1,<b64>"
    receiver: headers, body, now ──► timestamp within tolerance? ──► any v1 signature matches? ──► ok

The scheme is the Standard Webhooks specification (push-events-sms.md §5.4, security.md §2.5):
a secret is ``whsec_`` followed by the base64 of the key bytes; the signed content is the message
id, the integer Unix timestamp and the raw body joined by dots; ``webhook-signature`` is a
space-separated list of ``<version>,<base64 signature>``. During a secret rotation the sender
signs with both secrets and the receiver accepts either, so the two sides never have to switch at
the same instant. ``webhook-id`` stays the same on every retry (it is the receiver's idempotency
key) while the timestamp and signatures are made afresh for each attempt, because receivers
reject timestamps outside their tolerance (five minutes in the reference implementation).

The HMAC is the standard library's; only the framing is written here, which is the whole spec.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from secrets import token_bytes

from telex.core.errors import ErrorCode, TelexError

__all__ = [
    "DEFAULT_TOLERANCE",
    "SignatureError",
    "WebhookSecret",
    "sign",
    "signature_headers",
    "verify",
]

DEFAULT_TOLERANCE = 300.0
_PREFIX = "whsec_"
# The spec bounds keys to 24–64 bytes; a longer key would be hashed down by HMAC anyway.
_MIN_KEY, _MAX_KEY = 24, 64


class SignatureError(TelexError):
    """A delivery whose signature does not verify; ``reason`` says which check failed (for logs)."""

    def __init__(self, reason: str) -> None:
        super().__init__(ErrorCode.UNAUTHORIZED, "webhook signature verification failed")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class WebhookSecret:
    """A signing key; ``str()`` gives the ``whsec_…`` form shown to the customer once."""

    key: bytes

    def __post_init__(self) -> None:
        if not _MIN_KEY <= len(self.key) <= _MAX_KEY:
            raise ValueError(f"a webhook secret is {_MIN_KEY}–{_MAX_KEY} bytes")

    @classmethod
    def generate(cls, size: int = 32) -> WebhookSecret:
        return cls(token_bytes(size))

    @classmethod
    def parse(cls, text: str) -> WebhookSecret:
        """Read ``whsec_<base64>``; raises ``ValueError`` on anything else."""
        if not text.startswith(_PREFIX):
            raise ValueError("a webhook secret starts with whsec_")
        try:
            return cls(base64.b64decode(text[len(_PREFIX) :], validate=True))
        except binascii.Error as exc:
            raise ValueError("a webhook secret is whsec_ followed by base64") from exc

    def __str__(self) -> str:
        return _PREFIX + base64.b64encode(self.key).decode()

    def __repr__(self) -> str:  # never print the key
        return "WebhookSecret(…)"

    def signature(self, msg_id: str, timestamp: int, body: bytes) -> str:
        """``v1,<base64 HMAC-SHA256>`` of ``{msg_id}.{timestamp}.{body}``."""
        mac = hmac.new(self.key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
        return "v1," + base64.b64encode(mac).decode()


def sign(secrets: Iterable[WebhookSecret], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one ``v1`` signature per secret (two during a rotation)."""
    if not msg_id or any(c in msg_id for c in ". \r\n"):
        # A dot would make "{id}.{timestamp}" ambiguous; whitespace breaks the header.
        raise ValueError("a webhook message id is non-empty, without dots or whitespace")
    values = [s.signature(msg_id, timestamp, body) for s in secrets]
    if not values:
        raise ValueError("at least one secret is needed to sign")
    return " ".join(values)


def signature_headers(
    secrets: Iterable[WebhookSecret], msg_id: str, now: float, body: bytes
) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt at ``now``."""
    timestamp = int(now)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secrets, msg_id, timestamp, body),
    }


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    raise SignatureError(f"missing {name} header")


def verify(
    secrets: Iterable[WebhookSecret],
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    tolerance: float = DEFAULT_TOLERANCE,
) -> str:
    """Check a delivery; returns its ``webhook-id`` or raises ``SignatureError``.

    The timestamp must be within ``tolerance`` seconds of ``now`` either way (replays of an old
    delivery and clocks far ahead both fail). Any ``v1`` signature made with any of ``secrets``
    passes; other versions (``v1a`` is ed25519) are skipped, as the spec asks. Comparisons are
    constant-time.
    """
    msg_id = _header(headers, "webhook-id")
    raw_timestamp = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    try:
        timestamp = int(raw_timestamp)
    except ValueError as exc:
        raise SignatureError("malformed webhook-timestamp") from exc
    if timestamp < now - tolerance:
        raise SignatureError("timestamp too old")
    if timestamp > now + tolerance:
        raise SignatureError("timestamp too new")
    offered = [part.partition(",")[2] for part in signatures.split() if part.startswith("v1,")]
    for secret in secrets:
        expected = secret.signature(msg_id, timestamp, body).partition(",")[2]
        if any(hmac.compare_digest(expected.encode(), sig.encode()) for sig in offered):
            return msg_id
    raise SignatureError("no matching signature")
