"""The browser SDK's realtime connection fails over across endpoints (run under Node)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import telex

_SDK = Path(telex.__file__).parent / "web" / "static" / "sdk" / "realtime.js"


def test_the_browser_sdk_resumes_on_the_next_endpoint_with_its_cursor() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not installed")
    script = Path(__file__).with_name("sdk_failover.mjs")
    run = subprocess.run(
        [node, str(script), _SDK.as_uri()], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    a, b = "ws://a.test/realtime", "ws://b.test/realtime"
    assert seen["urls"] == [a, b, a, b]
    assert seen["cursors"] == [None, "7", "7", "7"]  # resumes with the last cursor it processed
    assert seen["failoverMs"] < 100  # no backoff when another endpoint has not been tried
    assert seen["waitedMs"] >= 90  # every endpoint failed in turn: the first backoff (100 ms)
    assert seen["connects"] == 2
