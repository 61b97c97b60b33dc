"""The gateway's trunks on /metrics: up or down (OPTIONS keep-alives), pings and answers, calls.

/metrics scrape ─► TrunkCollector.collect() ─► reads each Trunk and TrunkHealth now
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from telex.pstn.gateway import PstnGateway

__all__ = ["TrunkCollector"]


class TrunkCollector(Collector):
    def __init__(self, gateway: PstnGateway) -> None:
        self._gateway = gateway

    def collect(self) -> Iterator[Metric]:
        gateway = self._gateway
        up = GaugeMetricFamily(
            "telex_sip_trunk_up",
            "1 while the trunk answers OPTIONS keep-alives (or has none).",
            labels=["trunk"],
        )
        active = GaugeMetricFamily(
            "telex_sip_trunk_calls", "Calls up or being set up over the trunk.", labels=["trunk"]
        )
        pings = CounterMetricFamily("telex_sip_trunk_options", "OPTIONS keep-alives sent.", labels=["trunk"])
        answers = CounterMetricFamily(
            "telex_sip_trunk_options_answered", "OPTIONS keep-alives answered below 500.", labels=["trunk"]
        )
        for trunk in gateway.router.trunks:
            up.add_metric([trunk.name], 1 if trunk.up else 0)
            active.add_metric([trunk.name], trunk.active)
            pings.add_metric([trunk.name], gateway.health.pings[trunk.name])
            answers.add_metric([trunk.name], gateway.health.answers[trunk.name])
        yield from (up, active, pings, answers)
        yield GaugeMetricFamily(
            "telex_sip_calls", "Trunk calls the node bridges now.", value=len(gateway.calls)
        )
