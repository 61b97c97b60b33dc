"""Connection tickets: what lets a notification WebSocket in without a token on it.

    POST /v4/a  (X-Skypetoken: the user's token, verified) ─► ticket = sign(principal, expiry)
    the client carries the ticket in its connection parameters (the socket's query string)
    WebSocket upgrade ─► open(ticket) ─► the principal, if the signature holds and it is fresh

Browsers cannot put headers on a WebSocket, and the signaling client sends the token only on
its HTTP requests, so the allocation hands out a short-lived ticket instead (ACS does the same
with signed connection parameters). The ticket carries the verified principal, so the socket
can check revocation and expiry exactly like ``/realtime`` without the token itself ever
appearing in a URL. It is signed with a key derived from the resource's access keys, which every
node shares; after a key rotation a ticket in flight fails and the client allocates again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable

from telex.core.ids import UserId
from telex.identity import Principal, Scope

__all__ = ["TicketError", "open_ticket", "sign_ticket"]

_LABEL = b"telex notification ticket v1"


class TicketError(ValueError):
    """The ticket is malformed, forged or stale."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(access_key: bytes) -> bytes:
    return hmac.new(access_key, _LABEL, hashlib.sha256).digest()


def sign_ticket(principal: Principal, expires: float, access_key: bytes) -> str:
    body = json.dumps(
        [principal.user_id, sorted(principal.scopes), principal.issued_at, principal.expires_at,
         principal.generation, principal.kid, int(expires)],
        separators=(",", ":"),
    ).encode()  # fmt: skip
    mac = hmac.new(_key(access_key), body, hashlib.sha256).digest()
    return f"{_b64(body)}.{_b64(mac)}"


def open_ticket(ticket: str, now: float, access_keys: Iterable[bytes]) -> Principal:
    """The principal a ticket was issued for; raises ``TicketError``."""
    head, _, tail = ticket.partition(".")
    if not head or not tail or len(ticket) > 2048:
        raise TicketError("malformed ticket")
    try:
        body, mac = _unb64(head), _unb64(tail)
    except ValueError as exc:
        raise TicketError("malformed ticket") from exc
    if not any(
        hmac.compare_digest(hmac.new(_key(k), body, hashlib.sha256).digest(), mac) for k in access_keys
    ):
        raise TicketError("bad signature")
    try:
        user, scopes, issued, expires_at, generation, kid, until = json.loads(body)
        principal = Principal(
            UserId(str(user)), frozenset(Scope(s) for s in scopes), int(issued), int(expires_at),
            int(generation), str(kid),
        )  # fmt: skip
    except (ValueError, TypeError) as exc:
        raise TicketError("malformed ticket") from exc
    if now > float(until):
        raise TicketError("stale ticket")
    return principal
