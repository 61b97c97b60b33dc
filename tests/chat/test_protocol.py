"""The realtime protocol core, sans I/O: client frames in, frames and close codes out."""

from __future__ import annotations

import json

import pytest

from telex.chat import events as chat_events
from telex.events.model import DomainEvent
from telex.realtime import protocol as p


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (None, p.Close.UNSUPPORTED_DATA),
        ("x" * 5000, p.Close.TOO_BIG),
        ("é" * 1500, p.Close.TOO_BIG),  # 3000 bytes though 1500 characters
        ("not json", p.Close.BAD_REQUEST),
        ("[1]", p.Close.BAD_REQUEST),
        ('{"type":"subscribe"}', p.Close.BAD_REQUEST),
        ('{"type":"auth"}', p.Close.BAD_REQUEST),
        ('{"type":"auth","token":""}', p.Close.BAD_REQUEST),
        ('{"type":"auth","token":"t","cursor":-1}', p.Close.BAD_REQUEST),
        ('{"type":"auth","token":"t","cursor":"1e3"}', p.Close.BAD_REQUEST),
        ('{"type":"auth","token":"t","cursor":"' + "9" * 20 + '"}', p.Close.BAD_REQUEST),
    ],
)
def test_bad_client_frames_name_their_close_code(text: str | None, code: int) -> None:
    with pytest.raises(p.ProtocolError) as info:
        p.parse_client_frame(text, 2048)
    assert info.value.code == code


def test_good_client_frames() -> None:
    assert p.parse_client_frame('{"type":"ping"}', 2048) == p.PingFrame()
    assert p.parse_client_frame('{"type":"auth","token":"t"}', 2048) == p.AuthFrame("t", None)
    assert p.parse_client_frame('{"type":"auth","token":"t","cursor":"42"}', 2048) == p.AuthFrame("t", 42)


@pytest.mark.parametrize("payload", [{}, {"threadId": "19:a@thread.v2", "message": 'quote " and \\ and é'}])
def test_event_frames_carry_the_recipient_and_survive_reuse(payload: dict[str, str]) -> None:
    event = DomainEvent("chatMessageReceived", "19:t", payload, 0.0, "8:acs:x", position=7)
    for user in ("8:acs:a", "8:acs:b"):  # the second frame reuses the first's encoding
        frame = json.loads(p.event_frame(event, user))
        assert frame == {
            "type": "event",
            "event": "chatMessageReceived",
            "cursor": "7",
            "data": {
                **payload,
                "recipient": {"kind": "communicationUser", "communicationUserId": user, "rawId": user},
            },
        }


def test_typing_is_ephemeral_carries_the_sockets_cursor_and_skips_the_typist() -> None:
    typing = chat_events.typing("19:t", "8:acs:a", "Ann", 100.0)
    assert not typing.durable and typing.position == 0
    assert not typing.reaches("8:acs:a") and typing.reaches("8:acs:b")
    frame = json.loads(p.event_frame(typing, "8:acs:b", 41))
    assert frame["cursor"] == "41" and frame["event"] == "typingIndicatorReceived"
    assert frame["data"]["senderDisplayName"] == "Ann"
    assert json.loads(p.event_frame(typing, "8:acs:c", 9))["cursor"] == "9"  # per socket, not shared
    message = DomainEvent("chatMessageReceived", "19:t", {}, 100.0, "8:acs:a", position=2)
    assert message.reaches("8:acs:a")
    assert {1001, 1006, 1012, p.Close.SLOW_CONSUMER} <= p.RESUMABLE_CLOSE_CODES
    assert p.Close.UNAUTHORIZED not in p.RESUMABLE_CLOSE_CODES
