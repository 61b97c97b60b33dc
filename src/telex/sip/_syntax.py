"""Small grammar helpers shared by the parsers."""

from __future__ import annotations

__all__ = ["is_digits"]


def is_digits(text: str, max_len: int = 10) -> bool:
    """1*DIGIT in ASCII, at most ``max_len`` long. ``str.isdigit`` alone accepts "²" and other
    Unicode digits that ``int()`` refuses, and an unbounded run of digits makes ``int()`` slow or
    raise; both would let a hostile peer crash a parser."""
    return 0 < len(text) <= max_len and text.isascii() and text.isdigit()
