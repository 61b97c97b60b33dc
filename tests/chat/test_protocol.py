"""The realtime protocol core, sans I/O: client frames in, frames and close codes out."""

from __future__ import annotations

import json

import pytest

from telex.events.log import Event
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
    event = Event(7, f"s{len(payload)}", "chatMessageReceived", "8:acs:x", 0.0, payload)
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


def test_typing_is_not_echoed_nor_replayed_stale() -> None:
    typing = Event(1, "s", "typingIndicatorReceived", "8:acs:a", 100.0, {})
    assert not p.deliverable(typing, "8:acs:a")
    assert p.deliverable(typing, "8:acs:b")
    assert p.deliverable(typing, "8:acs:b", now=105.0)
    assert not p.deliverable(typing, "8:acs:b", now=111.0)
    message = Event(2, "s", "chatMessageReceived", "8:acs:a", 100.0, {})
    assert p.deliverable(message, "8:acs:a", now=10_000.0)
    assert {1001, 1006, 1012, p.Close.SLOW_CONSUMER} <= p.RESUMABLE_CLOSE_CODES
    assert p.Close.UNAUTHORIZED not in p.RESUMABLE_CLOSE_CODES
