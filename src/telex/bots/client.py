"""``CallAutomation``: an async client of the Call Automation REST API (HMAC-signed), for bots.

    client = CallAutomation.from_connection_string("endpoint=https://…;accesskey=…", verify="ca.pem")
    props = await client.answer(incoming_call_context, callback_uri)
    await client.post(f"/calling/callConnections/{id}:play", {...})

It sends what the official SDKs send (acs-wire.md §3.7), repeatability headers included, and
raises ``CallAutomationError`` with the ACS error code. The bot framework (``telex.bots.app``)
builds on it; applications can also use the official ``azure-communication-callautomation``
SDK against the same server.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Generator
from email.utils import formatdate
from typing import Any
from urllib.parse import urlsplit

import httpx

from telex.identity.hmac_auth import sign

__all__ = ["CallAutomation", "CallAutomationError", "parse_connection_string"]

API_VERSION = "2026-03-12"


class CallAutomationError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def parse_connection_string(text: str) -> tuple[str, bytes]:
    """``endpoint=…;accesskey=…`` → (endpoint URL without a trailing slash, key bytes)."""
    parts = dict(p.split("=", 1) for p in text.split(";") if "=" in p)
    lower = {k.lower(): v for k, v in parts.items()}
    return lower["endpoint"].rstrip("/"), base64.b64decode(lower["accesskey"])


class _Hmac(httpx.Auth):
    requires_request_body = True

    def __init__(self, key: bytes) -> None:
        self._key = key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        target = request.url.raw_path.decode("ascii")
        for name, value in sign(
            request.method, target, request.headers["host"], request.content, self._key, time.time()
        ).items():
            request.headers[name] = value
        yield request


class CallAutomation:
    """The REST API for one resource (its endpoint and access key)."""

    def __init__(
        self, endpoint: str, access_key: bytes, *, verify: bool | str = True, timeout: float = 30.0
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.access_key = access_key
        self._http = httpx.AsyncClient(
            base_url=self.endpoint, auth=_Hmac(access_key), verify=verify, timeout=timeout
        )

    @classmethod
    def from_connection_string(cls, text: str, **options: Any) -> CallAutomation:
        endpoint, key = parse_connection_string(text)
        return cls(endpoint, key, **options)

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> CallAutomation:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, repeatable: bool = False
    ) -> Any:
        headers = {"Accept": "application/json"}
        if repeatable:
            headers["Repeatability-Request-ID"] = str(uuid.uuid4())
            headers["Repeatability-First-Sent"] = formatdate(usegmt=True)
        content = json.dumps(body).encode() if body is not None else b""
        if body is not None:
            headers["Content-Type"] = "application/json"
        response = await self._http.request(
            method, path, params={"api-version": API_VERSION}, content=content, headers=headers
        )
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                raise CallAutomationError(response.status_code, str(error["code"]), str(error["message"]))
            except (ValueError, KeyError, TypeError):
                raise CallAutomationError(response.status_code, "Unknown", response.text[:200]) from None
        return (
            response.json()
            if response.content and "json" in response.headers.get("content-type", "")
            else None
        )

    async def post(self, path: str, body: dict[str, Any] | None = None, *, repeatable: bool = True) -> Any:
        return await self.request("POST", path, body or {}, repeatable=repeatable)

    # the calls every bot makes -----------------------------------------------------------------------
    async def answer(
        self, context: str, callback_uri: str, operation_context: str | None = None
    ) -> dict[str, Any]:
        body = {
            "incomingCallContext": context,
            "callbackUri": callback_uri,
            "operationContext": operation_context,
        }
        return dict(await self.post("/calling/callConnections:answer", body))

    async def reject(self, context: str, reason: str = "none") -> None:
        await self.post(
            "/calling/callConnections:reject", {"incomingCallContext": context, "callRejectReason": reason}
        )

    async def redirect(self, context: str, target: str) -> None:
        body = {"incomingCallContext": context, "target": {"rawId": target}}
        await self.post("/calling/callConnections:redirect", body)

    async def create_call(self, targets: list[str], callback_uri: str, **extra: Any) -> dict[str, Any]:
        body = {"targets": [{"rawId": t} for t in targets], "callbackUri": callback_uri, **extra}
        return dict(await self.post("/calling/callConnections", body))

    async def connect(self, group_call_id: str, callback_uri: str) -> dict[str, Any]:
        body = {
            "callLocator": {"groupCallId": group_call_id, "kind": "groupCallLocator"},
            "callbackUri": callback_uri,
        }
        return dict(await self.post("/calling/callConnections:connect", body))

    async def download_recording(self, content_location: str) -> bytes:
        """A recording's WAV file (``contentLocation`` of RecordingFileStatusUpdated), fetched
        from this client's endpoint (the location's host may be a name only Telex knows)."""
        response = await self._http.get(urlsplit(content_location).path)
        if response.status_code != 200:
            raise CallAutomationError(response.status_code, "RecordingDownloadFailed", response.text[:200])
        return response.content
