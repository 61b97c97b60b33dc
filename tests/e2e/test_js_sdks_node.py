"""The official ACS JavaScript SDKs (identity, chat, network traversal), unmodified, in Node over
HTTPS against a live ``telex serve``: ``tests/js/node_sdks.mjs`` runs every operation and prints
what it saw; the checks are here. Node trusts the server's CA through ``NODE_EXTRA_CA_CERTS``, as
docs/js-sdks.md tells users to do."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.live import LiveServer

pytestmark = pytest.mark.e2e

JS_DIR = Path(__file__).resolve().parents[1] / "js"


@pytest.fixture(scope="module")
def seen(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if shutil.which("node") is None or not (JS_DIR / "node_modules" / "@azure").is_dir():
        pytest.fail(
            f"the JS SDK tests need node and the SDKs (npm ci --prefix {JS_DIR}; ./scripts/test does)"
        )
    env = {"TELEX_CHAT__MESSAGES_PER_THREAD_PER_10S": "0", "TELEX_CHAT__MESSAGES_PER_THREAD_PER_MINUTE": "0"}
    with LiveServer(tmp_path_factory.mktemp("node") / "data", env=env) as server:
        run = subprocess.run(
            ["node", "node_sdks.mjs", server.connection_string],
            cwd=JS_DIR, capture_output=True, text=True, timeout=120,
            env={**os.environ, "NODE_EXTRA_CA_CERTS": str(server.ca)},
        )  # fmt: skip
        assert run.returncode == 0, run.stderr[-3000:]
        yield json.loads(run.stdout)


def test_identity(seen: dict[str, Any]) -> None:
    ident = seen["identity"]
    assert all(ident[k].startswith("8:acs:") for k in ("bare", "alice", "bob"))
    assert ident["issuedExpiresOn"]
    assert ident["teamsExchange"]["status"] in (404, 501)  # Teams interop is not part of Telex
    assert ident["deletedAgain"]["status"] == 404


def test_chat(seen: dict[str, Any]) -> None:
    chat = seen["chat"]
    assert chat["created"]["topic"] == "node" and chat["invalid"] == []
    assert chat["created"]["metadata"] == {"a": "1"}
    assert chat["created"]["retentionPolicy"] == {"kind": "threadCreationDate", "deleteThreadAfterDays": 60}
    props = chat["properties"]
    assert props["topic"] == "node 2" and props["metadata"] == {"a": "2", "b": "x"}
    assert props["retentionPolicy"] == {"kind": "none"}
    message = chat["message"]
    assert message["content"]["message"] == "hello, edited" and message["metadata"] == {"m": "2"}
    assert message["senderDisplayName"] == "Alice" and message["editedOn"]
    assert sum(chat["messagePages"]) >= 26 and max(chat["messagePages"]) <= 10  # paged by nextLink
    assert chat["deleted"]["deletedOn"]
    by_name = {p.get("displayName"): p for p in chat["participants"]}
    assert by_name["Bob"]["metadata"] == {"role": "guest"} and by_name["Carol"]["metadata"] == {
        "role": "late"
    }
    assert chat["afterRemove"] == 2
    assert chat["typing"] is True
    assert len(chat["receipts"]) == 1
    assert chat["created"]["id"] in chat["threads"]
    assert "not supported in node" in chat["realtime"]["message"].lower()
    assert chat["afterDelete"]["status"] == 404


def test_network_traversal(seen: dict[str, Any]) -> None:
    relay = seen["relay"]
    assert relay["servers"] and relay["servers"][0]["routeType"] == "nearest"
    assert all(s["urls"] and s["username"] and s["credential"] for s in relay["servers"])
    assert relay["anonymous"] >= 1
