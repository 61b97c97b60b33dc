"""The relay configuration that ACS's ``CommunicationRelayClient`` receives (acs-wire.md §3.6).

    POST /networkTraversal/:issueRelayConfiguration {"id"?, "routeType"?, "ttl"}
      → {"expiresOn": iso8601, "iceServers": [{"urls", "username", "credential", "routeType"}]}

One ``iceServers`` entry carries Telex's own STUN/TURN URLs, a second the external relays
(coturn with ``use-auth-secret`` and the same secret), all with one REST credential: every relay
derives the same password from the shared secret. Pure: the HTTP route (owned by the web layer)
authenticates the caller, then calls ``issue_relay_configuration``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from telex.core.errors import ErrorCode, TelexError
from telex.turn.credentials import make_credentials
from telex.turn.settings import TurnSettings

__all__ = ["MAX_TTL", "issue_relay_configuration", "make_credentials", "relay_urls"]

MAX_TTL = 172800  # acs-wire.md §3.6: the service accepts 0-172800 seconds


def relay_urls(settings: TurnSettings, host: str) -> list[str]:
    """Telex's own URLs for ``host`` (a hostname or IP literal the clients can reach)."""
    if not settings.enabled:
        return []
    authority = f"[{host}]" if ":" in host and not host.startswith("[") else host
    authority = f"{authority}:{settings.port}"
    urls = [f"stun:{authority}", f"turn:{authority}?transport=udp"]
    if settings.tcp:
        urls.append(f"turn:{authority}?transport=tcp")
    if settings.tls_cert_file is not None:
        # turns: needs a name the certificate covers; ``host`` should then be that name.
        tls_host = f"[{host}]" if ":" in host and not host.startswith("[") else host
        urls.append(f"turns:{tls_host}:{settings.tls_port}?transport=tcp")
    return urls


def issue_relay_configuration(
    settings: TurnSettings,
    secret: bytes,
    user_id: str,
    ttl: int,
    now: float,
    host: str,
    route_type: str = "any",
    *,
    generation: int | None = None,
) -> dict[str, Any]:
    """Credentials valid for ``ttl`` seconds from ``now`` for ``user_id`` (and its tokens of
    ``generation``: a revocation ends them, see ``telex.turn.credentials``).

    Raises ``TelexError(VALIDATION_FAILED)`` for a ``ttl`` outside 0-172800 or a bad route type.
    The expiry is clamped to the relays' ``max_credential_ttl`` so Telex never hands out a
    credential its own relay would refuse.
    """
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 <= ttl <= MAX_TTL:
        raise TelexError(ErrorCode.VALIDATION_FAILED, f"ttl must be an integer from 0 to {MAX_TTL}")
    if route_type not in ("any", "nearest"):
        raise TelexError(ErrorCode.VALIDATION_FAILED, "routeType must be 'any' or 'nearest'")
    if not user_id or len(user_id) > 256 or "#" in user_id:
        raise TelexError(ErrorCode.VALIDATION_FAILED, "invalid user id")
    expiry = int(now) + min(ttl, settings.max_credential_ttl)
    username, password = make_credentials(secret, user_id, expiry, generation)
    servers: list[dict[str, Any]] = []
    for urls in (relay_urls(settings, host), list(settings.external_urls)):
        if urls:
            servers.append(
                {"urls": urls, "username": username, "credential": password, "routeType": route_type}
            )
    expires_on = datetime.fromtimestamp(expiry, tz=UTC).isoformat().replace("+00:00", "Z")
    return {"expiresOn": expires_on, "iceServers": servers}
