"""The event catalogue end to end: real chat and call traffic rendered into every ACS type Telex
produces, with ACS's ``data`` fields, read back by the official Event Grid and CloudEvent parsers
from both schemas (push-events-sms.md §5.6)."""

from __future__ import annotations

from typing import Any

import httpx
from azure.core.messaging import CloudEvent
from azure.eventgrid import EventGridEvent

from tests.subscriptions.conftest import Receiver, subscribe
from tests.subscriptions.test_delivery import send, thread_with
from tests.support.users import MakeUser, User
from tests.webhooks.receiver import serve

P = "Microsoft.Communication."
IDENT = {"rawId", "communicationUser"}

# The data fields of each type (ACS's catalogue; what Telex cannot know yet is left out).
_MESSAGE = {"messageId", "senderCommunicationIdentifier", "composeTime", "type", "version"}
_COMMON = {"transactionId", "threadId", "version"}
CHAT_FIELDS: dict[str, set[str]] = {
    "ChatMessageReceivedInThread": _MESSAGE | _COMMON | {"messageBody", "metadata", "senderDisplayName"},
    "ChatMessageEditedInThread": _MESSAGE | _COMMON | {"messageBody", "metadata", "editTime"},
    "ChatMessageDeletedInThread": _MESSAGE | _COMMON | {"deleteTime"},
    "ChatThreadCreated": _COMMON
    | {"createdByCommunicationIdentifier", "properties", "metadata", "participants", "createTime"},
    "ChatThreadPropertiesUpdated": _COMMON
    | {"editedByCommunicationIdentifier", "editTime", "properties", "metadata"},
    "ChatThreadDeleted": _COMMON | {"deletedByCommunicationIdentifier", "deleteTime"},
    "ChatThreadParticipantAdded": _COMMON | {"time", "addedByCommunicationIdentifier", "participantAdded"},
    "ChatThreadParticipantRemoved": _COMMON
    | {"time", "removedByCommunicationIdentifier", "participantRemoved"},
}
PER_USER = {
    "ChatMessageReceivedInThread": "ChatMessageReceived",
    "ChatMessageEditedInThread": "ChatMessageEdited",
    "ChatMessageDeletedInThread": "ChatMessageDeleted",
    "ChatThreadCreated": "ChatThreadCreatedWithUser",
    "ChatThreadPropertiesUpdated": "ChatThreadPropertiesUpdatedPerUser",
    "ChatThreadDeleted": "ChatThreadWithUserDeleted",
    "ChatThreadParticipantAdded": "ChatParticipantAddedToThreadWithUser",
    "ChatThreadParticipantRemoved": "ChatParticipantRemovedFromThreadWithUser",
}
CALL_COMMON = {"startedBy", "serverCallId", "isTwoParty", "correlationId", "isRoomsCall"}


def by_type(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        out.setdefault(e.get("eventType") or e["type"], []).append(e)
    return out


async def test_every_chat_type_with_acs_fields_in_both_schemas(
    api: httpx.AsyncClient, receiver: Receiver, make_user: MakeUser
) -> None:
    ce = Receiver()
    async with serve(ce.handle) as port:
        ce.port = port
        await subscribe(api, "all-eg", receiver.url)
        await subscribe(api, "all-ce", ce.url, eventDeliverySchema="CloudEventSchemaV1_0")
        alice, bob, carol = await make_user(), await make_user(), await make_user()
        thread = await thread_with(api, alice, bob)
        h = {"headers": alice.headers, "auth": None}
        mid = await send(api, alice, thread, "hello")
        assert (
            await api.patch(
                f"/chat/threads/{thread}/messages/{mid}?api-version=2024-03-07",
                json={"content": "edited"},
                **h,
            )
        ).status_code == 204
        assert (
            await api.delete(f"/chat/threads/{thread}/messages/{mid}?api-version=2024-03-07", **h)
        ).status_code == 204
        assert (
            await api.patch(f"/chat/threads/{thread}?api-version=2024-03-07", json={"topic": "new"}, **h)
        ).status_code == 204
        add = {"participants": [{"communicationIdentifier": {"rawId": carol.id}, "displayName": "Carol"}]}
        assert (
            await api.post(f"/chat/threads/{thread}/participants/:add?api-version=2024-03-07", json=add, **h)
        ).status_code == 201
        remove = {"rawId": bob.id}
        assert (
            await api.post(
                f"/chat/threads/{thread}/participants/:remove?api-version=2024-03-07", json=remove, **h
            )
        ).status_code == 204
        assert (await api.delete(f"/chat/threads/{thread}?api-version=2024-03-07", **h)).status_code == 204

        wanted = {P + t for t in CHAT_FIELDS} | {P + t for t in PER_USER.values()}
        await receiver.wait_for(lambda: wanted <= set(by_type(receiver.events())))
        await ce.wait_for(lambda: wanted <= set(by_type(ce.events())))
    got = by_type(receiver.events())
    for thread_type, fields in CHAT_FIELDS.items():
        (event,) = got[P + thread_type]
        parsed = EventGridEvent.from_dict(event)
        assert parsed.event_type == P + thread_type and parsed.data_version == "1.0"
        data = parsed.data
        assert isinstance(data, dict) and fields <= set(data), (thread_type, fields - set(data))
        assert data["threadId"] == thread and isinstance(data["version"], int)
        for key, value in data.items():
            if key.endswith("CommunicationIdentifier"):
                assert set(value) == IDENT, key
        for user_event in got[P + PER_USER[thread_type]]:
            user_data = user_event["data"]
            assert fields <= set(user_data) and set(user_data["recipientCommunicationIdentifier"]) == IDENT
            assert user_event["subject"].startswith(event["subject"] + "/recipient/")

    # Recipients: members at that moment, never the one who acted.
    def recipients(type_: str) -> list[str]:
        return sorted(e["data"]["recipientCommunicationIdentifier"]["rawId"] for e in got[P + type_])

    assert recipients("ChatMessageReceived") == [bob.id]
    assert recipients("ChatParticipantAddedToThreadWithUser") == sorted([bob.id, carol.id])
    assert recipients("ChatParticipantRemovedFromThreadWithUser") == sorted([bob.id, carol.id])
    assert recipients("ChatThreadWithUserDeleted") == [carol.id]
    assert got[P + "ChatMessageDeletedInThread"][0]["data"].get("messageBody") is None
    added = got[P + "ChatThreadParticipantAdded"][0]
    assert added["data"]["participantAdded"]["displayName"] == "Carol"
    assert added["subject"] == f"thread/{thread}/participantAdded/{carol.id}"
    # The same events, as CloudEvents, read by azure-core's parser.
    for event in ce.events():
        parsed_ce = CloudEvent.from_dict(event)
        assert parsed_ce.specversion == "1.0" and parsed_ce.type.startswith(P) and parsed_ce.subject
    eg_ids = {e["id"] for e in receiver.events()}
    assert {e["id"] for e in ce.events()} == eg_ids  # one id per event, whatever the schema


async def test_a_call_renders_started_incoming_added_removed_ended(
    api: httpx.AsyncClient, receiver: Receiver, make_user: MakeUser
) -> None:
    await subscribe(api, "calls", receiver.url, filter={"subjectBeginsWith": "", "includedEventTypes": [
        P + "CallStarted", P + "CallEnded", P + "CallParticipantAdded", P + "CallParticipantRemoved",
        P + "IncomingCall"]})  # fmt: skip
    alice, bob = await make_user("voip"), await make_user("voip")

    async def call(user: User, path: str, body: object = None) -> dict[str, Any]:
        r = await api.post(path, json=body, headers=user.headers, auth=None)
        assert r.status_code in (200, 201), r.text
        return dict(r.json())

    started = await call(alice, "/calling/calls", {"targets": [{"rawId": bob.id}], "displayName": "Alice"})
    call_id = started["call"]["callId"]
    bob_leg = next(
        p["participantId"] for p in started["call"]["participants"] if p["identifier"]["rawId"] == bob.id
    )
    await call(bob, f"/calling/calls/{call_id}/participants/{bob_leg}/:accept")
    await call(alice, f"/calling/calls/{call_id}/participants/{started['participantId']}/:hangUp")
    await receiver.wait_for(lambda: P + "CallEnded" in by_type(receiver.events()))
    got = by_type(receiver.events())
    types = [e["eventType"] for e in receiver.events()]
    assert types[0] == P + "CallStarted" and types[-1] == P + "CallEnded"
    (start,) = got[P + "CallStarted"]
    assert set(start["data"]) >= CALL_COMMON and start["subject"] == f"call/{call_id}/startedBy/{alice.id}"
    alice_id = {"rawId": alice.id, "communicationUser": {"id": alice.id}}
    assert start["data"]["startedBy"] == {"communicationIdentifier": alice_id, "role": "Organizer"}
    assert start["data"]["serverCallId"] == call_id and start["data"]["isTwoParty"] is True
    (incoming,) = got[P + "IncomingCall"]
    assert incoming["data"]["to"]["rawId"] == bob.id and incoming["data"]["from"]["rawId"] == alice.id
    assert incoming["data"]["callerDisplayName"] == "Alice"
    assert incoming["data"]["incomingCallContext"]  # Call Automation answers with it
    assert incoming["subject"] == f"/caller/{alice.id}/recipient/{bob.id}"
    # Added: the caller at once, the callee when it answered (not while ringing); both removed.
    added = [e["data"]["user"]["communicationIdentifier"]["rawId"] for e in got[P + "CallParticipantAdded"]]
    assert added == [alice.id, bob.id]
    removed = {
        e["data"]["user"]["communicationIdentifier"]["rawId"] for e in got[P + "CallParticipantRemoved"]
    }
    assert removed == {alice.id, bob.id}
    for e in got[P + "CallParticipantAdded"] + got[P + "CallParticipantRemoved"]:
        assert {"user", "displayName", "participantId", "userAgent"} | CALL_COMMON <= set(e["data"])
    (ended,) = got[P + "CallEnded"]
    assert ended["data"]["callDurationInSeconds"] >= 0 and ended["data"]["reason"]["code"] == 0
    for event in receiver.events():
        assert EventGridEvent.from_dict(event).event_type == event["eventType"]


async def test_unanswered_invitee_is_never_added(
    api: httpx.AsyncClient, receiver: Receiver, make_user: MakeUser
) -> None:
    await subscribe(api, "declined", receiver.url, filter={"subjectBeginsWith": "call/"})
    alice, bob = await make_user("voip"), await make_user("voip")
    r = await api.post(
        "/calling/calls", json={"targets": [{"rawId": bob.id}]}, headers=alice.headers, auth=None
    )
    call_id = r.json()["call"]["callId"]
    leg = next(
        p["participantId"] for p in r.json()["call"]["participants"] if p["identifier"]["rawId"] == bob.id
    )
    r = await api.post(
        f"/calling/calls/{call_id}/participants/{leg}/:decline", headers=bob.headers, auth=None
    )
    assert r.status_code == 200
    await receiver.wait_for(lambda: P + "CallEnded" in by_type(receiver.events()))
    got = by_type(receiver.events())
    assert [
        e["data"]["user"]["communicationIdentifier"]["rawId"] for e in got[P + "CallParticipantAdded"]
    ] == [alice.id]
    assert P + "IncomingCall" not in got  # filtered out by the subject prefix ("/caller/...")
    (ended,) = got[P + "CallEnded"]
    assert ended["data"]["reason"] == {"code": 603, "subCode": 0, "phrase": "declined"}
