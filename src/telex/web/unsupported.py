"""ACS APIs this server does not have yet: ``501`` with the ACS error body naming the API.

    request ─► a route matches? ──yes──► that route (always: this is only the router's fallback)
                 └─no─► path under a prefix of ``NOT_YET``?
                          ──yes──► 501 NotImplemented "Rooms is not supported by this Telex server yet."
                          └─no──► 404 NotFound, as before

Without this, an official SDK pointed at Telex gets ``404 NotFound "The requested resource does not
exist."`` for a whole API it lacks, which reads as "that room (number, call) does not exist".
The table is consulted only when no route matched, so it can never shadow a real route: a
capability that lands later (with routes under one of these prefixes) wins by existing, and
its line here can go.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from telex.core.errors import ErrorCode, TelexError
from telex.web.errors import error_response

__all__ = ["NOT_YET", "install_unsupported", "unsupported_api"]

# Path prefixes of ACS data-plane APIs (acs-wire.md §3, acs-js-sdks.md) → the API's name.
NOT_YET: tuple[tuple[str, str], ...] = (
    ("/rooms", "Rooms"),
    ("/calling/serverCalls", "Call Automation's server calls"),
    ("/emails", "Email"),
    ("/teamsUser", "Teams user token exchange"),
    ("/messages", "Advanced Messaging"),
    ("/routing", "Job Router"),
    ("/sip", "SIP routing"),
)


def unsupported_api(path: str) -> str | None:
    """The name of the not-yet-implemented ACS API ``path`` belongs to, if any."""
    for prefix, name in NOT_YET:
        # ACS actions hang off a resource with ":" (``/calling/callConnections:answer``).
        if path == prefix or path.startswith((prefix + "/", prefix + ":")):
            return name
    return None


def install_unsupported(router_default: ASGIApp) -> ASGIApp:
    """Wrap a router's no-route-matched handler (``app.router.default``)."""

    async def default(scope: Scope, receive: Receive, send: Send) -> None:
        name = unsupported_api(scope.get("path", "")) if scope["type"] == "http" else None
        if name is None:
            await router_default(scope, receive, send)
            return
        error = TelexError(ErrorCode.NOT_IMPLEMENTED, f"{name} is not supported by this Telex server yet.")
        await error_response(error)(scope, receive, send)

    return default
