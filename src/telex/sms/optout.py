"""Opt-out keywords of inbound messages (sans-I/O): is this message STOP, START or HELP?

A keyword counts when it is the whole message, ignoring case, surrounding spaces and trailing
punctuation ("stop", " Stop! "); "stop sending me ads" is not one. US carriers (CTIA) match the
same way; being stricter than "contains STOP" keeps ordinary replies from unsubscribing people.
Every configured language's keywords are live at once: a number does not know its customers'
language.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from telex.sms.settings import OptOutLocale

__all__ = ["Keyword", "KeywordMatch", "Keywords"]


class Keyword(Enum):
    STOP = "stop"
    START = "start"
    HELP = "help"


@dataclass(frozen=True, slots=True)
class KeywordMatch:
    keyword: Keyword
    locale: str
    reply: str


def _fold(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip().rstrip(".!?¡¿ ").strip().casefold()


class Keywords:
    def __init__(self, locales: Mapping[str, OptOutLocale]) -> None:
        self._table: dict[str, KeywordMatch] = {}
        for name, locale in locales.items():
            for keyword, words, reply in (
                (Keyword.STOP, locale.stop, locale.stop_reply),
                (Keyword.START, locale.start, locale.start_reply),
                (Keyword.HELP, locale.help, locale.help_reply),
            ):
                for word in words:
                    self._table.setdefault(_fold(word), KeywordMatch(keyword, name, reply))

    def match(self, text: str) -> KeywordMatch | None:
        if len(text) > 40:
            return None
        return self._table.get(_fold(text))
