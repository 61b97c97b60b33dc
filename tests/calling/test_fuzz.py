"""Bad input to the calling API never gives a 5xx (security.md G1): a bounded schemathesis run
over every calling operation in /openapi.json against a live server, as a participant of a real
group call (path parameters mostly point at it and at one's own participant, so requests reach
the service rather than stopping at 404)."""

from __future__ import annotations

import base64
import random
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import requests
import schemathesis

from tests.support.fuzz import fuzz_operations, operations_under
from tests.support.live import LiveServer
from tests.support.signing import HmacSigner

pytestmark = pytest.mark.e2e

MAX_EXAMPLES = 25  # per operation


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(Path(tmp_path_factory.mktemp("calling-fuzz")) / "data") as server:
        yield server


CLIENT_PATHS = ("/calling/calls", "/calling/groups")


def test_calling_operations_have_no_server_errors_and_match_their_schema(live: LiveServer) -> None:
    signer = HmacSigner(base64.b64decode(live.access_key))
    tokens = []
    for _ in range(2):
        r = httpx.post(
            f"{live.http_url}/identities?api-version=2023-10-01",
            json={"createTokenWithScopes": ["voip"]},
            auth=signer,
        )
        tokens.append((r.json()["identity"]["id"], r.json()["accessToken"]["token"]))
    group = str(uuid.uuid4())
    joined = [
        httpx.post(
            f"{live.http_url}/calling/groups/{group}/:join", headers={"authorization": f"Bearer {t}"}
        ).json()
        for _, t in tokens
    ]
    call_id, mine, other = joined[0]["call"]["callId"], joined[0]["participantId"], joined[1]["participantId"]

    # The calling API of clients (Call Automation's /calling/callConnections and /calling/recordings
    # are the trusted service's, fuzzed HMAC-signed in tests/e2e/test_api_fuzz.py).
    calling = [op for op in operations_under(live.http_url, "/calling/") if op.path.startswith(CLIENT_PATHS)]
    # Leaving last keeps the other operations on a participant that is still in the call.
    calling.sort(key=lambda op: op.path.endswith(":hangUp") or op.path.endswith(":decline"))
    assert len(calling) == 12
    session = requests.Session()
    session.headers.update({"authorization": f"Bearer {tokens[0][1]}"})
    rng = random.Random(11)

    def aim(case: schemathesis.Case) -> None:
        params = case.path_parameters or {}
        if "call_id" in params and rng.random() < 0.9:
            params["call_id"] = call_id
        if "participant_id" in params and rng.random() < 0.9:
            params["participant_id"] = mine
        if "group_id" in params and rng.random() < 0.5:
            params["group_id"] = group
        if isinstance(case.body, dict) and "to" in case.body and rng.random() < 0.7:
            case.body["to"] = other

    statuses = fuzz_operations(live.http_url, calling, session, aim, MAX_EXAMPLES)
    assert sum(statuses.values()) >= 150, statuses
    assert {200, 201, 204} & set(statuses) and 400 in statuses and 409 in statuses, statuses
