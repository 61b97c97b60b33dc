"""The browser SDK's realtime connection (static/sdk/realtime.js) under Node, with a scripted
WebSocket: frames it cannot take are passed over and reported, never looped on."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

SDK = Path(__file__).resolve().parents[2] / "src" / "telex" / "web" / "static" / "sdk"

SCRIPT = """
import { RealtimeConnection } from "%(sdk)s/realtime.js";
const opened = [];
class FakeSocket {
  constructor(url) { this.url = url; opened.push(this); setTimeout(() => this.onopen?.(), 0); }
  send(text) {
    const frame = JSON.parse(text);
    if (frame.type !== "auth") return;
    const say = (f) => this.onmessage?.({ data: typeof f === "string" ? f : JSON.stringify(f) });
    setTimeout(() => {
      say({ type: "ready", userId: "8:acs:u", cursor: frame.cursor ?? "0", heartbeatSeconds: 15 });
      if (opened.length > 1) return;  // a reconnect would replay: there must be none
      say({ type: "event", event: "chatMessageReceived", cursor: "1", data: { n: 1 } });
      say({ type: "skipped", event: "chatMessageEdited", cursor: "2", bytes: 5000000,
            ref: { threadId: "t", messageId: "m" } });
      say("{not json");
      say({ type: "event", event: "chatMessageReceived", cursor: "3", data: { n: 3 } });
    }, 0);
  }
  close() {}
}
const credential = { getToken: async () => ({ token: "t" }), on() {}, canRefresh: false };
const rt = new RealtimeConnection("http://x", credential, { WebSocket: FakeSocket });
const seen = [];
rt.on("event", (e) => seen.push(["event", e.cursor]));
rt.on("skipped", (e) => seen.push(["skipped", e.reason, e.cursor, e.ref.messageId ?? null]));
await rt.connect();
await new Promise((r) => setTimeout(r, 50));
rt.close();
console.log(JSON.stringify({ seen, cursor: rt.cursor, sockets: opened.length }));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_skipped_and_malformed_frames_are_passed_over(tmp_path: Path) -> None:
    script = tmp_path / "t.mjs"
    script.write_text(SCRIPT % {"sdk": SDK.as_uri()})
    done = subprocess.run(["node", str(script)], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["seen"] == [
        ["event", "1"],
        ["skipped", "tooLarge", "2", "m"],
        ["skipped", "malformed", None, None],
        ["event", "3"],
    ]
    assert out["cursor"] == "3" and out["sockets"] == 1
