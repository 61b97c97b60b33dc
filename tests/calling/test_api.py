"""The calling REST API in process: scopes (``voip`` starts, ``voip.join`` only joins), the
uniform 404 for non-participants, the mesh limit, validation, and the domain events each
command appends to the event log (in the same transaction as its rows)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from telex.app import Node
from telex.config import ConfigError, load_settings
from tests.calling.conftest import MakeUser, User


def ident(user: User) -> dict[str, Any]:
    return {"communicationUser": {"id": user.id}}


async def start(api: httpx.AsyncClient, caller: User, *callees: User, video: bool = False) -> dict[str, Any]:
    r = await api.post(
        "/calling/calls",
        headers=caller.headers,
        json={"targets": [ident(c) for c in callees], "video": video},
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def join(api: httpx.AsyncClient, user: User, group: str) -> httpx.Response:
    return await api.post(f"/calling/groups/{group}/:join", headers=user.headers, json={"displayName": "x"})


def leg_url(call_id: str, pid: str, action: str) -> str:
    return f"/calling/calls/{call_id}/participants/{pid}/:{action}"


def ringing_leg(call: dict[str, Any], user: User) -> str:
    return next(
        str(p["participantId"])
        for p in call["participants"]
        if p["identifier"]["rawId"] == user.id and p["state"] == "ringing"
    )


async def test_voip_join_may_join_and_answer_but_never_start(
    api: httpx.AsyncClient, make_user: MakeUser
) -> None:
    voip, joiner, other = await make_user(), await make_user("chat", "voip.join"), await make_user()
    group = str(uuid.uuid4())
    r = await api.post("/calling/calls", headers=joiner.headers, json={"targets": [ident(other)]})
    assert (r.status_code, r.json()["error"]["code"]) == (403, "Forbidden")
    r = await join(api, joiner, group)  # no call in progress: joining would start one
    assert (r.status_code, r.json()["error"]["code"]) == (403, "Forbidden")
    assert (await join(api, voip, group)).status_code == 200
    r = await join(api, joiner, group)
    assert r.status_code == 200 and len(r.json()["peers"]) == 1
    call = await start(api, voip, joiner)
    r = await api.post(
        leg_url(call["call"]["callId"], ringing_leg(call["call"], joiner), "accept"), headers=joiner.headers
    )
    assert r.status_code == 200 and r.json()["call"]["state"] == "connected"


async def test_tokens_without_a_voip_scope_are_refused(api: httpx.AsyncClient, make_user: MakeUser) -> None:
    chat_only, callee = await make_user("chat"), await make_user()
    r = await api.post("/calling/calls", headers=chat_only.headers, json={"targets": [ident(callee)]})
    assert r.status_code == 403
    r = await api.post("/calling/calls", json={"targets": [ident(callee)]})
    assert r.status_code == 401


async def test_non_participants_get_the_same_404_as_for_no_call(
    api: httpx.AsyncClient, make_user: MakeUser
) -> None:
    a, b, stranger = await make_user(), await make_user(), await make_user()
    joined = await start(api, a, b)
    call_id, a_leg = joined["call"]["callId"], joined["participantId"]
    b_leg = ringing_leg(joined["call"], b)
    missing = (await api.get(f"/calling/calls/{uuid.uuid4()}", headers=stranger.headers)).json()
    assert missing["error"]["code"] == "NotFound"
    r = await api.get(f"/calling/calls/{call_id}", headers=stranger.headers)
    assert (r.status_code, r.json()) == (404, missing)
    for pid in (a_leg, b_leg, "nope"):
        for action in ("accept", "decline", "hangUp", "hold", "resume"):
            r = await api.post(leg_url(call_id, pid, action), headers=stranger.headers)
            assert (r.status_code, r.json()) == (404, missing), (pid, action)
        r = await api.post(
            leg_url(call_id, pid, "signal"),
            headers=stranger.headers,
            json={"to": a_leg, "type": "offer", "sdp": "v=0"},
        )
        assert r.status_code == 404
    # A participant may not act on another participant's behalf either.
    r = await api.post(leg_url(call_id, b_leg, "decline"), headers=a.headers)
    assert (r.status_code, r.json()) == (404, missing)
    r = await api.get(f"/calling/calls/{call_id}", headers=b.headers)
    assert r.status_code == 200 and {p["state"] for p in r.json()["participants"]} == {
        "connecting",
        "ringing",
    }


async def test_mesh_limit_is_a_clear_409(api: httpx.AsyncClient, make_user: MakeUser) -> None:
    users = [await make_user() for _ in range(4)]  # the node allows 3
    group = str(uuid.uuid4())
    for user in users[:3]:
        assert (await join(api, user, group)).status_code == 200
    r = await join(api, users[3], group)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "CallFull" and "3 participants" in r.json()["error"]["message"]
    r = await api.post(
        "/calling/calls", headers=users[0].headers, json={"targets": [ident(u) for u in users[1:]]}
    )
    assert (r.status_code, r.json()["error"]["code"]) == (409, "CallFull")


async def test_bad_requests_are_400(api: httpx.AsyncClient, make_user: MakeUser) -> None:
    a, b = await make_user(), await make_user()
    assert (await join(api, a, "not-a-uuid")).status_code == 400
    for body in ({"targets": []}, {"targets": [ident(a)]}, {"targets": [{"rawId": "4:+15551234"}]}, {}):
        r = await api.post("/calling/calls", headers=a.headers, json=body)
        assert r.status_code == 400, body
    joined = await start(api, a, b)
    call_id, a_leg = joined["call"]["callId"], joined["participantId"]
    for body in (
        {"to": a_leg, "type": "offer"},
        {"to": a_leg, "type": "bogus", "sdp": "x"},
        {"to": a_leg, "type": "candidate"},
    ):
        r = await api.post(leg_url(call_id, a_leg, "signal"), headers=a.headers, json=body)
        assert r.status_code == 400, body
    r = await api.post(
        leg_url(call_id, a_leg, "openDataChannel"), headers=a.headers, json={"channelId": 70000}
    )
    assert r.status_code == 400


async def test_one_to_one_lifecycle_appends_domain_events(
    node: Node, api: httpx.AsyncClient, make_user: MakeUser
) -> None:
    a, b = await make_user(), await make_user()
    head = await node.events.head()
    joined = await start(api, a, b, video=True)
    call_id, a_leg = joined["call"]["callId"], joined["participantId"]
    caller = next(p for p in joined["call"]["participants"] if p["participantId"] == a_leg)
    assert caller["isVideoOn"] is True  # the caller started with its camera on
    b_leg = ringing_leg(joined["call"], b)
    r = await api.post(leg_url(call_id, b_leg, "accept"), headers=b.headers, json={"video": True})
    assert r.json()["peers"] == [a_leg]
    # Signals between the two, then mute, then the caller ends it.
    r = await api.post(
        leg_url(call_id, b_leg, "signal"),
        headers=b.headers,
        json={"to": a_leg, "type": "offer", "sdp": "v=0"},
    )
    assert r.status_code == 204
    cand = {"candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ relay", "sdpMid": "0", "sdpMLineIndex": 0}
    r = await api.post(
        leg_url(call_id, a_leg, "signal"),
        headers=a.headers,
        json={"to": b_leg, "type": "candidate", "candidate": cand},
    )
    assert r.status_code == 204
    r = await api.post(leg_url(call_id, b_leg, "setMediaState"), headers=b.headers, json={"isMuted": True})
    assert next(p for p in r.json()["participants"] if p["participantId"] == b_leg)["isMuted"] is True
    r = await api.post(leg_url(call_id, b_leg, "hangUp"), headers=b.headers, json={"forEveryone": True})
    assert (r.status_code, r.json()["error"]["code"]) == (403, "Forbidden")  # only the caller may
    r = await api.post(leg_url(call_id, a_leg, "hangUp"), headers=a.headers, json={"forEveryone": True})
    ended = r.json()
    assert (ended["state"], ended["callEndReason"]) == ("ended", "endedForEveryone")
    assert {p["callEndReason"] for p in ended["participants"]} == {"endedForEveryone"}
    r = await api.post(leg_url(call_id, a_leg, "hangUp"), headers=a.headers)
    assert r.status_code == 409

    events = [e for e in await node.events.read_after(head, 100) if e.topic.startswith("call:")]
    types = [(e.type, e.topic.count("/")) for e in events]
    assert types == [
        ("callStarted", 0), ("callParticipantAdded", 0), ("callParticipantAdded", 0), ("incomingCall", 1),
        ("callParticipantUpdated", 0), ("callStateChanged", 0), ("callParticipantUpdated", 0),
        ("callSignal", 1), ("callSignal", 1), ("callParticipantUpdated", 0),
        ("callParticipantRemoved", 0), ("callParticipantRemoved", 0), ("callEnded", 0),
    ]  # fmt: skip
    incoming = events[3].data
    assert (incoming["caller"]["rawId"], incoming["videoOffered"], incoming["participantId"]) == (
        a.id,
        True,
        b_leg,
    )
    assert events[7].topic.endswith(a_leg) and events[8].topic.endswith(b_leg)
    assert events[8].data["candidate"] == cand
    assert events[-1].data["callEndReason"] == "endedForEveryone" and events[-1].data["durationSeconds"] >= 0
    assert {e.actor for e in events} == {a.id, b.id}

    # Audiences: the call stream reaches both, an addressed stream only its addressee.
    audience = await node.events.audiences([events[0].topic, events[7].topic])
    assert {m.user for m in audience[events[0].topic]} == {a.id, b.id}
    assert [m.user for m in audience[events[7].topic]] == [a.id]
    member = audience[events[7].topic][0]
    assert member.joined == events[0].position and member.left == events[-1].position


async def test_data_channel_announcement_reaches_everyone_or_the_chosen(
    node: Node, api: httpx.AsyncClient, make_user: MakeUser
) -> None:
    a, b, c = await make_user(), await make_user(), await make_user()
    group = str(uuid.uuid4())
    answers = [(await join(api, u, group)).json() for u in (a, b, c)]
    legs = [x["participantId"] for x in answers]
    call_id = answers[0]["call"]["callId"]
    assert answers[2]["peers"] == legs[:2] and answers[2]["call"]["callId"] == call_id
    head = await node.events.head()
    r = await api.post(
        leg_url(call_id, legs[0], "openDataChannel"), headers=a.headers,
        json={"channelId": 7, "reliability": "lossy", "priority": "high", "participants": [legs[2]]},
    )  # fmt: skip
    assert r.status_code == 204
    r = await api.post(leg_url(call_id, legs[1], "openDataChannel"), headers=b.headers, json={"channelId": 8})
    assert r.status_code == 204
    events = await node.events.read_after(head, 10)
    assert [(e.type, e.topic.rsplit("/", 1)[-1] if "/" in e.topic else None) for e in events] == [
        ("callDataChannelOpened", legs[2]),
        ("callDataChannelOpened", None),
    ]
    assert events[0].data | {"fromUser": None} == {
        "callId": call_id, "from": legs[0], "fromUser": None, "channelId": 7, "reliability": "lossy",
        "priority": "high", "to": [legs[2]],
    }  # fmt: skip
    assert events[1].data["reliability"] == "durable" and events[1].data["to"] is None


async def test_hold_resume_screen_share_and_cancel_over_rest(
    api: httpx.AsyncClient, make_user: MakeUser
) -> None:
    a, b, c = await make_user(), await make_user(), await make_user()
    joined = await start(api, a, b)
    call_id, a_leg, b_leg = joined["call"]["callId"], joined["participantId"], ringing_leg(joined["call"], b)
    assert (
        await api.post(leg_url(call_id, a_leg, "hold"), headers=a.headers)
    ).status_code == 409  # connecting
    await api.post(leg_url(call_id, b_leg, "accept"), headers=b.headers)
    r = await api.post(leg_url(call_id, b_leg, "hold"), headers=b.headers)
    b_view = next(p for p in r.json()["participants"] if p["participantId"] == b_leg)
    assert (b_view["state"], b_view["isOnHold"]) == ("onHold", True)
    r = await api.post(leg_url(call_id, b_leg, "resume"), headers=b.headers)
    assert next(p for p in r.json()["participants"] if p["participantId"] == b_leg)["state"] == "connected"
    body = {"isScreenSharing": True, "isVideoOn": True}
    r = await api.post(leg_url(call_id, a_leg, "setMediaState"), headers=a.headers, json=body)
    a_view = next(p for p in r.json()["participants"] if p["participantId"] == a_leg)
    assert (a_view["isScreenSharing"], a_view["isVideoOn"], a_view["isMuted"]) == (True, True, False)
    # The caller of a second call gives up before the answer: cancelled for both.
    second = await start(api, a, c)
    r = await api.post(
        leg_url(second["call"]["callId"], second["participantId"], "hangUp"), headers=a.headers
    )
    assert r.json()["callEndReason"] == "cancelled"
    assert {p["callEndReason"] for p in r.json()["participants"]} == {"cancelled"}


def test_calling_settings_come_from_every_layer() -> None:
    env = {"TELEX_CALLING__RING_TIMEOUT_SECONDS": "15", "TELEX_CALLING__MAX_PARTICIPANTS": "4"}
    settings = load_settings(environ=env)
    assert (settings.calling.ring_timeout_seconds, settings.calling.max_participants) == (15, 4)
    assert load_settings(environ={}).calling.ring_timeout_seconds == 60
    with pytest.raises(ConfigError, match=r"calling\.ring_timout: unknown key"):
        load_settings(environ={"TELEX_CALLING__RING_TIMOUT": "1"})
    with pytest.raises(ConfigError, match="max_participants"):
        load_settings(environ={"TELEX_CALLING__MAX_PARTICIPANTS": "1"})


async def test_keep_alive_is_for_ones_own_participant_while_in_the_call(
    api: httpx.AsyncClient, make_user: MakeUser
) -> None:
    a, b = await make_user(), await make_user()
    group = str(uuid.uuid4())
    joined = (await join(api, a, group)).json()
    assert joined["keepAliveIntervalSeconds"] == 30  # a third of the 90 s default
    call_id, pid = joined["call"]["callId"], joined["participantId"]
    r = await api.post(leg_url(call_id, pid, "keepAlive"), headers=a.headers)
    assert (r.status_code, r.content) == (204, b"")
    r = await api.post(leg_url(call_id, pid, "keepAlive"), headers=b.headers)  # not b's
    assert (r.status_code, r.json()["error"]["code"]) == (404, "NotFound")
    await api.post(leg_url(call_id, pid, "hangUp"), headers=a.headers)
    r = await api.post(leg_url(call_id, pid, "keepAlive"), headers=a.headers)
    assert (r.status_code, r.json()["error"]["code"]) == (409, "Conflict")
