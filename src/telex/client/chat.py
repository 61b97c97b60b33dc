"""``ChatClient``: a small async client of the chat REST API (no ``enforce_https`` tricks), with
realtime attached.

    async with ChatClient("https://host:8443", token, verify="ca.pem") as chat:
        thread = await chat.create_thread("topic", [other_user_id])
        await chat.send_message(thread, "hello")
        async with chat.realtime() as events: ...
"""

from __future__ import annotations

import ssl as ssl_module
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx

from telex.client.realtime import RealtimeClient

__all__ = ["ChatClient", "TelexClientError"]

API_VERSION = "2024-03-07"


class TelexClientError(Exception):
    """A request failed; ``code`` is the server's stable error code (the ``TelexError`` code)."""

    def __init__(self, status: int, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


def _ident(user: str) -> dict[str, Any]:
    return {"rawId": user, "communicationUser": {"id": user}}


def _participant(user: str | tuple[str, str]) -> dict[str, Any]:
    if isinstance(user, tuple):
        return {"communicationIdentifier": _ident(user[0]), "displayName": user[1]}
    return {"communicationIdentifier": _ident(user)}


class ChatClient:
    def __init__(
        self, endpoint: str, token: str, *, verify: bool | str = True, timeout: float = 30.0
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.token = token
        self._ssl: ssl_module.SSLContext | None = None
        if self.endpoint.startswith("https://"):
            self._ssl = ssl_module.create_default_context(cafile=verify if isinstance(verify, str) else None)
            if verify is False:
                self._ssl.check_hostname = False
                self._ssl.verify_mode = ssl_module.CERT_NONE
        self._http = httpx.AsyncClient(
            base_url=self.endpoint,
            headers={"authorization": f"Bearer {token}"},
            params={"api-version": API_VERSION},
            verify=self._ssl or True,
            timeout=timeout,
        )

    async def __aenter__(self) -> ChatClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def realtime(self, cursor: str | None = None) -> RealtimeClient:
        return RealtimeClient(self.endpoint, self.token, cursor=cursor, ssl=self._ssl)

    async def _call(self, method: str, path: str, json: Any = None, **kw: Any) -> Any:
        headers = kw.pop("headers", {})
        if method == "PATCH":
            headers["content-type"] = "application/merge-patch+json"
            kw["content"] = httpx.Request("PATCH", "/", json=json).content
            json = None
        response = await self._http.request(method, path, json=json, headers=headers, **kw)
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                code, message = error["code"], error["message"]
            except (ValueError, KeyError, TypeError):
                code, message = "Unknown", response.text[:200]
            retry = response.headers.get("retry-after")
            raise TelexClientError(response.status_code, code, message, float(retry) if retry else None)
        return response.json() if response.content else None

    @staticmethod
    def _t(thread_id: str, tail: str = "") -> str:
        return f"/chat/threads/{quote(thread_id, safe='')}{tail}"

    async def create_thread(
        self,
        topic: str,
        participants: list[str | tuple[str, str]] | None = None,
        *,
        request_id: str | None = None,
    ) -> str:
        headers = {"repeatability-request-id": request_id} if request_id else {}
        body = {"topic": topic, "participants": [_participant(p) for p in participants or []]}
        result = await self._call("POST", "/chat/threads", body, headers=headers)
        return str(result["chatThread"]["id"])

    async def delete_thread(self, thread_id: str) -> None:
        await self._call("DELETE", self._t(thread_id))

    async def update_topic(self, thread_id: str, topic: str) -> None:
        await self._call("PATCH", self._t(thread_id), {"topic": topic})

    async def send_message(
        self,
        thread_id: str,
        content: str,
        *,
        type: str = "text",
        sender_display_name: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> str:
        body: dict[str, Any] = {"content": content, "type": type}
        if sender_display_name is not None:
            body["senderDisplayName"] = sender_display_name
        if metadata is not None:
            body["metadata"] = metadata
        return str((await self._call("POST", self._t(thread_id, "/messages"), body))["id"])

    async def get_message(self, thread_id: str, message_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", self._t(thread_id, f"/messages/{message_id}"))
        return result

    async def list_messages(self, thread_id: str, page_size: int = 100) -> AsyncIterator[dict[str, Any]]:
        """Messages newest first, following ``nextLink``."""
        url: str | None = self._t(thread_id, f"/messages?maxPageSize={page_size}")
        while url:
            page = await self._call("GET", url)
            for item in page["value"]:
                yield item
            url = page.get("nextLink")

    async def add_participants(
        self, thread_id: str, users: list[str | tuple[str, str]]
    ) -> list[dict[str, Any]]:
        body = {"participants": [_participant(u) for u in users]}
        result = await self._call("POST", self._t(thread_id, "/participants/:add"), body)
        return list((result or {}).get("invalidParticipants", []))

    async def remove_participant(self, thread_id: str, user: str) -> None:
        await self._call("POST", self._t(thread_id, "/participants/:remove"), _ident(user))

    async def send_typing(self, thread_id: str, sender_display_name: str | None = None) -> None:
        body = {"senderDisplayName": sender_display_name} if sender_display_name else {}
        await self._call("POST", self._t(thread_id, "/typing"), body)

    async def send_read_receipt(self, thread_id: str, message_id: str) -> None:
        await self._call("POST", self._t(thread_id, "/readReceipts"), {"chatMessageId": message_id})
