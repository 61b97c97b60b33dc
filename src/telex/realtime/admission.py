"""Who may open one more socket: the caps on open sockets per client address and per user, and
the record of every refusal. ``/realtime`` and the JS chat SDK's notification sockets both
admit through one of these, so the two ways in cannot drift apart.

    upgrade ─► origin allowed? ─► address under its cap? ─► (token checked) ─► user under its cap? ─► open
                    │                     │                                          │
                    └─────────────────────┴───── refused: telex_socket_refused{socket, reason} += 1,
                                                  one log line per reason every few seconds

A refusal is counted where it happens, so an operator sees a client stuck on a cap in the
metrics (and alerts on it) without reading logs.
"""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter

from telex.core.logthrottle import RateLimitedLog
from telex.core.opencounts import OpenCounts

__all__ = ["SocketAdmission", "SocketRefusals"]

log = logging.getLogger(__name__)


class SocketRefusals:
    """The node's one counter of refused sockets, labelled by the way in and the reason."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self._counter = Counter(
            "telex_socket_refused",
            "WebSocket upgrades and sockets refused by a limit or the origin allowlist",
            ["socket", "reason"],
            registry=registry if registry is not None else CollectorRegistry(),
        )

    def count(self, socket: str, reason: str) -> None:
        self._counter.labels(socket, reason).inc()


class SocketAdmission:
    """Open sockets of one way in (``socket``: "realtime", "notifications") by address and by
    user, under their caps (0: no cap, still counted)."""

    def __init__(
        self, socket: str, per_ip: int, per_user: int, refusals: SocketRefusals | None = None
    ) -> None:
        self._socket = socket
        self._by_address = OpenCounts(per_ip)
        self._by_user = OpenCounts(per_user)
        self._refusals = refusals if refusals is not None else SocketRefusals()
        self._log = RateLimitedLog(log)

    def origin_refused(self, origin: str) -> None:
        self._refused("origin", "refused a %s socket from origin %s", origin)

    def admit_address(self, address: str) -> bool:
        if self._by_address.acquire(address):
            return True
        self._refused("address", "refused a %s socket from %s: too many open", address)
        return False

    def release_address(self, address: str) -> None:
        self._by_address.release(address)

    def admit_user(self, user_id: str) -> bool:
        if self._by_user.acquire(user_id):
            return True
        self._refused("user", "refused a %s socket of %s: too many open", user_id)
        return False

    def release_user(self, user_id: str) -> None:
        self._by_user.release(user_id)

    def _refused(self, reason: str, message: str, who: str) -> None:
        self._refusals.count(self._socket, reason)
        self._log.warning(reason, message, self._socket, who)
