"""OPTIONS keep-alives to each trunk, and whether it is up: sans-I/O (``now`` is an argument).

    handle_timer(now) ─► the trunks due a ping ─► the gateway sends OPTIONS ─► sent(trunk, handle)
    OptionsResult(handle, status) ─► result(handle, status, now)
        any answer below 500 ─► up (failures = 0)            a 4xx still means someone is there
        5xx / no answer ─► failures += 1 ─► down at ``options_failures`` in a row

A trunk whose ``options_interval_seconds`` is 0 is never pinged and never goes down. Routing
(trunks.py) skips a down trunk for the next one covering the number, so a carrier that stops
answering costs new calls nothing but the keep-alive interval.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from telex.pstn.trunks import Trunk

__all__ = ["TrunkChange", "TrunkHealth"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TrunkChange:
    """A trunk went up or down."""

    trunk: Trunk
    up: bool


class TrunkHealth:
    def __init__(self, trunks: list[Trunk], now: float) -> None:
        # The first pings go out one interval after start: a trunk is up until shown otherwise.
        self._due = {
            t: now + t.settings.options_interval_seconds
            for t in trunks
            if t.settings.options_interval_seconds > 0
        }
        self._waiting: dict[str, Trunk] = {}  # OPTIONS handle -> its trunk
        self.pings = {t.name: 0 for t in trunks}
        self.answers = {t.name: 0 for t in trunks}

    def next_timer(self) -> float | None:
        return min(self._due.values(), default=None)

    def handle_timer(self, now: float) -> list[Trunk]:
        """The trunks to ping now; each is due again one interval later. A trunk whose last
        ping is still unanswered gets no second one (the first will time out, RFC 3261 §17.1.2:
        64*T1), so a slow carrier is not flooded."""
        due: list[Trunk] = []
        for trunk, at in self._due.items():
            if at <= now:
                self._due[trunk] = now + trunk.settings.options_interval_seconds
                if trunk not in self._waiting.values():
                    due.append(trunk)
        return due

    def sent(self, trunk: Trunk, handle: str) -> None:
        self._waiting[handle] = trunk
        self.pings[trunk.name] += 1

    def result(self, handle: str, status: int | None, now: float) -> TrunkChange | None:
        """The answer to a ping (None: none came, or the connection failed); a change of state
        when there is one."""
        trunk = self._waiting.pop(handle, None)
        if trunk is None:
            return None
        if status is not None and status < 500:
            self.answers[trunk.name] += 1
            trunk.failures = 0
            if not trunk.up:
                trunk.up = True
                log.warning("SIP trunk %s is up again (OPTIONS answered %d)", trunk.name, status)
                return TrunkChange(trunk, True)
            return None
        trunk.failures += 1
        if trunk.up and trunk.failures >= trunk.settings.options_failures:
            trunk.up = False
            what = "no answer" if status is None else f"{status}"
            log.warning(
                "SIP trunk %s is down: %d OPTIONS in a row failed (last: %s); calls use other trunks",
                trunk.name, trunk.failures, what,
            )  # fmt: skip
            return TrunkChange(trunk, False)
        return None
