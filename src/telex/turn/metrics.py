"""Prometheus metrics for the TURN server, read at scrape time.

The hot path only increments plain integers on ``TurnStats`` (the native path keeps its own, in C);
``TurnCollector`` turns them into metric families when Prometheus scrapes, so relaying a datagram
never touches a metrics lock.
No label carries a username or address (they would leak identities and explode cardinality).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from telex.turn.core import TurnCore

__all__ = ["TurnCollector", "TurnStats"]


@dataclass(slots=True)
class TurnStats:
    packets_to_peer: int = 0
    bytes_to_peer: int = 0
    packets_to_client: int = 0
    bytes_to_client: int = 0
    dropped: int = 0
    malformed: int = 0
    send_errors: int = 0
    internal_errors: int = 0


class TurnCollector(Collector):
    def __init__(self, core: TurnCore, stats: Callable[[], TurnStats]) -> None:
        self._core = core
        self._stats = stats  # read at scrape time: the adapter adds the native path's counters

    def collect(self) -> Iterator[Metric]:
        stats, counters = self._stats(), self._core.counters
        yield GaugeMetricFamily(
            "telex_turn_allocations", "Current TURN allocations", value=len(self._core.allocations)
        )
        packets = CounterMetricFamily("telex_turn_relayed_packets", "Datagrams relayed", labels=["direction"])
        packets.add_metric(["to_peer"], stats.packets_to_peer)
        packets.add_metric(["to_client"], stats.packets_to_client)
        yield packets
        octets = CounterMetricFamily(
            "telex_turn_relayed_bytes", "Payload bytes relayed", labels=["direction"]
        )
        octets.add_metric(["to_peer"], stats.bytes_to_peer)
        octets.add_metric(["to_client"], stats.bytes_to_client)
        yield octets
        errors = CounterMetricFamily("telex_turn_errors", "STUN error responses by code", labels=["code"])
        for code, count in sorted(counters.errors.items()):
            errors.add_metric([str(code)], count)
        yield errors
        dropped = CounterMetricFamily("telex_turn_dropped", "Datagrams dropped", labels=["reason"])
        dropped.add_metric(["malformed"], stats.malformed + counters.malformed)
        dropped.add_metric(["policy_or_state"], stats.dropped + counters.dropped)
        dropped.add_metric(["rate_limited"], counters.rate_limited)
        dropped.add_metric(["send_error"], stats.send_errors)
        dropped.add_metric(["internal_error"], stats.internal_errors)
        yield dropped
        yield CounterMetricFamily(
            "telex_turn_users_refused",
            "Requests refused because the credential's user was deleted or its tokens revoked",
            value=counters.users_refused,
        )
