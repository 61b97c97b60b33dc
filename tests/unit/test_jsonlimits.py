"""Deeply nested JSON is refused before the parser recurses (never a RecursionError)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telex.core.jsonlimits import MAX_DEPTH, JsonTooDeep, loads
from telex.realtime import protocol as p


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_a_thousand_levels_are_refused_before_parsing(opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    text = opener * 1000 + "1" + closer * 1000
    with pytest.raises(JsonTooDeep):
        loads(text)
    with pytest.raises(JsonTooDeep):
        loads(text.encode())


def test_the_bound_is_exact_and_brackets_in_strings_do_not_count() -> None:
    at_limit = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert loads(at_limit) == json.loads(at_limit)
    with pytest.raises(JsonTooDeep):
        loads("[" + at_limit + "]")
    tricky = json.dumps({"text": "[[[[" * 100 + '\\" {{{{' * 100, "list": [[1], [2]]})
    assert loads(tricky) == json.loads(tricky)


@given(
    st.recursive(st.none() | st.integers() | st.text(), lambda c: st.lists(c) | st.dictionaries(st.text(), c))
)
def test_shallow_documents_parse_as_json_does(value: object) -> None:
    text = json.dumps(value)
    assert loads(text, max_depth=1000) == json.loads(text)


def test_a_deep_realtime_frame_is_a_protocol_error() -> None:
    with pytest.raises(p.ProtocolError) as info:
        p.parse_client_frame("[" * 1000 + "]" * 1000, 64 * 1024)
    assert info.value.code == p.Close.BAD_REQUEST
