"""The demo's session cookie: a MAC over user, expiry and name; anything else is no session."""

from __future__ import annotations

import pytest

from telex.demo.session import Session, decode_session, encode_session

KEY = b"k" * 32
SESSION = Session("8:acs:r_u", "Ada | Lovelace", 2000)


def test_round_trip_keeps_a_name_with_the_separator() -> None:
    assert decode_session(encode_session(SESSION, KEY), KEY, now=1000) == SESSION


def test_expired_session_is_none() -> None:
    assert decode_session(encode_session(SESSION, KEY), KEY, now=2000) is None


def test_other_key_is_none() -> None:
    assert decode_session(encode_session(SESSION, KEY), b"x" * 32, now=1000) is None


def test_changed_body_is_none() -> None:
    cookie = encode_session(SESSION, KEY)
    other = encode_session(Session("8:acs:r_v", "Ada", 2000), KEY)
    forged = other.split(".")[0] + "." + cookie.split(".")[1]
    assert decode_session(forged, KEY, now=1000) is None


@pytest.mark.parametrize("cookie", ["", ".", "abc", "abc.", ".abc", "a.b.c", "é.é", "x" * 2000])
def test_garbage_is_none(cookie: str) -> None:
    assert decode_session(cookie, KEY, now=1000) is None
