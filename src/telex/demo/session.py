"""Demo session cookies, sans I/O: ``user|expiry|name`` signed with HMAC-SHA256.

A real deployment keeps sessions in its own web framework; the demo needs just enough to know,
on a token refresh, which Telex user the browser signed in as. The cookie carries no secret
(the user id is not one), only a MAC so that nobody can refresh tokens for someone else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

__all__ = ["Session", "decode_session", "encode_session"]


@dataclass(frozen=True, slots=True)
class Session:
    user_id: str
    display_name: str
    expires_at: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_session(session: Session, key: bytes) -> str:
    body = _b64(f"{session.user_id}|{session.expires_at}|{session.display_name}".encode())
    mac = _b64(hmac.new(key, body.encode("ascii"), hashlib.sha256).digest())
    return f"{body}.{mac}"


def decode_session(cookie: str, key: bytes, now: float) -> Session | None:
    """The session if the MAC is right and it has not expired; None for anything else."""
    body, _, mac = cookie.partition(".")
    if not body or not mac or len(cookie) > 1024:
        return None
    # Bytes, not str: compare_digest refuses non-ASCII text, and a cookie may hold anything.
    expected = _b64(hmac.new(key, body.encode("utf-8", "replace"), hashlib.sha256).digest())
    if not hmac.compare_digest(expected.encode(), mac.encode("utf-8", "replace")):
        return None
    try:
        user_id, expires, name = _unb64(body).decode().split("|", 2)
        expires_at = int(expires)
    except (ValueError, UnicodeDecodeError):
        return None
    if expires_at <= now:
        return None
    return Session(user_id, name, expires_at)
