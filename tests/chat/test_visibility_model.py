"""History visibility against a model (security.md G13): seeded random sequences of sends,
removals and re-additions (with and without ``shareHistoryTime``); every user's REST history
and realtime replay must equal what the model says they may see — nothing more, nothing less."""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass, field

import httpx
import pytest

from telex.app import Node
from tests.chat.conftest import User, users_of
from tests.chat.test_realtime import raw
from tests.support.apiversions import async_hooks
from tests.support.serve import running


@dataclass
class Model:
    """Expected REST view (messages from ``start`` on) and realtime view (events) per user."""

    members: dict[str, int] = field(default_factory=dict)  # user id -> first visible message index
    texts: list[tuple[str, float]] = field(default_factory=list)  # (text, created time)
    events: dict[str, list[str]] = field(default_factory=dict)  # user id -> event names / texts

    def saw(self, users: set[str], what: str) -> None:
        for u in users:
            self.events.setdefault(u, []).append(what)


async def _replay(url: str, user: User) -> list[str]:
    ws = await raw(url, user, cursor="0")
    await ws.send(json.dumps({"type": "ping"}))  # answered after the replay: marks its end
    seen = []
    async with asyncio.timeout(10):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == "pong":
                break
            if frame["type"] == "event":
                data = frame["data"]
                seen.append(data["message"] if frame["event"] == "chatMessageReceived" else frame["event"])
    await ws.close()
    return seen


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_visibility_matches_the_model(chat_node: Node, seed: int) -> None:
    rng = random.Random(seed)
    make = users_of(chat_node)
    owner, *others = [await make() for _ in range(4)]
    by_id = {u.id: u for u in (owner, *others)}
    model = Model()
    async with running(chat_node) as url, httpx.AsyncClient(event_hooks=async_hooks(), base_url=url) as api:
        r = await api.post("/chat/threads", json={"topic": "t"}, headers=owner.headers)
        tid = r.json()["chatThread"]["id"]
        base = f"/chat/threads/{tid}"
        model.members[owner.id] = 0
        model.saw({owner.id}, "chatThreadCreated")
        for step in range(60):
            op = rng.random()
            outside = [u for u in others if u.id not in model.members]
            inside = [u for u in others if u.id in model.members]
            if op < 0.55 or not (outside or inside):
                sender = by_id[rng.choice(sorted(model.members))]
                text = f"m{step}"
                r = await api.post(f"{base}/messages", json={"content": text}, headers=sender.headers)
                assert r.status_code == 201
                got = await api.get(f"{base}/messages/{r.json()['id']}", headers=sender.headers)
                created = got.json()["createdOn"]
                model.texts.append((text, _epoch(created)))
                model.saw(set(model.members), text)
            elif op < 0.8 and outside:
                who = rng.choice(outside)
                choice = rng.choice(["none", "all", "point"])
                entry: dict[str, object] = {"communicationIdentifier": {"rawId": who.id}}
                start = len(model.texts)
                if choice == "all":
                    entry["shareHistoryTime"] = "1970-01-01T00:00:00Z"
                    start = 0
                elif choice == "point" and model.texts:
                    k = rng.randrange(len(model.texts))
                    entry["shareHistoryTime"] = _iso(model.texts[k][1])
                    start = next(i for i, (_, t) in enumerate(model.texts) if t >= model.texts[k][1])
                r = await api.post(
                    f"{base}/participants/:add", json={"participants": [entry]}, headers=owner.headers
                )
                assert r.status_code == 201
                model.members[who.id] = start
                model.saw(set(model.members), "participantsAdded")
            elif inside:
                who = rng.choice(inside)
                r = await api.post(
                    f"{base}/participants/:remove", json={"rawId": who.id}, headers=owner.headers
                )
                assert r.status_code == 204
                model.saw(set(model.members), "participantsRemoved")
                del model.members[who.id]

        for user in (owner, *others):
            r = await api.get(f"{base}/messages?maxPageSize=200", headers=user.headers)
            if user.id not in model.members:
                assert r.status_code == 404
                continue
            texts = [m["content"]["message"] for m in r.json()["value"] if m["type"] == "text"][::-1]
            assert texts == [t for t, _ in model.texts[model.members[user.id] :]], user.id
        for user in (owner, *others):
            assert await _replay(url, user) == model.events.get(user.id, []), user.id


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
