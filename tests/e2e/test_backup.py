"""The backup of docs/deployment.md, done as it says: SQLite's online backup of a running server's
database, restored into a new data directory, keeps the access keys and the tokens working."""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path

import httpx

from tests.support.apiversions import hooks, versioned
from tests.support.live import LiveServer
from tests.support.signing import HmacSigner


def test_an_online_backup_restores_the_keyring(tmp_path: Path) -> None:
    backup = tmp_path / "telex-backup.db"
    with LiveServer(tmp_path / "a") as a:
        key = a.access_key
        with httpx.Client(
            base_url=a.http_url, auth=HmacSigner(base64.b64decode(key)), timeout=10, event_hooks=hooks()
        ) as http:
            made = http.post("/identities", json={"createTokenWithScopes": ["chat"]})
        assert made.status_code == 201
        token = made.json()["accessToken"]["token"]
        # While it runs, as docs/deployment.md says (the python3 one-liner there).
        sqlite3.connect(a.data_dir / "telex.db").backup(sqlite3.connect(backup))
    restored = tmp_path / "b"
    restored.mkdir(mode=0o700)
    (restored / "telex.db").write_bytes(backup.read_bytes())
    with LiveServer(restored) as b:
        assert b.access_key == key  # connection strings keep working
        bearer = {"Authorization": f"Bearer {token}"}
        assert (
            httpx.get(versioned(f"{b.http_url}/chat/threads"), headers=bearer, timeout=10).status_code == 200
        )
