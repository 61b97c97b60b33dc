"""Bad input to the subscription API never gives a 5xx (security.md G1): a bounded schemathesis
run over every ``/eventSubscriptions`` operation against a live server, HMAC-signed, with path
names and URLs mostly aimed at a real subscription and a real loopback receiver, so requests
reach the service (and its handshakes) rather than stopping at 404."""

from __future__ import annotations

import base64
import json
import random
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import schemathesis

from tests.e2e.test_api_fuzz import _Sign
from tests.support.fuzz import fuzz_operations, operations_under
from tests.support.live import LiveServer

pytestmark = pytest.mark.e2e

MAX_EXAMPLES = 25  # per operation: ~300 requests in all
CONFIG = """
[outbound]
allow_http = true
allowed = ["127.0.0.1"]
response_timeout_seconds = 2.0
"""


class _Endpoint(BaseHTTPRequestHandler):
    """Consents to every handshake and accepts every delivery."""

    def do_OPTIONS(self) -> None:
        self.send_response(200)
        self.send_header("WebHook-Allowed-Origin", "*")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        reply = b""
        if self.headers.get("aeg-event-type") == "SubscriptionValidation":
            reply = json.dumps({"validationResponse": json.loads(body)[0]["data"]["validationCode"]}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *_: object) -> None:
        return None


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Endpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    directory = Path(tmp_path_factory.mktemp("events-fuzz"))
    config = directory / "telex.toml"
    config.write_text(CONFIG)
    with LiveServer(directory / "data", extra_args=["--config", str(config)]) as server:
        yield server


def test_subscription_operations_have_no_server_errors(live: LiveServer, endpoint: str) -> None:
    session = requests.Session()
    session.auth = _Sign(base64.b64decode(live.access_key))
    body = {"properties": {"destination": {"properties": {"endpointUrl": endpoint}}}}
    assert session.put(f"{live.http_url}/eventSubscriptions/fuzzed", json=body, timeout=10).status_code == 201

    operations = operations_under(live.http_url, "/eventSubscriptions")
    operations.sort(key=lambda op: op.method.upper() == "DELETE")  # delete last
    assert len(operations) == 13  # validate is GET and POST
    rng = random.Random(12)

    def aim(case: schemathesis.Case) -> None:
        params = case.path_parameters or {}
        if "name" in params and rng.random() < 0.8:
            params["name"] = "fuzzed"
        properties = case.body.get("properties") if isinstance(case.body, dict) else None
        target = properties if isinstance(properties, dict) else case.body
        if isinstance(target, dict) and isinstance(target.get("destination"), dict) and rng.random() < 0.7:
            destination = target["destination"]
            if isinstance(destination.get("properties"), dict):
                destination["properties"]["endpointUrl"] = endpoint

    statuses = fuzz_operations(live.http_url, operations, session, aim, MAX_EXAMPLES)
    assert sum(statuses.values()) >= 200, statuses
    assert {200, 201, 202, 204} & set(statuses) and 400 in statuses and 404 in statuses, statuses
    assert "Traceback" not in live.stderr_tail()
