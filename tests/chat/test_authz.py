"""The authorization matrix (security.md G11): every thread-scoped route × {non-member, removed
member, member of another thread, token without a chat scope} — a uniform 404 (403 for the
scope) and not one byte of the thread in the answer. Plus the chat / chat.join /
chat.join.limited scope rules."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.chat.conftest import MakeUser, User

Route = tuple[str, str, Any]


async def _thread(api: httpx.AsyncClient, owner: User, *members: User, topic: str = "secret topic") -> str:
    body = {"topic": topic, "participants": [{"communicationIdentifier": {"rawId": m.id}} for m in members]}
    r = await api.post("/chat/threads", json=body, headers=owner.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["chatThread"]["id"])


def _routes(tid: str, mid: str, victim: str) -> list[Route]:
    base = f"/chat/threads/{tid}"
    return [
        ("GET", base, None),
        ("PATCH", base, {"topic": "hijacked"}),
        ("DELETE", base, None),
        ("GET", f"{base}/messages", None),
        ("POST", f"{base}/messages", {"content": "intrusion"}),
        ("GET", f"{base}/messages/{mid}", None),
        ("PATCH", f"{base}/messages/{mid}", {"content": "changed"}),
        ("DELETE", f"{base}/messages/{mid}", None),
        ("GET", f"{base}/participants", None),
        (
            "POST",
            f"{base}/participants/:add",
            {"participants": [{"communicationIdentifier": {"rawId": victim}}]},
        ),
        ("POST", f"{base}/participants/:remove", {"rawId": victim}),
        ("POST", f"{base}/typing", {}),
        ("POST", f"{base}/readReceipts", {"chatMessageId": mid}),
        ("GET", f"{base}/readReceipts", None),
    ]


async def _call(api: httpx.AsyncClient, user: User, route: Route) -> httpx.Response:
    method, url, body = route
    headers = dict(user.headers)
    if method == "PATCH":
        headers["content-type"] = "application/merge-patch+json"
        return await api.request(
            method, url, content=httpx.Request("X", "/", json=body).content, headers=headers
        )
    return await api.request(method, url, json=body, headers=headers)


async def test_no_route_leaks_to_non_members(api: httpx.AsyncClient, make_user: MakeUser) -> None:
    owner, member, stranger, leaver, other = [await make_user() for _ in range(5)]
    voip_only = await make_user("voip")
    tid = await _thread(api, owner, member, leaver)
    await _thread(api, other, topic="other thread")  # ``other`` is a member of another thread
    mid = (
        await api.post(
            f"/chat/threads/{tid}/messages", json={"content": "private words"}, headers=owner.headers
        )
    ).json()["id"]
    removed = await api.post(
        f"/chat/threads/{tid}/participants/:remove", json={"rawId": leaver.id}, headers=owner.headers
    )
    assert removed.status_code == 204
    missing = "19:00000000000000000000000000000000@thread.v2"

    bodies = set()
    for who in (stranger, leaver, other):
        for route in _routes(tid, mid, member.id) + _routes(missing, mid, member.id):
            r = await _call(api, who, route)
            assert r.status_code == 404, (route, r.status_code, r.text)
            assert "private" not in r.text and "secret" not in r.text
            bodies.add(r.text)
    assert len(bodies) == 1  # one uniform answer: no existence oracle
    for route in _routes(tid, mid, member.id):
        r = await _call(api, voip_only, route)
        assert r.status_code == 403, (route, r.text)

    # nothing the outsiders tried changed the thread
    msgs = (await api.get(f"/chat/threads/{tid}/messages", headers=member.headers)).json()["value"]
    assert [m["content"].get("message") for m in msgs if m["type"] == "text"] == ["private words"]
    assert (await api.get(f"/chat/threads/{tid}", headers=member.headers)).json()["topic"] == "secret topic"
    threads = (await api.get("/chat/threads", headers=leaver.headers)).json()["value"]
    assert threads == []


async def test_scope_rules(api: httpx.AsyncClient, make_user: MakeUser) -> None:
    owner = await make_user("chat")
    joiner = await make_user("chat.join")
    limited = await make_user("chat.join.limited")
    extra, extra2 = await make_user(), await make_user()
    r = await api.post("/chat/threads", json={"topic": "t"}, headers=joiner.headers)
    assert r.status_code == 403
    tid = await _thread(api, owner, joiner, limited)
    base = f"/chat/threads/{tid}"
    add = {"participants": [{"communicationIdentifier": {"rawId": extra.id}}]}

    # both join scopes may read and write messages
    for u in (joiner, limited):
        assert (
            await api.post(f"{base}/messages", json={"content": "hi"}, headers=u.headers)
        ).status_code == 201
        assert (await api.get(f"{base}/messages", headers=u.headers)).status_code == 200
    # neither may update or delete the thread
    for u in (joiner, limited):
        r = await api.patch(base, json={"topic": "x"}, headers=u.headers)
        assert r.status_code == 403
        assert (await api.delete(base, headers=u.headers)).status_code == 403
    # chat.join may add and remove others; chat.join.limited may not, but may leave
    assert (await api.post(f"{base}/participants/:add", json=add, headers=limited.headers)).status_code == 403
    assert (await api.post(f"{base}/participants/:add", json=add, headers=joiner.headers)).status_code == 201
    r = await api.post(f"{base}/participants/:remove", json={"rawId": extra.id}, headers=limited.headers)
    assert r.status_code == 403
    assert (
        await api.post(f"{base}/participants/:remove", json={"rawId": extra.id}, headers=joiner.headers)
    ).status_code == 204
    add2 = {"participants": [{"communicationIdentifier": {"communicationUser": {"id": extra2.id}}}]}
    assert (await api.post(f"{base}/participants/:add", json=add2, headers=owner.headers)).status_code == 201
    assert (
        await api.post(f"{base}/participants/:remove", json={"rawId": limited.id}, headers=limited.headers)
    ).status_code == 204
    assert (await api.get(base, headers=limited.headers)).status_code == 404


@pytest.mark.parametrize("token", ["", "Bearer", "Bearer not.a.token", "Basic abc"])
async def test_missing_or_bad_token_is_401(api: httpx.AsyncClient, token: str) -> None:
    r = await api.get("/chat/threads", headers={"authorization": token} if token else {})
    assert r.status_code == 401
    assert r.json()["error"]["code"] in ("Unauthorized", "InvalidToken")
