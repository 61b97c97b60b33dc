"""Chat rules in process: history visibility, limits, rate limits, signals, paging, sanitising,
idempotency, the removal race, and O(1) log writes per message — on SQLite and PostgreSQL where
the store matters."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from telex.app import Node
from telex.events.schema import events
from tests.chat.conftest import MakeUser, User, client_of, open_node, users_of


def _p(*users: User) -> list[dict[str, object]]:
    return [{"communicationIdentifier": {"rawId": u.id}} for u in users]


async def _thread(api: httpx.AsyncClient, owner: User, *members: User) -> str:
    r = await api.post(
        "/chat/threads", json={"topic": "t", "participants": _p(*members)}, headers=owner.headers
    )
    assert r.status_code == 201, r.text
    return str(r.json()["chatThread"]["id"])


async def _send(api: httpx.AsyncClient, user: User, tid: str, text: str) -> str:
    r = await api.post(f"/chat/threads/{tid}/messages", json={"content": text}, headers=user.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _texts(api: httpx.AsyncClient, user: User, tid: str) -> list[str]:
    r = await api.get(f"/chat/threads/{tid}/messages?maxPageSize=200", headers=user.headers)
    assert r.status_code == 200, r.text
    return [m["content"]["message"] for m in r.json()["value"] if m["type"] == "text"][::-1]


async def test_history_visibility_follows_share_history_time(db_node: Node) -> None:
    make = users_of(db_node)
    a, late, full, rejoin = [await make() for _ in range(4)]
    async with client_of(db_node) as api:
        tid = await _thread(api, a, rejoin)
        old = await _send(api, a, tid, "before")
        await asyncio.sleep(0.01)
        cut = datetime.now(UTC).isoformat()
        await _send(api, a, tid, "after cut")
        body = {
            "participants": [
                {"communicationIdentifier": {"rawId": late.id}},
                {"communicationIdentifier": {"rawId": full.id}, "shareHistoryTime": "1970-01-01T00:00:00Z"},
            ]
        }
        assert (
            await api.post(f"/chat/threads/{tid}/participants/:add", json=body, headers=a.headers)
        ).status_code == 201
        await _send(api, a, tid, "new")
        assert await _texts(api, late, tid) == ["new"]
        assert await _texts(api, full, tid) == ["before", "after cut", "new"]
        assert (await api.get(f"/chat/threads/{tid}/messages/{old}", headers=late.headers)).status_code == 404
        assert (
            await api.post(
                f"/chat/threads/{tid}/readReceipts", json={"chatMessageId": old}, headers=late.headers
            )
        ).status_code == 404
        # removed and re-added from a point in time: sees from there, not the old membership's view
        await api.post(
            f"/chat/threads/{tid}/participants/:remove", json={"rawId": rejoin.id}, headers=a.headers
        )
        await _send(api, a, tid, "while away")
        body = {"participants": [{"communicationIdentifier": {"rawId": rejoin.id}}]}
        await api.post(f"/chat/threads/{tid}/participants/:add", json=body, headers=a.headers)
        assert await _texts(api, rejoin, tid) == []
        body = {"participants": [{"communicationIdentifier": {"rawId": late.id}}], "x": 1}
        await api.post(
            f"/chat/threads/{tid}/participants/:remove", json={"rawId": late.id}, headers=a.headers
        )
        body = {"participants": [{"communicationIdentifier": {"rawId": late.id}, "shareHistoryTime": cut}]}
        await api.post(f"/chat/threads/{tid}/participants/:add", json=body, headers=a.headers)
        assert await _texts(api, late, tid) == ["after cut", "new", "while away"]


async def test_one_event_row_per_message_whatever_the_member_count(db_node: Node) -> None:
    make = users_of(db_node)
    owner = await make()
    members = [await make() for _ in range(99)]
    async with client_of(db_node) as api:
        tid = await _thread(api, owner, *members)
        async with db_node.db.read() as conn:
            before = (await conn.execute(select(func.count()).select_from(events))).scalar_one()
        for i in range(5):
            await _send(api, members[i], tid, f"m{i}")
        async with db_node.db.read() as conn:
            after = (await conn.execute(select(func.count()).select_from(events))).scalar_one()
            positions = [
                r[0] for r in await conn.execute(select(events.c.position).order_by(events.c.position))
            ]
    assert after - before == 5
    assert positions == sorted(set(positions))


async def test_concurrent_sends_get_consecutive_sequence_ids(db_node: Node) -> None:
    make = users_of(db_node)
    users = [await make() for _ in range(4)]
    async with client_of(db_node) as api:
        tid = await _thread(api, users[0], *users[1:])
        await asyncio.gather(*(_send(api, u, tid, f"{u.id}-{i}") for u in users for i in range(10)))
        r = await api.get(f"/chat/threads/{tid}/messages?maxPageSize=200", headers=users[0].headers)
    seqs = [int(m["sequenceId"]) for m in r.json()["value"]]
    ids = [int(m["id"]) for m in r.json()["value"]]
    assert seqs == list(range(41, 0, -1))
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 41


async def test_removal_race_never_lets_a_removed_member_post(db_node: Node) -> None:
    make = users_of(db_node)
    admin = await make()
    async with client_of(db_node) as api:
        for _ in range(15):
            x = await make()
            tid = await _thread(api, admin, x)

            async def spam(x: User = x, tid: str = tid) -> list[int]:
                codes = []
                for i in range(20):
                    r = await api.post(
                        f"/chat/threads/{tid}/messages", json={"content": str(i)}, headers=x.headers
                    )
                    codes.append(r.status_code)
                return codes

            async def remove(x: User = x, tid: str = tid) -> None:
                await asyncio.sleep(0)
                await api.post(
                    f"/chat/threads/{tid}/participants/:remove", json={"rawId": x.id}, headers=admin.headers
                )

            codes, _ = await asyncio.gather(spam(), remove())
            assert set(codes) <= {201, 404}
            assert codes == sorted(codes, key=lambda c: c == 404)  # once refused, always refused
            msgs = (
                await api.get(f"/chat/threads/{tid}/messages?maxPageSize=200", headers=admin.headers)
            ).json()["value"]
            removal = next(int(m["sequenceId"]) for m in msgs if m["type"] == "participantRemoved")
            assert all(int(m["sequenceId"]) < removal for m in msgs if m["type"] == "text")
            assert sum(m["type"] == "text" for m in msgs) == codes.count(201)


async def test_limits(tmp_path: Path) -> None:
    node = await open_node(
        tmp_path,
        max_participants=5,
        max_participants_per_batch=3,
        max_content_bytes=100,
        signals_max_participants=3,
    )
    try:
        make = users_of(node)
        a, b, c, d, e, f = [await make() for _ in range(6)]
        async with client_of(node) as api:
            r = await api.post(
                "/chat/threads", json={"topic": "t", "participants": _p(b, c, d, e)}, headers=a.headers
            )
            assert r.status_code == 400
            tid = await _thread(api, a, b)
            base = f"/chat/threads/{tid}"
            r = await api.post(f"{base}/messages", json={"content": "x" * 101}, headers=a.headers)
            assert r.status_code == 400
            mid = await _send(api, a, tid, "é" * 50)
            # signals work at 3 members, then stop above the limit
            await api.post(f"{base}/participants/:add", json={"participants": _p(c)}, headers=a.headers)
            assert (
                await api.post(f"{base}/readReceipts", json={"chatMessageId": mid}, headers=b.headers)
            ).status_code == 200
            assert len((await api.get(f"{base}/readReceipts", headers=a.headers)).json()["value"]) == 1
            await api.post(f"{base}/participants/:add", json={"participants": _p(d)}, headers=a.headers)
            mid2 = await _send(api, a, tid, "later")
            assert (
                await api.post(f"{base}/readReceipts", json={"chatMessageId": mid2}, headers=c.headers)
            ).status_code == 200
            assert (await api.post(f"{base}/typing", json={}, headers=c.headers)).status_code == 200
            assert (await api.get(f"{base}/readReceipts", headers=a.headers)).json()["value"] == []
            r = await api.post(
                f"{base}/participants/:add", json={"participants": _p(e, f)}, headers=a.headers
            )
            assert r.status_code == 400  # 6 > 5
            for size in (0, 201):
                r = await api.get(f"{base}/messages?maxPageSize={size}", headers=a.headers)
                assert r.status_code == 400
            r = await api.get(f"{base}/messages?continuationToken=garbage!", headers=a.headers)
            assert r.status_code == 400
            assert (await api.get(f"{base}/participants?skip=-1", headers=a.headers)).status_code == 400
    finally:
        await node.close()


async def test_rate_limits_answer_429_with_retry_after(tmp_path: Path) -> None:
    node = await open_node(
        tmp_path, messages_per_thread_per_10s=3, threads_per_user_per_10s=2, typing_per_user_per_10s=1
    )
    try:
        make = users_of(node)
        a = await make()
        async with client_of(node) as api:
            tid = await _thread(api, a)
            await _thread(api, a)
            r = await api.post("/chat/threads", json={"topic": "t"}, headers=a.headers)
            assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
            codes = [
                (
                    await api.post(f"/chat/threads/{tid}/messages", json={"content": "x"}, headers=a.headers)
                ).status_code
                for _ in range(5)
            ]
            assert codes == [201, 201, 201, 429, 429]
            assert (
                await api.post(f"/chat/threads/{tid}/typing", headers=a.headers, json={})
            ).status_code == 200
            r = await api.post(f"/chat/threads/{tid}/typing", headers=a.headers, json={})
            assert r.status_code == 429 and r.json()["error"]["code"] == "TooManyRequests"
    finally:
        await node.close()


async def test_idempotent_create_and_body_mismatch(api: httpx.AsyncClient, make_user: MakeUser) -> None:
    a, b = await make_user(), await make_user()
    h = {**a.headers, "repeatability-request-id": "same"}
    first = await api.post("/chat/threads", json={"topic": "t"}, headers=h)
    second = await api.post("/chat/threads", json={"topic": "t"}, headers=h)
    assert first.status_code == second.status_code == 201
    assert first.json()["chatThread"]["id"] == second.json()["chatThread"]["id"]
    assert first.headers["location"].startswith("/chat/threads/19%3A")
    assert (await api.post("/chat/threads", json={"topic": "other"}, headers=h)).status_code == 400
    # the key is per user
    other = await api.post(
        "/chat/threads", json={"topic": "t"}, headers={**b.headers, "repeatability-request-id": "same"}
    )
    assert other.json()["chatThread"]["id"] != first.json()["chatThread"]["id"]
    listed = (await api.get("/chat/threads", headers=a.headers)).json()["value"]
    assert len(listed) == 1


@pytest.mark.parametrize(
    ("html", "clean"),
    [
        ('<img src="x" onerror="alert(1)">', '<img src="x">'),
        ('<a href="javascript:alert(1)">x</a>', '<a rel="noopener noreferrer">x</a>'),
        ("<iframe src=//evil></iframe>ok", "ok"),
        ('<p style="color:red">t</p>', "<p>t</p>"),
        ("<b>b</b><i>i</i><ul><li>l</li></ul>", "<b>b</b><i>i</i><ul><li>l</li></ul>"),
    ],
)
async def test_html_is_sanitised(api: httpx.AsyncClient, make_user: MakeUser, html: str, clean: str) -> None:
    a = await make_user()
    tid = await _thread(api, a)
    r = await api.post(
        f"/chat/threads/{tid}/messages", json={"content": html, "type": "html"}, headers=a.headers
    )
    got = (await api.get(f"/chat/threads/{tid}/messages/{r.json()['id']}", headers=a.headers)).json()
    assert got["content"]["message"] == clean


async def test_thread_list_pages_and_start_time(api: httpx.AsyncClient, make_user: MakeUser) -> None:
    a = await make_user()
    tids = [await _thread(api, a) for _ in range(5)]
    await _send(api, a, tids[0], "bump")  # most recently active first
    seen, url = [], "/chat/threads?maxPageSize=2"
    while url:
        body = (await api.get(url, headers=a.headers)).json()
        seen += [t["id"] for t in body["value"]]
        url = body.get("nextLink")
    assert seen[0] == tids[0] and sorted(seen) == sorted(tids)
    future = "2999-01-01T00:00:00Z"
    assert (await api.get(f"/chat/threads?startTime={future}", headers=a.headers)).json()["value"] == []


@pytest.mark.parametrize(
    "path",
    [
        "/chat/threads?continuationToken=WzEsMiwzXQ",  # [1,2,3]: a token of the wrong shape
        "/chat/threads?continuationToken=WyJ4IiwiMTk6YSIsbnVsbF0",  # ["x","19:a",null]
        "/chat/threads/{tid}/messages?continuationToken=WzEwMDAwMDAwMDAwMDAwMDAwMDAwMDAwLG51bGxd",  # huge
        "/chat/threads/{tid}/messages?continuationToken=WyIxIiwieCJd",  # ["1","x"]
        "/chat/threads/{tid}/participants?skip=100000000000000000000000",
        "/chat/threads/{tid}/readReceipts?skip=-5",
        "/chat/threads/{tid}/messages?startTime=not-a-time",
    ],
)
async def test_forged_paging_state_is_400(db_node: Node, path: str) -> None:
    a = await users_of(db_node)()
    async with client_of(db_node) as api:
        tid = await _thread(api, a)
        r = await api.get(path.format(tid=tid), headers=a.headers)
    assert r.status_code == 400, r.text


async def test_nul_characters_are_refused_on_every_backend(db_node: Node) -> None:
    a = await users_of(db_node)()
    async with client_of(db_node) as api:
        tid = await _thread(api, a)
        r = await api.post(f"/chat/threads/{tid}/messages", json={"content": "a\x00b"}, headers=a.headers)
        assert r.status_code == 400
        r = await api.post(
            "/chat/threads",
            json={"topic": "t", "participants": [{"communicationIdentifier": {"rawId": "\x00"}}]},
            headers=a.headers,
        )
        assert r.status_code == 400
        for path in (f"/chat/threads/{tid}%00", f"/chat/threads/{tid}/messages/1%00"):
            assert (await api.get(path, headers=a.headers)).status_code == 404
        r = await api.post(
            f"/chat/threads/{tid}/participants/:remove", json={"rawId": "x\x00"}, headers=a.headers
        )
        assert r.status_code == 400
