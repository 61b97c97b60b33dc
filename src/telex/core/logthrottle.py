"""Warnings that a flood cannot turn into a flood of log lines.

A refusal (a connection over a cap, a request over a limit, a wrong signature) is worth a log
line, but an attacker makes thousands a second: each kind is logged at most once per ``every``
seconds, saying how many like it were left out since.
"""

from __future__ import annotations

import logging
import time

__all__ = ["RateLimitedLog"]


class RateLimitedLog:
    """Warnings at most once per ``every`` seconds per kind, saying how many were left out: a
    flood of refusals must be visible in the log without becoming a flood of log lines."""

    def __init__(self, logger: logging.Logger, every: float = 10.0) -> None:
        self._log = logger
        self._every = every
        self._last: dict[str, float] = {}
        self._quiet: dict[str, int] = {}

    def warning(self, kind: str, message: str, *args: object) -> None:
        now = time.monotonic()
        last = self._last.get(kind)
        if last is not None and now - last < self._every:
            self._quiet[kind] = self._quiet.get(kind, 0) + 1
            return
        self._last[kind] = now
        quiet = self._quiet.pop(kind, 0)
        suffix = f" ({quiet} more like it in the last {self._every:.0f} s)" if quiet else ""
        self._log.warning(message + suffix, *args)
