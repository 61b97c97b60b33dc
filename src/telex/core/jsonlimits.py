"""JSON from strangers, parsed with a bound on nesting.

Python's ``json`` recurses once per nesting level: a 2 KB body of a thousand ``[`` reaches the
interpreter's recursion limit and raises ``RecursionError`` from deep inside the parser (a 500
and a logged traceback per request, or a dropped socket). ``loads`` refuses anything nested
deeper than ``max_depth`` before parsing. The check costs two ``str.count`` calls unless the
text has more brackets than the bound allows, which real requests almost never have; only then
are strings blanked out and the actual depth measured.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["MAX_DEPTH", "JsonTooDeep", "loads"]

MAX_DEPTH = 64
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class JsonTooDeep(ValueError):
    """The JSON text nests deeper than allowed."""


def _deeper_than(text: str, limit: int) -> bool:
    depth = 0
    for bracket in _BRACKET.findall(_STRING.sub('""', text)):
        depth += 1 if bracket in "[{" else -1
        if depth > limit:
            return True
    return False


def loads(data: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads``, refusing nesting deeper than ``max_depth`` (``JsonTooDeep``); other errors
    are ``json.loads``'s own (``ValueError``, ``UnicodeDecodeError``)."""
    text = data.decode() if isinstance(data, bytes) else data
    if text.count("[") + text.count("{") > max_depth and _deeper_than(text, max_depth):
        raise JsonTooDeep(f"JSON nested deeper than {max_depth} levels")
    return json.loads(text)
