"""Bad input never gives a 5xx (security.md G1): a bounded schemathesis run over /openapi.json
against a live server, every request HMAC-signed like the official SDKs sign it."""

from __future__ import annotations

import base64
import time

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from telex.identity.hmac_auth import sign
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


MAX_EXAMPLES = 40  # per operation and mode: ~500 requests in all, well under a minute


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode))
def test_api_has_no_server_errors_and_matches_its_schema(live: LiveServer, mode: schemathesis.GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(f"{live.http_url}/openapi.json")
    session = requests.Session()
    session.auth = _Sign(base64.b64decode(live.access_key))
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    if mode is schemathesis.GenerationMode.NEGATIVE:
        checks.append(negative_data_rejection)
    before = _served(live)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case: schemathesis.Case) -> None:
            response = case.call(base_url=live.http_url, session=session, timeout=10)
            case.validate_response(response, checks=checks)

        try:
            run()
        except Unsatisfiable:
            # An operation without parameters or body has no invalid input to generate.
            assert mode is schemathesis.GenerationMode.NEGATIVE
    assert _served(live) - before >= 100  # the run really exercised the server


def _served(live: LiveServer) -> float:
    text = requests.get(f"{live.http_url}/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("telex_http_requests_total{"))
