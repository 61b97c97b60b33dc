"""One log line when a dependency goes away and one when it is back, however many failures the
outage holds in between (a store or bus outage fails every request: a line per request would bury
everything else), with counts an operator can graph.

    ok ──failed(reason)──► down: log "<what> unreachable: <reason>" once, count every failure
    down ──succeeded()──► ok: log "<what> reachable again after N s"
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from telex.core.errors import ErrorCode, TelexError

__all__ = ["Outage", "QuietOutages"]


class Outage:
    def __init__(
        self, what: str, log: logging.Logger, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._what = what
        self._log = log
        self._monotonic = monotonic
        self.down_since: float | None = None
        self.failures = 0  # failures seen, all outages together
        self.outages = 0  # outages begun

    @property
    def up(self) -> bool:
        return self.down_since is None

    def failed(self, reason: str, consequence: str = "") -> None:
        self.failures += 1
        if self.down_since is not None:
            return
        self.down_since = self._monotonic()
        self.outages += 1
        self._log.warning(
            "%s unreachable: %s%s", self._what, reason, f"; {consequence}" if consequence else ""
        )

    def succeeded(self) -> None:
        if self.down_since is None:
            return
        seconds = self._monotonic() - self.down_since
        self.down_since = None
        self._log.warning("%s reachable again after %.1f s", self._what, seconds)


class QuietOutages(logging.Filter):
    """Drops a log record whose exception is (or was caused by) ``ServiceUnavailable``: background
    loops (timers, sweeps, consumers) log their failures with tracebacks, but while the store is
    away each would log one per round, and the store has already said it is away, once. Installed
    on the server's log handlers."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        seen = 0
        while exc is not None and seen < 10:
            if isinstance(exc, TelexError) and exc.code is ErrorCode.UNAVAILABLE:
                return False
            exc = exc.__cause__ or exc.__context__
            seen += 1
        return True
