"""Bad input to the push registration API never gives a 5xx (security.md G1): a bounded
schemathesis run over every ``/push`` operation against a live server with FCM and Web Push on,
the data-plane routes as a user, the management routes HMAC-signed and aimed at a real user."""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import requests
import schemathesis

from telex.core.clock import SystemClock
from telex.push import VapidKey
from tests.e2e.test_api_fuzz import _Sign
from tests.push.fcm_service import FcmService
from tests.support.fuzz import fuzz_operations, operations_under
from tests.support.live import LiveServer
from tests.support.signing import HmacSigner

pytestmark = pytest.mark.e2e

MAX_EXAMPLES = 25


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    directory = Path(tmp_path_factory.mktemp("push-fuzz"))
    (directory / "vapid.pem").write_bytes(VapidKey.generate().private_pem())
    (directory / "fcm.json").write_text(json.dumps(FcmService(SystemClock()).service_account()))
    config = directory / "telex.toml"
    config.write_text(
        f'[push.webpush]\nvapid_key_file = "{directory / "vapid.pem"}"\nsubject = "mailto:ops@telex.test"\n'
        f'[push.fcm]\nservice_account_file = "{directory / "fcm.json"}"\n'
    )
    with LiveServer(directory / "data", extra_args=["--config", str(config)]) as server:
        yield server


def test_push_operations_have_no_server_errors(live: LiveServer) -> None:
    signer = HmacSigner(base64.b64decode(live.access_key))
    r = httpx.post(
        f"{live.http_url}/identities?api-version=2023-10-01",
        json={"createTokenWithScopes": ["voip"]},
        auth=signer,
    )
    user, token = r.json()["identity"]["id"], r.json()["accessToken"]["token"]
    r = httpx.post(f"{live.http_url}/push/registrations", json={"platform": "fcm", "token": "fcm-1"},
                   headers={"authorization": f"Bearer {token}"})  # fmt: skip
    registration = r.json()["id"]

    operations = operations_under(live.http_url, "/push/")
    operations.sort(key=lambda op: op.method.upper() == "DELETE")
    assert len(operations) == 8
    rng = random.Random(3)

    def aim(case: schemathesis.Case) -> None:
        params = case.path_parameters or {}
        if "user_id" in params and rng.random() < 0.8:
            params["user_id"] = user
        if "registration_id" in params and rng.random() < 0.5:
            params["registration_id"] = registration
        if isinstance(case.body, dict) and rng.random() < 0.5:
            case.body["platform"] = rng.choice(["fcm", "webpush", "apns"])

    as_user = requests.Session()
    as_user.headers.update({"authorization": f"Bearer {token}"})
    signed = requests.Session()
    signed.auth = _Sign(base64.b64decode(live.access_key))
    own = [op for op in operations if not op.path.startswith("/push/users/")]
    managed = [op for op in operations if op.path.startswith("/push/users/")]
    statuses = fuzz_operations(live.http_url, own, as_user, aim, MAX_EXAMPLES)
    for status, count in fuzz_operations(live.http_url, managed, signed, aim, MAX_EXAMPLES).items():
        statuses[status] = statuses.get(status, 0) + count
    assert sum(statuses.values()) >= 100, statuses
    assert {200, 201, 204} & set(statuses) and 400 in statuses and 404 in statuses, statuses
    assert "Traceback" not in live.stderr_tail()
