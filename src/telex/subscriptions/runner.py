"""This node's delivery: which subscriptions it works, the leases it holds, the doorbell.

    every poll, or at once when a subscription changes here:
        subscriptions ─► changed or deleted? stop that worker (a new one starts from the store)
                      ─► validated, not worked here, lease free or expired? take it, start a worker
    every lease/3: renew the leases held; a lease that cannot be renewed stops its worker
    doorbell (events committed here, or announced by another node) ─► every worker wakes

Several nodes run this side by side; the lease on a subscription's cursor row (taken with one
conditional update, ``telex.events.consumer``) makes exactly one of them deliver it at a time,
and another takes over within ``lease_seconds`` of a node dying. Each worker is its own task
awaiting only its own endpoint, so no subscription waits for another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from prometheus_client import CollectorRegistry, Counter, Gauge

from telex.core.clock import Clock
from telex.events.consumer import CursorState, CursorStore, Doorbell
from telex.events.log import EventLog
from telex.subscriptions.delivery import Worker, WorkerDeps
from telex.subscriptions.model import ProvisioningState, Subscription, cursor_name
from telex.subscriptions.service import SubscriptionService
from telex.webhooks.outbound import OutboundSender

__all__ = ["DeliveryRunner", "PrometheusDeliveryMetrics"]

log = logging.getLogger(__name__)


class PrometheusDeliveryMetrics:
    """Per-subscription delivery figures on ``/metrics`` (reported by the node delivering it)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        label = ["subscription"]
        self._delivered = Counter(
            "telex_webhook_events_delivered", "Events delivered to a subscription's endpoint", label,
            registry=registry,
        )  # fmt: skip
        self._retried = Counter(
            "telex_webhook_attempts_retried", "Failed delivery attempts that will be retried", label,
            registry=registry,
        )  # fmt: skip
        self._dead = Counter(
            "telex_webhook_events_dead_lettered",
            "Events given up on and dead-lettered",
            label,
            registry=registry,
        )
        self._lag = Gauge(
            "telex_webhook_lag_events", "Log positions not yet delivered to the subscription", label,
            registry=registry,
        )  # fmt: skip
        self._lag_seconds = Gauge(
            "telex_webhook_lag_seconds",
            "Age of the oldest event waiting for delivery",
            label,
            registry=registry,
        )

    def delivered(self, name: str, events: int) -> None:
        self._delivered.labels(name).inc(events)

    def retried(self, name: str) -> None:
        self._retried.labels(name).inc()

    def dead_lettered(self, name: str, events: int) -> None:
        self._dead.labels(name).inc(events)

    def lag(self, name: str, events: int, seconds: float) -> None:
        self._lag.labels(name).set(events)
        self._lag_seconds.labels(name).set(seconds)

    def forget(self, name: str) -> None:
        for metric in (self._delivered, self._retried, self._dead, self._lag, self._lag_seconds):
            with contextlib.suppress(KeyError):
                metric.remove(name)


class _Running:
    __slots__ = ("task", "updated_at", "worker")

    def __init__(self, worker: Worker, task: asyncio.Task[None], updated_at: float) -> None:
        self.worker, self.task, self.updated_at = worker, task, updated_at


class DeliveryRunner:
    def __init__(
        self,
        service: SubscriptionService,
        cursors: CursorStore,
        log_: EventLog,
        doorbell: Doorbell,
        sender: OutboundSender,
        clock: Clock,
        metrics: PrometheusDeliveryMetrics,
        node: str | None = None,
    ) -> None:
        self._service = service
        self._cursors = cursors
        self._log = log_
        self._doorbell = doorbell
        self._clock = clock
        self._metrics = metrics
        self.node = node or uuid.uuid4().hex[:16]
        self._settings = service.settings
        self._deps = WorkerDeps(
            cursors=cursors, store=service.store, log=log_, sender=sender, catalogue=service.catalogue,
            clock=clock, settings=service.settings, metrics=metrics, topic=service.topic,
            origin=service.settings.origin, node=self.node, head=lambda: doorbell.head,
        )  # fmt: skip
        self._running: dict[str, _Running] = {}
        self._wake = asyncio.Event()
        self._last_renew = 0.0
        service.on_change(lambda _: self._wake.set())
        doorbell.listen(self._ring)

    @property
    def working(self) -> frozenset[str]:
        """Names of the subscriptions this node delivers right now."""
        return frozenset(n for n, r in self._running.items() if not r.task.done())

    def _ring(self) -> None:
        for running in self._running.values():
            running.worker.wake()

    async def run(self) -> None:
        """Deliver until cancelled (``Node.start_background`` runs it)."""
        try:
            with contextlib.suppress(Exception):
                self._doorbell.head = max(self._doorbell.head, await self._log.head())
            while True:
                try:
                    await self.reconcile()
                except Exception:  # the store may be briefly away; the next round retries
                    log.exception("webhook delivery: reconcile failed")
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(
                        min(self._settings.poll_seconds, self._settings.lease_seconds / 3)
                    ):
                        await self._wake.wait()
                self._wake.clear()
        finally:
            await self._stop_all(release=True)

    async def reconcile(self) -> None:
        subs = {s.name: s for s in await self._service.store.all()}
        for name, running in list(self._running.items()):
            sub = subs.get(name)
            if sub is None or sub.updated_at != running.updated_at or running.task.done():
                await self._stop(name)
                if sub is None:
                    self._metrics.forget(name)
        await self._renew()
        now = self._clock.now()
        ttl = self._settings.lease_seconds
        for name, sub in subs.items():
            if name in self._running or sub.effective_state(now) is not ProvisioningState.SUCCEEDED:
                continue
            state = await self._cursors.acquire(sub.cursor, self.node, now, ttl)
            if state is not None:
                self._start(sub, state)

    def _start(self, sub: Subscription, state: CursorState) -> None:
        worker = Worker(sub, state, self._deps)
        task = asyncio.create_task(worker.run(), name=f"webhook:{sub.name}")
        self._running[sub.name] = _Running(worker, task, sub.updated_at)

    async def _renew(self) -> None:
        mono = self._clock.monotonic()
        if mono - self._last_renew < self._settings.lease_seconds / 3:
            return
        self._last_renew = mono
        now = self._clock.now()
        for name in list(self._running):
            if not await self._cursors.renew(cursor_name(name), self.node, now, self._settings.lease_seconds):
                log.info("webhook %s: lease lost to another node", name)
                await self._stop(name)

    async def _stop(self, name: str) -> None:
        running = self._running.pop(name, None)
        if running is None:
            return
        running.task.cancel()
        # ``wait``, not ``await task``: the worker's CancelledError must not be taken for ours
        # (suppressing it here would swallow a cancellation of this runner that arrives meanwhile).
        await asyncio.wait({running.task})
        if not running.task.cancelled() and running.task.exception() is not None:
            log.error("webhook %s: worker failed", name, exc_info=running.task.exception())

    async def _stop_all(self, *, release: bool) -> None:
        names = list(self._running)
        for name in names:
            await self._stop(name)
        if release:
            for name in names:
                with contextlib.suppress(Exception):
                    await self._cursors.release(cursor_name(name), self.node)
