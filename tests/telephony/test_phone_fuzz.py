"""Bad input to the phone-number, SMS and handset APIs never gives a 5xx (security.md G1): a
bounded schemathesis run over every new operation in /openapi.json against a live server, HMAC
signed, with path parameters and senders pointed at a real owned number, search, operation and
reservation so that requests reach the services rather than stopping at 404."""

from __future__ import annotations

import base64
import random
import time
import uuid
from collections.abc import Iterator

import pytest
import requests
import schemathesis

from telex.identity.hmac_auth import sign
from tests.support.fuzz import fuzz_operations, operations_under
from tests.support.live import LiveServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

MAX_EXAMPLES = 15  # per operation: ~450 requests in all
PREFIXES = ("/availablePhoneNumbers", "/phoneNumbers", "/operatorInformation", "/sms", "/simulator")


class _Sign(requests.auth.AuthBase):
    def __init__(self, key: bytes) -> None:
        self.key = key

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        body = r.body or b""
        body = body.encode() if isinstance(body, str) else body
        host = requests.utils.urlparse(r.url).netloc
        r.headers.update(sign(r.method or "GET", r.path_url, host, body, self.key, time.time()))
        return r


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {"TELEX_NUMBERS__RETRY_AFTER_MS": "50", "TELEX_SMS__PER_MINUTE_GEOGRAPHIC": "0"}
    with LiveServer(tmp_path_factory.mktemp("phone-fuzz") / "data", env=env) as server:
        yield server


def _wait(session: requests.Session, url: str) -> None:
    for _ in range(200):
        if session.get(url, timeout=10).json()["status"] in ("succeeded", "failed"):
            return
        time.sleep(0.02)
    raise AssertionError("operation did not finish")


def test_phone_operations_have_no_server_errors_and_match_their_schema(live: LiveServer) -> None:
    session = requests.Session()
    session.auth = _Sign(base64.b64decode(live.access_key))
    base = live.http_url
    search = {
        "phoneNumberType": "geographic", "assignmentType": "application", "areaCode": "206", "quantity": 3,
        "capabilities": {"calling": "inbound+outbound", "sms": "inbound+outbound"},
    }  # fmt: skip
    v = "?api-version=2025-06-01"
    r = session.post(f"{base}/availablePhoneNumbers/countries/US/:search{v}", json=search, timeout=10)
    _wait(session, base + r.headers["Operation-Location"])
    search_id = r.headers["search-id"]
    numbers = session.get(base + r.headers["Location"], timeout=10).json()["phoneNumbers"]
    bought = session.post(
        f"{base}/availablePhoneNumbers/:purchase{v}", json={"searchId": search_id}, timeout=10
    )
    _wait(session, base + bought.headers["Operation-Location"])
    operation = bought.headers["operation-id"]
    reservation = str(uuid.uuid4())
    session.patch(
        f"{base}/availablePhoneNumbers/reservations/{reservation}{v}", json={"phoneNumbers": {}}, timeout=10
    )
    sender = numbers[0]

    ops = [op for op in operations_under(base, "/") if op.path.startswith(PREFIXES)]
    # Releasing and cancelling last keeps the others on live objects.
    ops.sort(key=lambda op: op.method.upper() == "DELETE")
    assert len(ops) >= 25, [op.path for op in ops]
    rng = random.Random(11)

    def aim(case: schemathesis.Case) -> None:
        params = case.path_parameters or {}
        choices = {
            "country_code": "US", "phone_number": sender, "number": sender, "operation_id": operation,
            "search_id": search_id, "reservation_id": reservation,
        }  # fmt: skip
        for name, value in choices.items():
            if name in params and rng.random() < 0.7:
                params[name] = value
        if isinstance(case.body, dict) and "from" in case.body and rng.random() < 0.7:
            case.body["from"] = sender

    statuses = fuzz_operations(base, ops, session, aim, MAX_EXAMPLES)
    assert sum(statuses.values()) >= 300, statuses
    assert {200, 202} <= set(statuses) and 400 in statuses, statuses
    assert "Traceback" not in live.stderr_tail()
