"""Relay configuration: HMAC for the trusted service, bearer (voip scopes) for clients, and the
bearer negative suite through a real data-plane route (security.md G9, G20)."""

from __future__ import annotations

import httpx
import pytest

from telex.app import Node
from tests.unit.test_tokens import BAD_TOKENS

PATH = "/networkTraversal/:issueRelayConfiguration?api-version=2022-03-01-preview"


async def _token(client: httpx.AsyncClient, scopes: list[str]) -> tuple[str, str]:
    body = (await client.post("/identities", json={"createTokenWithScopes": scopes})).json()
    return body["identity"]["id"], body["accessToken"]["token"]


async def test_trusted_service_gets_credentials_bound_to_a_user(
    client: httpx.AsyncClient, node: Node
) -> None:
    user, _ = await _token(client, ["chat"])
    r = await client.post(PATH, json={"id": user, "ttl": 600})
    assert r.status_code == 200, r.text
    body = r.json()
    server = body["iceServers"][0]
    expiry, bound = server["username"].split(":", 1)
    assert bound == user + "#0"  # the user and its token generation (revoking ends the credential)
    assert server["routeType"] == "any"
    assert any(u.startswith("turn:") and "transport=udp" in u for u in server["urls"])
    assert int(expiry) - node.clock.now() <= 301  # turn.max_credential_ttl: 300 s by default


@pytest.mark.parametrize("body", [{"ttl": -1}, {"ttl": 172801}, {"ttl": "60"}, {"routeType": "fastest"}])
async def test_bad_requests_are_400(client: httpx.AsyncClient, body: dict[str, object]) -> None:
    r = await client.post(PATH, json=body)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "ValidationFailed"


async def test_unknown_or_deleted_user_is_404(client: httpx.AsyncClient) -> None:
    user, _ = await _token(client, ["chat"])
    await client.delete(f"/identities/{user}")
    assert (await client.post(PATH, json={"id": user})).status_code == 404
    assert (await client.post(PATH, json={"id": "8:acs:someone-else"})).status_code == 404


async def test_client_with_voip_token_gets_its_own_credentials(client: httpx.AsyncClient) -> None:
    for scope in ("voip", "voip.join"):
        user, token = await _token(client, [scope])
        r = await client.post(PATH, json={"ttl": 60}, headers={"authorization": f"Bearer {token}"}, auth=None)
        assert r.status_code == 200, r.text
        assert r.json()["iceServers"][0]["username"].endswith(":" + user + "#0")


async def test_client_may_not_ask_for_someone_else(client: httpx.AsyncClient) -> None:
    other, _ = await _token(client, ["voip"])
    _, token = await _token(client, ["voip"])
    r = await client.post(PATH, json={"id": other}, headers={"authorization": f"Bearer {token}"}, auth=None)
    assert r.status_code == 403


async def test_chat_only_token_is_403(client: httpx.AsyncClient) -> None:
    _, token = await _token(client, ["chat", "chat.join"])
    r = await client.post(PATH, headers={"authorization": f"Bearer {token}"}, auth=None)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "Forbidden"


async def test_revoked_token_is_refused_at_once(client: httpx.AsyncClient) -> None:
    user, token = await _token(client, ["voip"])
    headers = {"authorization": f"Bearer {token}"}
    assert (await client.post(PATH, headers=headers, auth=None)).status_code == 200
    await client.post(f"/identities/{user}/:revokeAccessTokens")
    r = await client.post(PATH, headers=headers, auth=None)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "InvalidToken"


@pytest.mark.parametrize("name", sorted(BAD_TOKENS))
async def test_forged_tokens_are_401_over_http(client: httpx.AsyncClient, name: str) -> None:
    r = await client.post(PATH, headers={"authorization": f"Bearer {BAD_TOKENS[name]}"}, auth=None)
    assert r.status_code == 401
