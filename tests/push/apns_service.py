"""A loopback APNs provider API: HTTP/2 over TLS (ALPN h2) on the ``h2`` library.

It answers like Apple's service (push-events-sms.md §3): a success is a HEADERS frame that ends
the stream (no DATA frame), with ``apns-id`` echoed; an error is HEADERS plus one JSON DATA frame
``{"reason": ...}`` (410 adds ``timestamp``). It checks the provider JWT (ES256, known ``kid``,
``iss`` the team, ``iat`` at most an hour old, not replaced within 20 minutes of the previous
one), the topic against the push type, priority, expiration, collapse id, payload size and the
device token. Device tokens starting ``dead`` are unregistered (410); ``cafe`` get 429,
``fade`` 500, ``beef`` 503.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.settings
import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from telex.core.clock import Clock

__all__ = ["ApnsService", "apns_server"]

_TYPES = {"alert", "background", "location", "voip", "complication", "fileprovider", "mdm", "liveactivity",
          "pushtotalk", "widgets", "controls"}  # fmt: skip
_SUFFIX = {
    "voip": ".voip",
    "complication": ".complication",
    "fileprovider": ".pushkit.fileprovider",
    "location": ".location-query",
    "liveactivity": ".push-type.liveactivity",
    "pushtotalk": ".voip-ptt",
}
_SPECIAL = {
    "cafe": (429, "TooManyRequests"),
    "fade": (500, "InternalServerError"),
    "beef": (503, "ServiceUnavailable"),
}


@dataclass
class ApnsService:
    clock: Clock
    team_id: str
    keys: dict[str, ec.EllipticCurvePublicKey]
    bundle: str
    token_max_age: float = 3600.0
    records: list[dict[str, Any]] = field(default_factory=list)
    connections: int = 0
    _token: str | None = None
    _token_since: float = 0.0
    tokens_seen: list[str] = field(default_factory=list)

    def check(self, headers: dict[str, str], device: str, body: bytes) -> tuple[int, str | None]:
        auth = headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            return 403, "MissingProviderToken"
        token = auth.split(" ", 1)[1]
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != "ES256" or header.get("kid") not in self.keys:
                return 403, "InvalidProviderToken"
            claims = jwt.decode(
                token, self.keys[header["kid"]], algorithms=["ES256"], options={"verify_iat": False}
            )
        except jwt.PyJWTError:
            return 403, "InvalidProviderToken"
        if claims.get("iss") != self.team_id:
            return 403, "InvalidProviderToken"
        if claims["iat"] < self.clock.now() - self.token_max_age:
            return 403, "ExpiredProviderToken"
        if token != self._token:
            if self._token is not None and self.clock.now() - self._token_since < 20 * 60:
                return 429, "TooManyProviderTokenUpdates"
            self._token, self._token_since = token, self.clock.now()
            self.tokens_seen.append(token)
        topic = headers.get("apns-topic")
        if not topic:
            return 400, "MissingTopic"
        push_type = headers.get("apns-push-type", "alert")
        if push_type not in _TYPES:
            return 400, "InvalidPushType"
        suffix = _SUFFIX.get(push_type, "")
        base = topic.removesuffix(suffix) if suffix else topic
        if base.removesuffix(".voip") != self.bundle:
            return 400, "TopicDisallowed"
        if (suffix and not topic.endswith(suffix)) or (not suffix and topic != self.bundle):
            return 400, "DeviceTokenNotForTopic"
        priority = headers.get("apns-priority", "10")
        if priority not in ("1", "5", "10") or (push_type == "background" and priority == "10"):
            return 400, "BadPriority"
        if not headers.get("apns-expiration", "0").isdigit():
            return 400, "BadExpirationDate"
        try:
            uuid.UUID(headers.get("apns-id", str(uuid.uuid4())))
        except ValueError:
            return 400, "BadMessageId"
        if len(headers.get("apns-collapse-id", "").encode()) > 64:
            return 400, "BadCollapseId"
        if not body:
            return 400, "PayloadEmpty"
        if len(body) > (5120 if push_type == "voip" else 4096):
            return 413, "PayloadTooLarge"
        json.loads(body)
        if len(device) < 64 or any(c not in "0123456789abcdefABCDEF" for c in device):
            return 400, "BadDeviceToken"
        if device.startswith("dead"):
            return 410, "Unregistered"
        return _SPECIAL.get(device[:4], (200, None))


class _H2Protocol(asyncio.Protocol):
    def __init__(self, service: ApnsService) -> None:
        self.service = service
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        )
        self.streams: dict[int, tuple[dict[str, str], bytearray]] = {}
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.service.connections += 1
        self.conn.initiate_connection()
        self.conn.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 1000})
        transport.write(self.conn.data_to_send())

    def data_received(self, data: bytes) -> None:
        for event in self.conn.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                self.streams[event.stream_id] = (
                    {str(k): str(v) for k, v in event.headers or []},
                    bytearray(),
                )
            elif isinstance(event, h2.events.DataReceived):
                self.streams[event.stream_id][1].extend(event.data or b"")
                self.conn.acknowledge_received_data(event.flow_controlled_length or 0, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded) and event.stream_id is not None:
                self.respond(event.stream_id)
        assert self.transport is not None
        self.transport.write(self.conn.data_to_send())

    def respond(self, stream_id: int) -> None:
        headers, body = self.streams.pop(stream_id)
        path = headers.get(":path", "")
        if headers.get(":method") != "POST":
            status, reason = 405, "MethodNotAllowed"
        elif not path.startswith("/3/device/"):
            status, reason = 404, "BadPath"
        else:
            status, reason = self.service.check(headers, path.removeprefix("/3/device/"), bytes(body))
        apns_id = headers.get("apns-id") or str(uuid.uuid4()).upper()
        self.service.records.append(
            {"headers": headers, "body": bytes(body), "status": status, "reason": reason}
        )
        reply = [(":status", str(status)), ("apns-id", apns_id)]
        if reason is None:
            self.conn.send_headers(stream_id, reply, end_stream=True)  # no DATA frame, like APNs
            return
        error: dict[str, Any] = {"reason": reason}
        if status == 410:
            error["timestamp"] = int(self.service.clock.now() * 1000) - 3_600_000
        payload = json.dumps(error).encode()
        self.conn.send_headers(stream_id, [*reply, ("content-type", "application/json"),
                                           ("content-length", str(len(payload)))])  # fmt: skip
        self.conn.send_data(stream_id, payload, end_stream=True)


@asynccontextmanager
async def apns_server(service: ApnsService, context: ssl.SSLContext) -> AsyncIterator[int]:
    """Serve ``service`` over TLS (``context`` must offer ALPN h2) on 127.0.0.1; yields the port."""
    server = await asyncio.get_running_loop().create_server(
        lambda: _H2Protocol(service), "127.0.0.1", 0, ssl=context
    )
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()
