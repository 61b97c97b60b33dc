"""api-version: every ACS API accepts the versions Telex implements (the official SDKs' among
them) and answers any other as ACS does, on both ways in (lean and FastAPI); ``/openapi.json``
lists each API's versions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from telex.app import Node, build_app
from telex.chat.api import CHAT_VERSIONS
from telex.identity.api import IDENTITY_VERSIONS
from telex.notifications import CONFIG_VERSIONS
from telex.turn.api import RELAY_VERSIONS
from tests.chat.conftest import open_node, users_of
from tests.support.signing import HmacSigner


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    n = await open_node(tmp_path)
    try:
        yield n
    finally:
        await n.close()


def test_the_sdks_versions_are_accepted() -> None:
    assert {"2024-03-07", "2025-03-15"} <= set(CHAT_VERSIONS.versions)  # Python chat 1.3, JS chat 1.6
    assert "2023-10-01" in IDENTITY_VERSIONS.versions  # Python identity 1.5, JS identity 1.3
    assert "2022-03-01-preview" in RELAY_VERSIONS.versions  # both network traversal SDKs
    assert CONFIG_VERSIONS.versions == ("2024-09-01",)  # @azure/communication-signaling


@pytest.mark.parametrize("lean", [True, False])
@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("", "ApiVersionUnspecified"),
        ("?api-version=", "ApiVersionUnspecified"),
        ("?api-version=garbage", "InvalidApiVersion"),
        ("?api-version=1999-01-01", "UnsupportedApiVersion"),
        ("?api-version=2026-01-01-preview", "UnsupportedApiVersion"),
    ],
)
async def test_other_versions_get_the_acs_error(node: Node, lean: bool, query: str, code: str) -> None:
    user = await users_of(node)("chat", "voip")
    signer = HmacSigner(node.keyring.access_keys()[0], add_version=False)
    transport = httpx.ASGITransport(app=build_app(node, lean=lean))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        requests = [
            ("POST", "/chat/threads", {"headers": user.headers, "json": {"topic": "t"}}),
            ("POST", "/chat/threads/x/messages", {"headers": user.headers, "json": {"content": "c"}}),  # hot
            ("POST", "/chat/threads/x/typing", {"headers": user.headers, "json": {}}),  # hot
            ("GET", "/chat/config/realTimeNotifications", {"headers": user.headers}),
            ("POST", "/identities", {"auth": signer}),  # hot
            ("POST", "/networkTraversal/:issueRelayConfiguration", {"headers": user.headers}),  # hot
        ]
        for method, path, kw in requests:
            r = await http.request(method, path + query, **kw)  # type: ignore[arg-type]
            assert r.status_code == 400, (path, r.text)
            assert r.json()["error"]["code"] == code, path
            assert r.headers["x-ms-error-code"] == code
            if code == "UnsupportedApiVersion":
                assert "does not support the API version" in r.json()["error"]["message"]


async def test_every_accepted_version_works_and_2025_fields_are_its_own(node: Node) -> None:
    user = await users_of(node)("chat")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_app(node)), base_url="http://t"
    ) as http:
        for version in CHAT_VERSIONS.versions:
            body = {"topic": "t", "metadata": {"a": "b"}}
            r = await http.post(f"/chat/threads?api-version={version}", json=body, headers=user.headers)
            assert r.status_code == 201, (version, r.text)
            thread = r.json()["chatThread"]
            assert ("metadata" in thread) is (version >= "2025-03-15"), version
            got = await http.get(f"/chat/threads/{thread['id']}?api-version={version}", headers=user.headers)
            assert got.status_code == 200
            if version >= "2025-03-15":
                assert got.json()["metadata"] == {"a": "b"}
                assert got.json()["retentionPolicy"] == {"kind": "none"}
            else:  # an older client never sees the fields, and never sets them
                assert "metadata" not in got.json() and "retentionPolicy" not in got.json()


async def test_openapi_lists_the_versions(node: Node) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_app(node)), base_url="http://t"
    ) as http:
        spec = (await http.get("/openapi.json")).json()
    for path, versions in (
        ("/chat/threads", CHAT_VERSIONS), ("/identities", IDENTITY_VERSIONS),
        ("/networkTraversal/:issueRelayConfiguration", RELAY_VERSIONS),
        ("/chat/config/realTimeNotifications", CONFIG_VERSIONS),
    ):  # fmt: skip
        for operation in spec["paths"][path].values():
            (param,) = [p for p in operation["parameters"] if p["name"] == "api-version"]
            assert param["schema"]["enum"] == list(versions.versions), path
