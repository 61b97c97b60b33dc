"""HMAC through the real HTTP stack (security.md G10): what the route sees is what was signed."""

from __future__ import annotations

import time

import httpx
import pytest

from telex.app import Node
from telex.identity.hmac_auth import sign
from tests.support.apiversions import async_hooks


def _signed_headers(
    node: Node,
    method: str,
    target: str,
    host: str,
    body: bytes,
    *,
    now: float | None = None,
    key: bytes | None = None,
) -> dict[str, str]:
    headers = sign(method, target, host, body, key or node.keyring.state.primary_key, now or time.time())
    headers["content-type"] = "application/json"
    return headers


@pytest.fixture
async def raw(node: Node) -> httpx.AsyncClient:
    from telex.app import build_app

    return httpx.AsyncClient(
        event_hooks=async_hooks(),
        transport=httpx.ASGITransport(app=build_app(node)),
        base_url="http://testserver",
    )


BODY = b'{"createTokenWithScopes": ["chat"]}'


async def test_positive_controls_with_both_keys(node: Node, raw: httpx.AsyncClient) -> None:
    for key in node.keyring.access_keys():
        h = _signed_headers(node, "POST", "/identities?api-version=2023-10-01", "testserver", BODY, key=key)
        r = await raw.post("/identities?api-version=2023-10-01", content=BODY, headers=h)
        assert r.status_code == 201


@pytest.mark.parametrize(
    ("case", "method", "sign_target", "sign_host", "body", "skew"),
    [
        ("path altered", "POST", "/identities/x", "testserver", BODY, 0),
        ("query altered", "POST", "/identities?api-version=1", "testserver", BODY, 0),
        ("method altered", "PUT", "/identities?api-version=2023-10-01", "testserver", BODY, 0),
        ("host altered", "POST", "/identities?api-version=2023-10-01", "other", BODY, 0),
        ("body altered", "POST", "/identities?api-version=2023-10-01", "testserver", b'{"x": 1}', 0),
        ("date 16 min late", "POST", "/identities?api-version=2023-10-01", "testserver", BODY, -16 * 60),
        ("date 16 min early", "POST", "/identities?api-version=2023-10-01", "testserver", BODY, 16 * 60),
    ],
)
async def test_tampered_requests_are_401_without_detail(
    node: Node,
    raw: httpx.AsyncClient,
    case: str,
    method: str,
    sign_target: str,
    sign_host: str,
    body: bytes,
    skew: int,
) -> None:
    h = _signed_headers(node, method, sign_target, sign_host, body, now=time.time() + skew)
    r = await raw.post("/identities?api-version=2023-10-01", content=BODY, headers=h)
    assert r.status_code == 401, case
    assert r.json() == {"error": {"code": "Unauthorized", "message": "Denied by the authentication policy."}}


async def test_altered_hash_header_is_401(node: Node, raw: httpx.AsyncClient) -> None:
    h = _signed_headers(node, "POST", "/identities", "testserver", BODY)
    h["x-ms-content-sha256"] = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    assert (await raw.post("/identities", content=BODY, headers=h)).status_code == 401


@pytest.mark.parametrize("missing", ["authorization", "x-ms-date", "x-ms-content-sha256"])
async def test_missing_headers_are_401(node: Node, raw: httpx.AsyncClient, missing: str) -> None:
    h = {
        k: v
        for k, v in _signed_headers(node, "POST", "/identities", "testserver", BODY).items()
        if k.lower() != missing
    }
    assert (await raw.post("/identities", content=BODY, headers=h)).status_code == 401


async def test_duplicate_date_header_is_401(node: Node, raw: httpx.AsyncClient) -> None:
    h = _signed_headers(node, "POST", "/identities", "testserver", BODY)
    headers = [*h.items(), ("x-ms-date", h["x-ms-date"])]
    assert (await raw.post("/identities", content=BODY, headers=headers)).status_code == 401


async def test_wrong_key_is_401(node: Node, raw: httpx.AsyncClient) -> None:
    h = _signed_headers(node, "POST", "/identities", "testserver", BODY, key=b"x" * 64)
    assert (await raw.post("/identities", content=BODY, headers=h)).status_code == 401


async def test_percent_encoded_target_is_verified_as_sent(node: Node, raw: httpx.AsyncClient) -> None:
    user = node.identity.parse_user((await node.identity.create_user()).user)
    encoded = "/identities/" + user.replace(":", "%3A") + "/:revokeAccessTokens?api-version=2023-10-01"
    h = _signed_headers(node, "POST", encoded, "testserver", b"")
    assert (await raw.post(encoded, headers=h)).status_code == 204


async def test_auth_comes_before_validation(raw: httpx.AsyncClient) -> None:
    """An unauthenticated caller learns nothing about the body it sent."""
    r = await raw.post("/identities", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 401
