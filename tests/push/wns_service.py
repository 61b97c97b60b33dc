"""A loopback WNS: the token endpoint (client credentials, as login.live.com and Entra ID take
them) and channel URIs (``/w/?token=<channel>``) that check the bearer token and the X-WNS
headers. Channels: ``expired`` 410, ``unknown`` 404, ``throttled`` 406, ``busy`` 503."""

from __future__ import annotations

from aiohttp import web

from telex.core.clock import Clock

__all__ = ["WnsService"]

_TYPES = {"wns/raw": "application/octet-stream", "wns/toast": "text/xml", "wns/tile": "text/xml",
          "wns/badge": "text/xml"}  # fmt: skip


class WnsService:
    def __init__(self, clock: Clock, *, client_id: str, secret: str, scope: str) -> None:
        self.clock, self.client_id, self.secret, self.scope = clock, client_id, secret, scope
        self.tokens: dict[str, float] = {}
        self.grants = 0
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.base = ""

    async def handle(self, request: web.Request) -> web.Response:
        if request.path == "/token":
            return await self._token(request)
        if request.path == "/w/":
            return await self._push(request)
        return web.Response(status=404)

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        ok = (form.get("grant_type") == "client_credentials" and form.get("client_id") == self.client_id
              and form.get("client_secret") == self.secret and form.get("scope") == self.scope)  # fmt: skip
        if not ok:
            return web.json_response({"error": "invalid_client"}, status=400)
        self.grants += 1
        token = f"wns-token-{self.grants}"
        self.tokens[token] = self.clock.now() + 86400
        return web.json_response({"access_token": token, "token_type": "bearer", "expires_in": 86400})

    async def _push(self, request: web.Request) -> web.Response:
        body = await request.read()
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.tokens.get(token, 0) <= self.clock.now():
            return web.Response(status=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        kind = request.headers.get("X-WNS-Type", "")
        if _TYPES.get(kind) != request.headers.get("Content-Type"):
            return web.Response(status=400, headers={"X-WNS-Error-Description": "bad type or content type"})
        if len(body) > 5000:
            return web.Response(status=413)
        channel = request.query.get("token", "")
        failures = {"expired": 410, "unknown": 404, "throttled": 406, "busy": 503}
        if channel in failures:
            status = {"X-WNS-Status": "channelthrottled"} if channel == "throttled" else {}
            return web.Response(status=failures[channel], headers=status)
        self.received.append((dict(request.headers), body))
        headers = {
            "X-WNS-Status": "received",
            "X-WNS-Msg-ID": f"m{len(self.received)}",
            "X-WNS-DeviceConnectionStatus": "connected",
        }
        return web.Response(status=200, headers=headers)
