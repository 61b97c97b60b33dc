"""Message metadata is bounded and an edit replaces it (the "metadata bomb" of the hardening
report: 20 edits of 1 MB grew the database from 34 to 272 MB and sent 190 MB of frames)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.chat.conftest import open_node, users_of
from tests.chat.test_realtime import raw
from tests.support.serve import running

API = "api-version=2024-03-07"


def _db_bytes(data_dir: Path) -> int:
    return sum(p.stat().st_size for p in data_dir.glob("telex.db*"))


async def test_metadata_limits_and_edits_replace(tmp_path: Path) -> None:
    node = await open_node(tmp_path)
    make = users_of(node)
    a, b = await make(), await make()
    try:
        async with running(node) as url, httpx.AsyncClient(base_url=url, timeout=30) as api:
            r = await api.post(
                f"/chat/threads?{API}",
                json={"topic": "t", "participants": [{"communicationIdentifier": {"rawId": b.id}}]},
                headers=a.headers,
            )
            tid = r.json()["chatThread"]["id"]
            r = await api.post(
                f"/chat/threads/{tid}/messages?{API}",
                json={"content": "hi", "metadata": {"k": "v"}},
                headers=a.headers,
            )
            mid = r.json()["id"]
            listener = await raw(url, b)
            frames: list[int] = []
            before = _db_bytes(tmp_path / "data")
            edit = f"/chat/threads/{tid}/messages/{mid}?{API}"
            patch = {"content-type": "application/merge-patch+json", **a.headers}
            # 20 edits of 1 MB: each refused, nothing stored.
            for i in range(20):
                bomb = {"metadata": {f"k{i}": "x" * 1_000_000}}
                r = await api.patch(edit, content=json.dumps(bomb), headers=patch)
                assert r.status_code == 400 and "4096 bytes" in r.json()["error"]["message"]
            # 20 edits of the most allowed (8 KiB in 4 keys), each with new keys: replaced, not added.
            for i in range(20):
                meta = {f"e{i}-{j}": "y" * 2000 for j in range(4)}
                r = await api.patch(edit, content=json.dumps({"metadata": meta}), headers=patch)
                assert r.status_code == 204, r.text
            for _ in range(20):
                frames.append(len(await listener.recv()))
            await listener.close()
            r = await api.get(f"/chat/threads/{tid}/messages/{mid}?{API}", headers=a.headers)
            assert sorted(r.json()["metadata"]) == [f"e19-{j}" for j in range(4)]  # the last edit's only
            listing = await api.get(f"/chat/threads/{tid}/messages?{API}", headers=a.headers)
            assert len(listing.content) < 16_000  # was 19 MB
            assert max(frames) < 16_000 and sum(frames) < 400_000  # was 19 MB and 190 MB
            assert _db_bytes(tmp_path / "data") - before < 2 << 20  # was +238 MB
            # Each limit, named.
            for meta, words in [
                ({f"k{i}": "v" for i in range(33)}, "at most 32 keys"),
                ({"k" * 257: "v"}, "1 to 256 bytes"),
                ({"": "v"}, "1 to 256 bytes"),
                ({f"k{i}": "v" * 4000 for i in range(3)}, "8192 bytes in all"),
            ]:
                r = await api.post(
                    f"/chat/threads/{tid}/messages?{API}",
                    json={"content": "x", "metadata": meta},
                    headers=a.headers,
                )
                assert r.status_code == 400 and words in r.json()["error"]["message"], (words, r.text)
            # A null value in an edit leaves the key out; no metadata leaves it as it was.
            r = await api.patch(edit, content=json.dumps({"metadata": {"a": "1", "b": None}}), headers=patch)
            assert r.status_code == 204
            r = await api.patch(edit, content=json.dumps({"content": "edited"}), headers=patch)
            r = await api.get(f"/chat/threads/{tid}/messages/{mid}?{API}", headers=a.headers)
            assert r.json()["metadata"] == {"a": "1"} and r.json()["content"]["message"] == "edited"
    finally:
        await node.close()
