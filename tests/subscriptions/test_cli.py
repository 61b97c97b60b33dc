"""``telex events …`` does what the REST API does, on the node's store, and answers in its shapes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.subscriptions.test_fuzz import CONFIG, endpoint

pytestmark = pytest.mark.e2e

__all__ = ["endpoint"]


def telex(tmp_path: Path, *args: str, ok: bool = True) -> Any:
    config = tmp_path / "telex.toml"
    config.write_text(CONFIG)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEX_")}
    command = [sys.executable, "-m", "telex", "events", *args[:1], "--config", str(config)]
    command += ["--data-dir", str(tmp_path / "data"), *args[1:]]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert (done.returncode == 0) == ok, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_the_command_line_manages_subscriptions(tmp_path: Path, endpoint: str) -> None:
    types = telex(tmp_path, "types")
    assert (
        "Microsoft.Communication.ChatMessageReceived" in types
        and "Microsoft.Communication.CallEnded" in types
    )
    created = telex(
        tmp_path, "create", "cli-hook", "--url", endpoint,
        "--type", "Microsoft.Communication.ChatMessageReceived", "--subject-begins-with", "thread/",
        "--max-attempts", "5",
    )  # fmt: skip
    assert created["name"] == "cli-hook" and created["properties"]["provisioningState"] == "Succeeded"
    assert created["properties"]["retryPolicy"]["maxDeliveryAttempts"] == 5
    assert [s["name"] for s in telex(tmp_path, "list")["value"]] == ["cli-hook"]
    secret = telex(tmp_path, "secret", "cli-hook")["signingSecret"]
    assert secret.startswith("whsec_")
    rotated = telex(tmp_path, "rotate-secret", "cli-hook", "--keep-minutes", "5")
    assert rotated["previousSigningSecret"] == secret and rotated["signingSecret"] != secret
    updated = telex(tmp_path, "update", "cli-hook", "--all-types", "--schema", "cloudevents")
    assert updated["properties"]["filter"]["includedEventTypes"] is None
    assert updated["properties"]["eventDeliverySchema"] == "CloudEventSchemaV1_0"
    assert telex(tmp_path, "full-url", "cli-hook") == {"endpointUrl": endpoint}
    assert telex(tmp_path, "status", "cli-hook")["lagEvents"] == 0
    assert telex(tmp_path, "replay", "cli-hook", "--from-time", "2000-01-01T00:00:00Z") == {"fromPosition": 1}
    assert telex(tmp_path, "dead-letters", "cli-hook") == {"value": []}
    missing = telex(tmp_path, "show", "nope", ok=False)
    assert missing["error"]["code"] == "NotFound"
    refused = telex(tmp_path, "create", "bad", "--url", "https://10.0.0.1/hook", ok=False)
    assert refused["error"]["code"] == "ValidationFailed"
    assert telex(tmp_path, "delete", "cli-hook") == {"deleted": "cli-hook"}
    assert telex(tmp_path, "list") == {"value": []}
