"""The identity API in process: shapes, status codes and validation (acs-wire.md §3.1)."""

from __future__ import annotations

import base64
import json
from datetime import datetime

import httpx
import pytest

from telex.app import Node, build_admin_app

pytestmark = pytest.mark.asyncio


async def test_create_user_without_body_returns_201_and_acs_user_id(
    client: httpx.AsyncClient, node: Node
) -> None:
    r = await client.post("/identities?api-version=2023-10-01", headers={"content-type": "application/json"})
    assert r.status_code == 201
    body = r.json()
    assert set(body) == {"identity"}
    assert body["identity"]["id"].startswith(f"8:acs:{node.keyring.state.resource_id}_")


async def test_create_user_and_token(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/identities", json={"createTokenWithScopes": ["chat", "voip"], "expiresInMinutes": 60}
    )
    assert r.status_code == 201
    token = r.json()["accessToken"]
    expires = datetime.fromisoformat(token["expiresOn"])
    payload = json.loads(base64.b64decode(token["token"].split(".")[1] + "=="))
    assert payload["exp"] == int(expires.timestamp())
    assert payload["exp"] - payload["iat"] == 3600
    assert payload["acsScope"] == "chat,voip"


@pytest.mark.parametrize("minutes", [59, 1441, 0, -1, 10**9])
async def test_token_lifetime_outside_60_to_1440_is_400(client: httpx.AsyncClient, minutes: int) -> None:
    r = await client.post(
        "/identities", json={"createTokenWithScopes": ["chat"], "expiresInMinutes": minutes}
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "ValidationFailed"


@pytest.mark.parametrize("minutes", [60, 1440])
async def test_token_lifetime_bounds_are_accepted(client: httpx.AsyncClient, minutes: int) -> None:
    user = (await client.post("/identities")).json()["identity"]["id"]
    r = await client.post(
        f"/identities/{user}/:issueAccessToken", json={"scopes": ["voip"], "expiresInMinutes": minutes}
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "body",
    [
        {"scopes": []},
        {"scopes": ["admin"]},
        {"scopes": "chat"},
        {"scopes": ["chat"], "expiresInMinutes": "60"},
        {"scopes": ["chat"], "expiresInMinutes": 60.5},
        {"scopes": ["chat"], "expiresInMinutes": True},
        {},
        [],
    ],
)
async def test_issue_token_rejects_bad_bodies(client: httpx.AsyncClient, body: object) -> None:
    user = (await client.post("/identities")).json()["identity"]["id"]
    r = await client.post(f"/identities/{user}/:issueAccessToken", json=body)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "ValidationFailed"


async def test_default_lifetime_is_24_hours(client: httpx.AsyncClient) -> None:
    user = (await client.post("/identities")).json()["identity"]["id"]
    r = await client.post(f"/identities/{user}/:issueAccessToken", json={"scopes": ["chat"]})
    payload = json.loads(base64.b64decode(r.json()["token"].split(".")[1] + "=="))
    assert payload["exp"] - payload["iat"] == 1440 * 60


async def test_revoke_delete_and_unknown_users(client: httpx.AsyncClient, node: Node) -> None:
    user = (await client.post("/identities")).json()["identity"]["id"]
    assert (await client.post(f"/identities/{user}/:revokeAccessTokens")).status_code == 204
    assert (await client.delete(f"/identities/{user}")).status_code == 204
    for r in (
        await client.delete(f"/identities/{user}"),
        await client.post(f"/identities/{user}/:revokeAccessTokens"),
        await client.post(f"/identities/{user}/:issueAccessToken", json={"scopes": ["chat"]}),
        await client.delete("/identities/8:acs:not-a-user"),
        await client.delete(
            f"/identities/8:acs:{'0' * 8}-0000-0000-0000-{'0' * 12}_{'1' * 8}-1111-1111-1111-{'1' * 12}"
        ),
    ):
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "IdentityNotFound"


async def test_malformed_json_is_400_invalid_json(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/identities", content=b'{"createTokenWithScopes": [', headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json() == {"error": {"code": "InvalidJson", "message": "The request body is not valid JSON."}}


async def test_non_json_body_is_415(client: httpx.AsyncClient) -> None:
    r = await client.post("/identities", content=b"scopes=chat", headers={"content-type": "text/plain"})
    assert r.status_code == 415
    assert r.json()["error"]["code"] == "UnsupportedMediaType"


async def test_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/identities", content=b"[" + b"1," * (1 << 20) + b"1]", headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "PayloadTooLarge"


async def test_unknown_route_and_wrong_method_use_acs_error_body(client: httpx.AsyncClient) -> None:
    r = await client.get("/no/such/route")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "NotFound"
    r = await client.put("/identities", json={})
    assert r.status_code == 405
    assert r.json()["error"]["code"] == "MethodNotAllowed"


async def test_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz", headers={"x-ms-client-request-id": "abc-123"})
    assert r.headers["x-ms-client-request-id"] == "abc-123"
    assert r.headers["x-ms-request-id"] == "abc-123"


async def test_ops_routes(client: httpx.AsyncClient, node: Node) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).status_code == 200
    await client.post("/identities")
    assert (await client.get("/metrics")).status_code == 404  # never on the public listeners
    admin = httpx.AsyncClient(transport=httpx.ASGITransport(app=build_admin_app(node)), base_url="http://a")
    async with admin:
        metrics = (await admin.get("/metrics")).text
    assert 'telex_http_requests_total{method="POST",route="/identities",status="201"}' in metrics
    jwks = (await client.get("/.well-known/jwks.json")).json()
    assert [k["kid"] for k in jwks["keys"]] == [node.keyring.state.signer.kid]
    assert all("d" not in k for k in jwks["keys"])  # never the private part
