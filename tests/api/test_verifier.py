"""The token verifier against a real node: scope, revocation, deletion, rotation (security.md G9, G20)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from telex.app import Node
from telex.core.errors import TelexError
from telex.identity.scopes import Scope
from tests.conftest import make_settings


async def _user_token(client: httpx.AsyncClient, scopes: list[str]) -> tuple[str, str]:
    r = await client.post("/identities", json={"createTokenWithScopes": scopes})
    body = r.json()
    return body["identity"]["id"], body["accessToken"]["token"]


async def test_positive_control_and_scope(client: httpx.AsyncClient, node: Node) -> None:
    user, token = await _user_token(client, ["chat.join"])
    p = await node.verifier.verify(token, [Scope.CHAT, Scope.CHAT_JOIN])
    assert p.user_id == user
    with pytest.raises(TelexError) as info:
        await node.verifier.verify(token, [Scope.VOIP])
    assert info.value.status == 403


async def test_revocation_rejects_old_tokens_and_accepts_new_ones(
    client: httpx.AsyncClient, node: Node
) -> None:
    user, old = await _user_token(client, ["chat"])
    await node.verifier.verify(old)
    assert (await client.post(f"/identities/{user}/:revokeAccessTokens")).status_code == 204
    with pytest.raises(TelexError) as info:
        await node.verifier.verify(old)
    assert info.value.status == 401
    new = (await client.post(f"/identities/{user}/:issueAccessToken", json={"scopes": ["chat"]})).json()[
        "token"
    ]
    assert (await node.verifier.verify(new)).user_id == user


async def test_deleted_user_tokens_die(client: httpx.AsyncClient, node: Node) -> None:
    user, token = await _user_token(client, ["voip"])
    await node.verifier.verify(token)
    await client.delete(f"/identities/{user}")
    with pytest.raises(TelexError):
        await node.verifier.verify(token)


async def test_revocation_on_another_node_takes_effect_within_one_second(tmp_path: Path) -> None:
    """Two nodes on one store: node B's cached user state expires within the configured TTL."""
    settings = make_settings(tmp_path)
    a, b = await Node.open(settings), await Node.open(settings)
    try:
        created = await a.identity.create_user(["chat"], None)
        assert created.token is not None
        token = created.token.token
        await b.verifier.verify(token)  # cached on B
        await a.identity.revoke_tokens(created.user)
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            try:
                await b.verifier.verify(token)
            except TelexError:
                break
            assert loop.time() - started < 1.0, "revocation not effective on node B within 1 s"
            await asyncio.sleep(0.02)
    finally:
        await a.close()
        await b.close()


async def test_signing_key_rotation_keeps_old_tokens_valid(client: httpx.AsyncClient, node: Node) -> None:
    _, old = await _user_token(client, ["chat"])
    new_key = await node.keyring.rotate_signing_key()
    _, new = await _user_token(client, ["chat"])
    assert (await node.verifier.verify(old)).user_id
    assert (await node.verifier.verify(new)).user_id
    import jwt

    assert jwt.get_unverified_header(new)["kid"] == new_key.kid
    jwks = (await client.get("/.well-known/jwks.json")).json()
    assert len(jwks["keys"]) == 2


async def test_access_key_rotation_keeps_the_other_key_working(client: httpx.AsyncClient, node: Node) -> None:
    from tests.support.signing import HmacSigner

    secondary = HmacSigner(node.keyring.state.secondary_key)
    old_primary = HmacSigner(node.keyring.state.primary_key)
    await node.keyring.rotate_access_key("primary")
    assert (await client.post("/identities", auth=secondary)).status_code == 201
    assert (await client.post("/identities", auth=old_primary)).status_code == 401
    assert (
        await client.post("/identities", auth=HmacSigner(node.keyring.state.primary_key))
    ).status_code == 201
