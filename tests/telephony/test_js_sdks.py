"""The official ACS JavaScript SDKs (@azure/communication-phone-numbers, @azure/communication-sms,
pinned in tests/telephony/js/package-lock.json, installed by scripts/test) run a short flow in
Node against a live server over HTTPS, trusting its CA through NODE_EXTRA_CA_CERTS (the JS SDKs
send credentials over HTTPS only)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.live import LiveServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

JS = Path(__file__).with_name("js")


def test_the_js_sdks_search_buy_text_and_release(tmp_path: Path) -> None:
    if shutil.which("node") is None or not (JS / "node_modules" / "@azure" / "communication-sms").is_dir():
        if os.environ.get("CI"):
            pytest.fail(
                "Node.js and tests/telephony/js/node_modules are required in CI (scripts/test installs them)"
            )
        pytest.skip("needs Node.js and `npm ci` in tests/telephony/js")
    with LiveServer(tmp_path / "data", env={"TELEX_NUMBERS__RETRY_AFTER_MS": "50"}) as live:
        env = {
            **os.environ,
            "TELEX_CONNECTION_STRING": live.connection_string,
            "NODE_EXTRA_CA_CERTS": str(live.ca),
        }
        run = subprocess.run(
            ["node", str(JS / "flow.mjs")], env=env, capture_output=True, text=True, timeout=120, check=False
        )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["search"]["count"] == 2
    assert out["owned"] == ["+15125550100", "+15125550101"]
    assert out["updated"] == out["got"] == {"calling": "none", "sms": "inbound+outbound"}
    assert [(r["to"], r["status"], r["ok"]) for r in out["sms"]] == [
        ("+15125550101", 202, True),
        ("+1512555012345", 400, False),
    ]
    assert out["sms"][0]["id"].startswith("Outgoing_") and out["sms"][1]["id"] is None
    assert out["afterRelease"] == ["+15125550101"]
    assert out["releasedSend"] == 401
