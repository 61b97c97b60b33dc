"""Bad input never gives a 5xx (security.md G1): a bounded schemathesis run over /openapi.json
against a live server, every request HMAC-signed like the official SDKs sign it."""

from __future__ import annotations

import base64
import json
import time

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telex.identity.hmac_auth import sign
from tests.support.apiversions import versioned
from tests.support.fuzz import CHECKS
from tests.support.live import LiveServer


class _Sign(requests.auth.AuthBase):
    def __init__(self, key: bytes) -> None:
        self.key = key

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        body = r.body or b""
        body = body.encode() if isinstance(body, str) else body
        host = requests.utils.urlparse(r.url).netloc
        r.headers.update(sign(r.method or "GET", r.path_url, host, body, self.key, time.time()))
        return r


MAX_EXAMPLES = 60  # per operation: ~500 requests in all, well under a minute


def test_api_has_no_server_errors_and_matches_its_schema(live: LiveServer) -> None:
    schema = schemathesis.openapi.from_url(f"{live.http_url}/openapi.json")
    session = _session(live)
    checks = CHECKS
    before = _served(live)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def run(case: schemathesis.Case) -> None:
            response = case.call(base_url=live.http_url, session=session, timeout=10)
            case.validate_response(response, checks=checks)

        run()
    assert _served(live) - before >= 100  # the run really exercised the server


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=20), inner, max_size=4),
    max_leaves=12,
)
FIELDS = st.fixed_dictionaries(
    {},
    optional={"scopes": JSON, "createTokenWithScopes": JSON, "expiresInMinutes": JSON},
)
BODIES = st.one_of(
    JSON.map(lambda v: json.dumps(v).encode()),
    FIELDS.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=64),
)


@pytest.mark.parametrize("path", ["/identities", "/identities/{user}/:issueAccessToken"])
def test_arbitrary_bodies_get_a_4xx_with_the_acs_error_body(live: LiveServer, path: str) -> None:
    session = _session(live)
    user = session.post(versioned(f"{live.http_url}/identities"), timeout=10).json()["identity"]["id"]
    url = versioned(live.http_url + path.format(user=user))

    @given(body=BODIES)
    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(body: bytes) -> None:
        r = session.post(url, data=body, headers={"content-type": "application/json"}, timeout=10)
        assert r.status_code < 500, r.text
        if r.status_code >= 400:
            error = r.json()["error"]
            assert isinstance(error["code"], str) and isinstance(error["message"], str)

    run()


def _session(live: LiveServer) -> requests.Session:
    session = requests.Session()
    session.auth = _Sign(base64.b64decode(live.access_key))
    return session


def _served(live: LiveServer) -> float:
    text = requests.get(f"{live.admin_url}/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("telex_http_requests_total{")
    )
