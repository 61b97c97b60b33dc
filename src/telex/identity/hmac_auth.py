"""HMAC-SHA256 request signing of the ACS management plane (acs-wire.md §2.1), sans-I/O.

    string_to_sign = VERB "\n" path_and_query "\n" x-ms-date ";" host ";" x-ms-content-sha256
    Authorization  = "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=" b64(sig)

The verifier works on exactly what arrived: the raw request target, the Host header, the raw
body. Leniencies mirror what the official SDKs really sign: rooms signs the *unquoted* target,
an endpoint configured with a trailing slash signs ``host/``, and a proxy may drop the port.
Every failure raises the same ``Unauthorized`` error: which check failed is logged, never sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from functools import lru_cache
from urllib.parse import unquote

from telex.core.errors import ErrorCode, TelexError

__all__ = [
    "EMPTY_CONTENT_HASH",
    "SignedRequest",
    "content_hash",
    "sign",
    "signature",
    "string_to_sign",
    "verify",
]

EMPTY_CONTENT_HASH = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
_PREFIX = "HMAC-SHA256 "
_SIGNED_HEADERS = "x-ms-date;host;x-ms-content-sha256"


class HmacFailure(TelexError):
    """Authentication failed; ``reason`` is for the server log only."""

    def __init__(self, reason: str) -> None:
        super().__init__(ErrorCode.UNAUTHORIZED, "Denied by the authentication policy.")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SignedRequest:
    method: str
    target: str  # raw path and query, exactly as on the request line
    host: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes


def content_hash(body: bytes) -> str:
    return base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def string_to_sign(method: str, target: str, date: str, host: str, body_hash: str) -> str:
    return f"{method.upper()}\n{target}\n{date};{host};{body_hash}"


def signature(key: bytes, text: str) -> str:
    return base64.b64encode(hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()).decode("ascii")


def sign(method: str, target: str, host: str, body: bytes, key: bytes, now: float) -> dict[str, str]:
    """Headers a client adds to sign a request (what the official SDKs do)."""
    date = format_datetime(datetime.fromtimestamp(now, UTC), usegmt=True)
    body_hash = content_hash(body)
    sig = signature(key, string_to_sign(method, target, date, host, body_hash))
    return {
        "x-ms-date": date,
        "x-ms-content-sha256": body_hash,
        "Authorization": f"{_PREFIX}SignedHeaders={_SIGNED_HEADERS}&Signature={sig}",
    }


def _parse_authorization(value: str) -> str:
    if not value.startswith(_PREFIX):
        raise HmacFailure("not an HMAC-SHA256 authorization")
    params: dict[str, str] = {}
    for part in value[len(_PREFIX) :].split("&"):
        name, sep, val = part.partition("=")
        if not sep or name.strip() in params:
            raise HmacFailure("malformed authorization parameters")
        params[name.strip()] = val.strip()
    if params.get("SignedHeaders", "").lower() != _SIGNED_HEADERS:
        raise HmacFailure("unexpected SignedHeaders")
    sig = params.get("Signature", "")
    if not sig:
        raise HmacFailure("missing signature")
    return sig


# Clients sign many requests within one second with the same x-ms-date: RFC 1123 parsing through
# email.utils is the slowest step of a check, and its result depends on the string alone.
@lru_cache(maxsize=256)
def _parse_date(value: str) -> float:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError) as exc:
        raise HmacFailure("unparseable x-ms-date") from exc
    if parsed.tzinfo is None:
        raise HmacFailure("x-ms-date without zone")
    return parsed.timestamp()


def _host_variants(host: str) -> list[str]:
    variants = [host, host + "/"]
    if host.startswith("["):  # [::1]:8443
        bare = host.rsplit("]", 1)[0] + "]"
    else:
        bare = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if bare != host:
        variants.append(bare)
    return variants


def verify(req: SignedRequest, keys: Sequence[bytes], now: float, skew_seconds: float) -> None:
    """Accept the request if any key signed it; raise ``HmacFailure`` otherwise.

    Contract: checks the date window, that the body hash header equals the hash of the raw body,
    and the signature over every accepted (target, host) variant with every key, comparing in
    constant time. ``keys`` are raw (base64-decoded) access keys.
    """
    auth = req.headers.get("authorization")
    date = req.headers.get("x-ms-date")
    body_hash = req.headers.get("x-ms-content-sha256")
    if auth is None or date is None or body_hash is None or not req.host:
        raise HmacFailure("missing signed header")
    presented = _parse_authorization(auth)
    if abs(now - _parse_date(date)) > skew_seconds:
        raise HmacFailure("x-ms-date outside the allowed skew")
    if not hmac.compare_digest(body_hash.encode(), content_hash(req.body).encode()):
        raise HmacFailure("x-ms-content-sha256 does not match the body")
    given = presented.encode()

    def signs(key: bytes, target: str, host: str) -> bool:
        expected = signature(key, string_to_sign(req.method, target, date, host, body_hash))
        return hmac.compare_digest(expected.encode(), given)

    # The usual case first: the primary key over the target and Host as they arrived. Which
    # candidate matched is no secret (the signer chose it); what must not leak is how close a
    # wrong signature came, so a miss computes and compares every candidate, whatever it is.
    if keys and signs(keys[0], req.target, req.host):
        return
    targets = [req.target]
    unquoted = unquote(req.target)
    if unquoted != req.target:
        targets.append(unquoted)
    matched = False
    for key in keys:
        for target in targets:
            for host in _host_variants(req.host):
                matched |= signs(key, target, host)
    if not matched:
        raise HmacFailure("signature mismatch")
