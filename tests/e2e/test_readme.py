"""The README's Quickstart, run as written (only the connection string, CA path and ports of this
test's server put in): every step works in order, and the realtime listener gets the message."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.support.live import LiveServer

ROOT = Path(__file__).resolve().parents[2]


def _quickstart_python() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Quickstart") :]
    section = section[: section.index("\n## ", 4)]
    return [re.sub(r"(?m)^   ", "", block) for block in re.findall(r"```python\n(.*?)```", section, re.S)]


def test_the_quickstart_runs_as_written(live: LiveServer) -> None:
    blocks = _quickstart_python()
    assert len(blocks) >= 3
    script = "\n".join(blocks)
    for written, actual in (
        ("endpoint=https://127.0.0.1:8443/;accesskey=…", live.connection_string),
        (".telex/tls/ca.pem", str(live.ca)),
        ("https://127.0.0.1:8443", live.https_url),
        ("http://127.0.0.1:8080", live.http_url),
    ):
        assert written in script, written
        script = script.replace(written, actual)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "chatMessageReceived hi from the official SDK" in done.stdout
