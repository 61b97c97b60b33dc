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
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.chat.test_sdk_chat import OPEN_LIMITS
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
    thread = httpx.post(f"{live.http_url}/chat/threads", json=body, headers=auth).json()["chatThread"]["id"]
    message = httpx.post(
        f"{live.http_url}/chat/threads/{thread}/messages", json={"content": "m"}, headers=auth
    )
    message_id = message.json()["id"]

    schema = schemathesis.openapi.from_url(f"{live.http_url}/openapi.json")
    operations = [op.ok() for op in schema.get_all_operations()]
    chat = [op for op in operations if op.path.startswith("/chat/")]
    # Deleting the thread last keeps the other operations on a live thread.
    chat.sort(key=lambda op: op.method.upper() == "DELETE" and op.path == "/chat/threads/{thread_id}")
    assert len(chat) == 16
    session = requests.Session()
    session.headers.update(auth)
    rng = random.Random(7)
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    statuses: dict[int, int] = {}
    for operation in chat:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def run(case: schemathesis.Case) -> None:
            params = case.path_parameters or {}
            if "thread_id" in params and rng.random() < 0.9:
                params["thread_id"] = thread
            if "message_id" in params and rng.random() < 0.9:
                params["message_id"] = message_id
            response = case.call(base_url=live.http_url, session=session, timeout=10)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            case.validate_response(response, checks=checks)

        run()
    # the run reached the service: successes as well as validation errors and not-founds
    assert sum(statuses.values()) >= 200, statuses
    assert {200, 201, 204} & set(statuses) and 400 in statuses, statuses
