"""The metrics an operator of several nodes watches, beside HTTP's (web/middleware.py), TURN's,
webhooks' and push's: is the store there and how fast, is the bus there, how many realtime
sockets, how far behind the hub is, is the node draining.

    /metrics scrape ─► NodeCollector.collect() ─► reads the node's state now (no bookkeeping on
                                                   the hot path besides the store's timings)
    Database.read()/write() ─► timing(kind, seconds) ─► telex_store_transaction_seconds
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from telex.bus import Bus
from telex.core.outage import Outage
from telex.realtime import Hub
from telex.store.database import Database

__all__ = ["NodeCollector", "install_node_metrics"]

# Transactions take from well under a millisecond (SQLite reads) to seconds (a store in trouble).
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


class NodeCollector(Collector):
    def __init__(self, db: Database, bus: Bus, hub: Hub, draining: Callable[[], bool]) -> None:
        self._db = db
        self._bus = bus
        self._hub = hub
        self._draining = draining

    def collect(self) -> Iterator[Metric]:
        store = self._db.outage
        yield _gauge("telex_store_up", "1 while the store answers, 0 during an outage.", 1 if store.up else 0)
        yield CounterMetricFamily(
            "telex_store_unavailable",
            "Store operations that failed because the store could not be reached (each a 503).",
            value=store.failures,
        )
        yield CounterMetricFamily("telex_store_outages", "Store outages begun.", value=store.outages)
        in_use = self._db.pool_in_use()
        if in_use is not None:
            yield _gauge("telex_store_pool_in_use", "PostgreSQL connections checked out now.", in_use)
        yield _gauge(
            "telex_bus_up",
            "1 while the bus (Redis) carries announcements; 0: other nodes' events arrive by polling.",
            1 if self._bus.up else 0,
        )
        outage = getattr(self._bus, "outage", None)
        if isinstance(outage, Outage):
            yield CounterMetricFamily("telex_bus_outages", "Bus (Redis) outages begun.", value=outage.outages)
        hub = self._hub
        yield _gauge("telex_realtime_connections", "Realtime sockets open on this node.", hub.connections)
        yield CounterMetricFamily(
            "telex_realtime_events", "Events handed to realtime sockets on this node.", value=hub.offered
        )
        yield CounterMetricFamily(
            "telex_realtime_slow_consumer_closes",
            "Realtime sockets closed because they could not keep up (close code 4008).",
            value=hub.slow_closed,
        )
        yield _gauge(
            "telex_hub_lag_events",
            "Committed events this node knows of and has not yet handed to its realtime sockets.",
            hub.lag,
        )
        yield _gauge(
            "telex_hub_position", "The last event-log position this node's hub delivered.", hub.cursor
        )
        yield _gauge(
            "telex_node_draining",
            "1 from SIGTERM until the node stops (/readyz 503).",
            1 if self._draining() else 0,
        )


def install_node_metrics(
    registry: CollectorRegistry, db: Database, bus: Bus, hub: Hub, draining: Callable[[], bool]
) -> None:
    """Register the node's collector and give the store its timing histogram."""
    registry.register(NodeCollector(db, bus, hub, draining))
    seconds = Histogram(
        "telex_store_transaction_seconds",
        "Duration of store read transactions and write units (a write until it is durable).",
        ["kind"],
        registry=registry,
        buckets=_BUCKETS,
    )
    children = {"read": seconds.labels("read"), "write": seconds.labels("write")}

    def timing(kind: str, elapsed: float) -> None:
        children[kind].observe(elapsed)

    db.timing = timing
