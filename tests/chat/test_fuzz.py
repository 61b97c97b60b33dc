"""Bad input to chat never gives a 5xx (security.md G1): a bounded schemathesis run over every
chat operation in /openapi.json against a live server, as a member of a real thread (path
parameters point at it, so requests reach the service rather than stopping at 404)."""

from __future__ import annotations

import random
from collections.abc import Iterator

import httpx
import pytest
import requests
import schemathesis
from azure.communication.identity import CommunicationIdentityClient
from azure.core.credentials import AzureKeyCredential

from tests.chat.test_sdk_chat import OPEN_LIMITS
from tests.support.apiversions import version_for, versioned
from tests.support.fuzz import fuzz_operations, operations_under
from tests.support.live import LiveServer

pytestmark = pytest.mark.e2e

MAX_EXAMPLES = 25  # per operation: ~400 requests in all


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(tmp_path_factory.mktemp("fuzz") / "data", env=OPEN_LIMITS) as server:
        yield server


def test_chat_operations_have_no_server_errors_and_match_their_schema(live: LiveServer) -> None:
    identity = CommunicationIdentityClient(live.http_url, AzureKeyCredential(live.access_key))
    (_, ta), (b, _) = (identity.create_user_and_token(["chat"]) for _ in range(2))
    auth = {"authorization": f"Bearer {ta.token}"}
    body = {"topic": "fuzz", "participants": [{"communicationIdentifier": {"rawId": b.properties["id"]}}]}
    thread = httpx.post(versioned(f"{live.http_url}/chat/threads"), json=body, headers=auth).json()[
        "chatThread"
    ]["id"]
    message = httpx.post(
        versioned(f"{live.http_url}/chat/threads/{thread}/messages"), json={"content": "m"}, headers=auth
    )
    message_id = message.json()["id"]

    chat = operations_under(live.http_url, "/chat/")
    # Deleting the thread last keeps the other operations on a live thread.
    chat.sort(key=lambda op: op.method.upper() == "DELETE" and op.path == "/chat/threads/{thread_id}")
    assert len(chat) == 17  # with the JS SDK's realtime configuration route
    session = requests.Session()
    session.headers.update(auth)
    rng = random.Random(7)

    def aim(case: schemathesis.Case) -> None:
        params = case.path_parameters or {}
        if "thread_id" in params and rng.random() < 0.9:
            params["thread_id"] = thread
        if "message_id" in params and rng.random() < 0.9:
            params["message_id"] = message_id
        if rng.random() < 0.9:  # mostly a version the route accepts, so requests reach the service
            case.query = {**(case.query or {}), "api-version": version_for(case.path) or ""}

    statuses = fuzz_operations(live.http_url, chat, session, aim, MAX_EXAMPLES)
    # the run reached the service: successes as well as validation errors and not-founds
    assert sum(statuses.values()) >= 200, statuses
    assert {200, 201, 204} & set(statuses) and 400 in statuses, statuses
