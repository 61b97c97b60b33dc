"""The official azure-communication-identity SDK against a live ``telex serve`` (sync and async,
HTTP through the constructor and HTTPS from the connection string with the printed CA)."""

from __future__ import annotations

import datetime as dt

import pytest
from azure.communication.chat import CommunicationTokenCredential
from azure.communication.identity import CommunicationIdentityClient, CommunicationTokenScope
from azure.communication.identity.aio import CommunicationIdentityClient as AsyncIdentityClient
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from tests.support.live import LiveServer

SCOPES = [CommunicationTokenScope.CHAT, CommunicationTokenScope.VOIP]


def _flow(client: CommunicationIdentityClient) -> None:
    user = client.create_user()
    assert user.properties["id"].startswith("8:acs:")
    user2, token = client.create_user_and_token(SCOPES, token_expires_in=dt.timedelta(hours=2))
    assert CommunicationTokenCredential(token.token).get_token().expires_on > 0
    issued = client.get_token(user, [CommunicationTokenScope.CHAT_JOIN, "voip.join"])
    assert issued.token.count(".") == 2
    with pytest.raises(HttpResponseError) as info:
        client.get_token(user, SCOPES, token_expires_in=dt.timedelta(minutes=30))
    assert info.value.status_code == 400
    client.revoke_tokens(user)
    client.delete_user(user)
    client.delete_user(user2)
    with pytest.raises(ResourceNotFoundError):
        client.get_token(user, SCOPES)


async def _async_flow(client: AsyncIdentityClient) -> None:
    async with client:
        user = await client.create_user()
        _, token = await client.create_user_and_token(SCOPES)
        assert token.token
        await client.get_token(user, SCOPES)
        await client.revoke_tokens(user)
        await client.delete_user(user)
        with pytest.raises(ResourceNotFoundError):
            await client.delete_user(user)


def test_sync_over_https_from_connection_string(live: LiveServer) -> None:
    _flow(
        CommunicationIdentityClient.from_connection_string(
            live.connection_string, connection_verify=str(live.ca)
        )
    )


def test_sync_over_http_constructor(live: LiveServer) -> None:
    _flow(CommunicationIdentityClient(live.http_url, AzureKeyCredential(live.access_key)))


async def test_async_over_https_from_connection_string(live: LiveServer) -> None:
    await _async_flow(
        AsyncIdentityClient.from_connection_string(live.connection_string, connection_verify=str(live.ca))
    )


async def test_async_over_http_constructor(live: LiveServer) -> None:
    await _async_flow(AsyncIdentityClient(live.http_url, AzureKeyCredential(live.access_key)))


def test_wrong_key_is_client_authentication_error(live: LiveServer) -> None:
    from azure.core.exceptions import ClientAuthenticationError

    client = CommunicationIdentityClient(live.http_url, AzureKeyCredential("d3Jvbmc" + "A" * 81 + "=="))
    with pytest.raises(ClientAuthenticationError) as info:
        client.create_user()
    assert info.value.error is not None and info.value.error.code == "Unauthorized"
