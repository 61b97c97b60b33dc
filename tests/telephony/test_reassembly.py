"""Joining concatenated MO parts: any order, duplicates, expiry, bounded memory."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from telex.telephony.reassembly import Assembled, Reassembler
from telex.telephony.segments import Concat, segment

A, B = "+14255550123", "+14255550100"


def test_parts_in_any_order_and_twice() -> None:
    joiner = Reassembler(timeout=60)
    assert joiner.add(A, B, Concat(7, 3, 2), "b", 0.0) == []
    assert joiner.add(A, B, Concat(7, 3, 2), "b", 1.0) == []  # delivered twice
    assert joiner.add(A, B, Concat(7, 3, 3), "c", 2.0) == []
    assert joiner.add(A, B, Concat(7, 3, 1), "a", 3.0) == [Assembled(A, B, "abc", 3, True)]
    assert len(joiner) == 0 and joiner.next_timer() is None


def test_same_reference_from_two_senders_stays_apart() -> None:
    joiner = Reassembler()
    joiner.add(A, B, Concat(1, 2, 1), "x", 0.0)
    assert joiner.add("+14255550199", B, Concat(1, 2, 2), "y", 0.0) == []
    assert len(joiner) == 2


def test_incomplete_groups_expire_with_what_arrived() -> None:
    joiner = Reassembler(timeout=60)
    joiner.add(A, B, Concat(1, 3, 1), "a", 0.0)
    joiner.add(A, B, Concat(1, 3, 3), "c", 10.0)
    joiner.add(A, B, Concat(2, 2, 1), "x", 30.0)
    assert joiner.next_timer() == 60.0
    assert joiner.expire(59.9) == []
    assert joiner.expire(60.0) == [Assembled(A, B, "ac", 2, False)]
    assert joiner.next_timer() == 90.0


def test_memory_is_bounded() -> None:
    joiner = Reassembler(max_groups=2)
    joiner.add(A, B, Concat(1, 2, 1), "a", 0.0)
    joiner.add(A, B, Concat(2, 2, 1), "b", 1.0)
    assert joiner.add(A, B, Concat(3, 2, 1), "c", 2.0) == [Assembled(A, B, "a", 1, False)]
    assert len(joiner) == 2


@given(st.text(min_size=161, max_size=600), st.randoms(use_true_random=False), st.integers(0, 255))
def test_any_delivery_order_gives_the_text_back(text: str, random: object, ref: int) -> None:
    parts = list(enumerate(segment(text).parts, start=1))
    deliveries = parts + parts[: len(parts) // 2]  # some twice
    random.shuffle(deliveries)  # type: ignore[attr-defined]
    joiner = Reassembler()
    done: list[Assembled] = []
    for seq, part in deliveries:
        done += joiner.add(A, B, Concat(ref, len(parts), seq), part, 0.0)
    assert done == [Assembled(A, B, text, len(parts), True)]
    assert len(joiner) == 0  # late duplicates did not open a new group


def test_a_new_message_may_reuse_a_reference() -> None:
    joiner = Reassembler(timeout=60)
    joiner.add(A, B, Concat(1, 2, 1), "a", 0.0)
    joiner.add(A, B, Concat(1, 2, 2), "b", 0.0)
    assert joiner.add(A, B, Concat(1, 2, 1), "a", 1.0) == []  # a late duplicate
    assert joiner.add(A, B, Concat(1, 2, 2), "z", 2.0) == []  # another message, same reference
    assert joiner.add(A, B, Concat(1, 2, 1), "y", 3.0) == [Assembled(A, B, "yz", 2, True)]
