"""One subscription's delivery worker: the log, in order, to one webhook, at least once.

    cursor (position, partial) ─► read_after ─► render (catalogue, filter, recipients) ─► ahead
    ahead ─► next batch (≤ maxEventsPerBatch records, ≤ preferred size) ─► encode, sign, POST
          ─► decide (Event Grid's policy):
               delivered    ─► cursor moves past the batch (saved every cursor_flush_seconds)
               retry        ─► attempts and retry_at saved now; wait; the same batch again
                              (same webhook-id, new signature, aeg-delivery-count + 1)
               dead letter  ─► the batch's events and Event Grid's dead-letter fields are stored in
                              the unit that moves the cursor past them

Order. Batches go out one at a time, in log order, and a batch being retried holds back the
ones after it (Event Grid does the same to a failing endpoint: "delayed delivery"), so events
reach the endpoint in log order per subscription, hence per subject. A dead-lettered batch lets
the rest through.

At least once. The cursor names the last delivered event (``partial``: how many of the next
event's records went out, when one event became several deliveries). It is saved after
delivery, never before, so a crash re-sends at most what was delivered since the last save,
with the same event ids; and a batch rebuilt from the same cursor has the same ``webhook-id``.
Saves are fenced by the lease and the cursor's generation (``telex.events.consumer``): a worker
that lost either stops without writing.

Isolation. The worker awaits only its own endpoint and the store; a slow or dead endpoint holds
back only its own subscription, and the request path of chat and calls never waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from telex.core.clock import Clock
from telex.events.consumer import CursorState, CursorStore
from telex.events.log import EventLog
from telex.subscriptions.model import Subscription
from telex.subscriptions.render import Rendered, SubscriptionRenderer
from telex.subscriptions.settings import EventsSettings
from telex.subscriptions.store import SubscriptionStore
from telex.webhooks.catalogue import Catalogue
from telex.webhooks.envelope import (
    Body,
    EventRecord,
    Schema,
    cloud_event,
    delivery_headers,
    encode,
    event_grid_event,
)
from telex.webhooks.outbound import OutboundSender
from telex.webhooks.retry import Action, AttemptResult, Decision, dead_letter_fields, decide
from telex.webhooks.signing import signature_headers

__all__ = ["DeliveryMetrics", "Worker", "WorkerDeps"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# Rough JSON size of a record's envelope around its data, for preferredBatchSizeInKilobytes.
_ENVELOPE_BYTES = 400


class DeliveryMetrics(Protocol):
    def delivered(self, name: str, events: int) -> None: ...

    def retried(self, name: str) -> None: ...

    def dead_lettered(self, name: str, events: int) -> None: ...

    def lag(self, name: str, events: int, seconds: float) -> None: ...


@dataclass
class WorkerDeps:
    cursors: CursorStore
    store: SubscriptionStore
    log: EventLog
    sender: OutboundSender
    catalogue: Catalogue
    clock: Clock
    settings: EventsSettings
    metrics: DeliveryMetrics
    topic: str
    origin: str
    node: str
    head: Callable[[], int]  # the newest log position this node knows of
    rng: random.Random = field(default_factory=random.Random)


@dataclass
class _Batch:
    records: list[EventRecord]
    positions: list[int]
    consumed: int  # entries of ``ahead`` fully covered
    end: tuple[int, int]  # the cursor once the batch is done
    published_at: float
    body: Body | None = None
    msg_id: str = ""


async def _finish(work: Coroutine[Any, Any, T]) -> T:
    """Await ``work`` to its end even if the caller is cancelled meanwhile (then re-raise)."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait({task})
        raise


def message_id(records: list[EventRecord]) -> str:
    """``webhook-id``: the event's own id for a single event, else a digest of the batch's ids
    (the same batch, rebuilt after a restart, has the same id)."""
    if len(records) == 1:
        return records[0].id
    digest = hashlib.sha256("\n".join(r.id for r in records).encode()).hexdigest()[:32]
    return f"msg_{digest}"


class Worker:
    """Delivers one subscription while this node holds its lease; ``run`` returns when the lease
    or the cursor's generation is lost, and is cancelled when the subscription changes."""

    def __init__(self, sub: Subscription, state: CursorState, deps: WorkerDeps) -> None:
        self.sub = sub
        self._d = deps
        self._cursor = state
        self.position, self.partial = state.position, state.partial
        self.attempts, self.retry_at = state.attempts, state.retry_at
        self._read_pos = state.position
        self._ahead: deque[Rendered] = deque()
        self._renderer = SubscriptionRenderer(deps.catalogue, sub.spec.filter, deps.log, deps.topic)
        self._policy = sub.retry_policy(deps.settings.retry_schedule_seconds, deps.settings.retry_jitter)
        self._wake = asyncio.Event()
        self._saved = (self.position, self.partial)
        self._last_save = deps.clock.monotonic()
        self._last_sent = 0.0

    def wake(self) -> None:
        self._wake.set()

    # the loop --------------------------------------------------------------------------------
    async def run(self) -> None:
        name = self.sub.name
        try:
            while True:
                batch = await self._next_batch()
                if batch is None:
                    if not await self._flush():
                        return
                    self._d.metrics.lag(name, max(0, self._d.head() - self.position), 0.0)
                    await self._idle()
                    continue
                if not batch.records:  # nothing there for this subscription: just move on
                    self._apply(batch)
                    continue
                self._d.metrics.lag(
                    name,
                    max(0, self._d.head() - self.position),
                    max(0.0, self._d.clock.now() - batch.published_at),
                )
                if not await self._deliver(batch):
                    return
        finally:
            with contextlib.suppress(Exception):
                await self._flush()

    async def _idle(self) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._d.settings.poll_seconds):
                await self._wake.wait()
        self._wake.clear()

    async def _deliver(self, batch: _Batch) -> bool:
        """Attempt ``batch`` until it is delivered or dead-lettered; False if the worker must stop."""
        while True:
            if self.retry_at is not None:
                delay = self.retry_at - self._d.clock.now()
                if delay > 0:
                    await asyncio.sleep(delay)
            await self._respect_rate()
            result, decision = await self._attempt(batch)
            now = self._d.clock.now()
            if decision.action is Action.DELIVERED:
                self._apply(batch)
                self._d.metrics.delivered(self.sub.name, len(batch.records))
                if self._d.clock.monotonic() - self._last_save >= self._d.settings.cursor_flush_seconds:
                    return await self._flush()
                return True
            if decision.action is Action.RETRY:
                self.attempts, self.retry_at = decision.attempts, decision.retry_at
                self._d.metrics.retried(self.sub.name)
                if not await self._save():
                    return False
                continue
            rows = self._dead_letters(batch, decision, result, now)
            self._apply(batch)
            if not await self._save(also=[self._d.store.dead_letter_rows(rows)]):
                return False
            self._d.metrics.dead_lettered(self.sub.name, len(batch.records))
            log.warning(
                "webhook %s: %d event(s) dead-lettered (%s)",
                self.sub.name, len(batch.records), decision.reason.value if decision.reason else "",
            )  # fmt: skip
            return True

    async def _attempt(self, batch: _Batch) -> tuple[AttemptResult, Decision]:
        sub, d = self.sub, self._d
        spec = sub.spec
        if batch.body is None:
            batch.body = encode(batch.records, spec.schema, batched=spec.max_events_per_batch > 1)
            batch.msg_id = message_id(batch.records)
        now = d.clock.now()
        cloud = spec.schema is Schema.CLOUD_EVENTS
        headers = {
            "Content-Type": batch.body.content_type,
            **delivery_headers(
                spec.schema,
                subscription_name=sub.name.upper(),
                delivery_count=self.attempts,
                origin=d.origin if cloud else None,
            ),
            **signature_headers(sub.secrets(now), batch.msg_id, now, batch.body.content),
        }
        result, _ = await d.sender.attempt(spec.url, headers=headers, content=batch.body.content)
        self._last_sent = d.clock.monotonic()
        decision = decide(
            self._policy, result, attempts=self.attempts + 1, published_at=batch.published_at,
            now=d.clock.now(), jitter_sample=d.rng.random(),
        )  # fmt: skip
        return result, decision

    async def _respect_rate(self) -> None:
        """The CloudEvents receiver's ``WebHook-Allowed-Rate`` (requests per minute), if any."""
        rate = self.sub.allowed_rate
        if rate:
            wait = self._last_sent + 60.0 / rate - self._d.clock.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)

    def _dead_letters(
        self, batch: _Batch, decision: Decision, result: AttemptResult, now: float
    ) -> list[dict[str, Any]]:
        render = cloud_event if self.sub.spec.schema is Schema.CLOUD_EVENTS else event_grid_event
        rows = []
        for record, position in zip(batch.records, batch.positions, strict=True):
            fields = dead_letter_fields(
                decision, published_at=record.time, last_attempt_at=now, last_status=result.status
            )
            rows.append({
                "subscription": self.sub.name, "position": position, "event_id": record.id,
                "event": render(record), "reason": fields["deadLetterReason"], "attempts": decision.attempts,
                "outcome": decision.outcome, "status": result.status, "published_at": record.time,
                "last_attempt_at": now,
            })  # fmt: skip
        return rows

    # the cursor ------------------------------------------------------------------------------
    def _apply(self, batch: _Batch) -> None:
        for _ in range(batch.consumed):
            self._ahead.popleft()
        self.position, self.partial = batch.end
        self.attempts, self.retry_at = 0, None

    async def _save(self, also: list[Any] | None = None) -> bool:
        d = self._d
        # A worker stopped mid-save (a changed subscription, a closing node) finishes that write
        # unit before it stops: its progress and dead letters are recorded whole or not at all,
        # and nothing is left writing behind a node that is closing its store.
        ok = await _finish(
            d.cursors.save(
                self.sub.cursor,
                d.node,
                self._cursor.generation,
                position=self.position,
                partial=self.partial,
                attempts=self.attempts,
                retry_at=self.retry_at,
                now=d.clock.now(),
                also=also or (),
            )
        )
        if ok:
            self._saved = (self.position, self.partial)
            self._last_save = d.clock.monotonic()
        else:
            log.info("webhook %s: lease or generation lost; stopping this worker", self.sub.name)
        return ok

    async def _flush(self) -> bool:
        if (self.position, self.partial) == self._saved:
            return True
        return await self._save()

    # batches ---------------------------------------------------------------------------------
    async def _fill(self) -> None:
        if self._ahead:
            return
        events = await self._d.log.read_after(self._read_pos, self._d.settings.read_batch)
        if not events:
            return
        self._read_pos = events[-1].position
        self._ahead.extend(await self._renderer.render(events))

    async def _next_batch(self) -> _Batch | None:
        await self._fill()
        if not self._ahead:
            return None
        limit = self.sub.spec.max_events_per_batch
        budget = self.sub.spec.preferred_batch_kb * 1024
        records: list[EventRecord] = []
        positions: list[int] = []
        end, partial, consumed, size = self.position, self.partial, 0, 0
        published = self._ahead[0].time
        for entry in self._ahead:
            remaining = entry.records[partial:]
            take: list[EventRecord] = []
            for record in remaining:
                count = len(records) + len(take)
                cost = len(str(record.data)) + _ENVELOPE_BYTES
                # Never delay to fill a batch; never exceed it, except that one record always goes.
                if count >= limit or (count and size + cost > budget):
                    break
                take.append(record)
                size += cost
            if take and not records:
                published = entry.time
            records += take
            positions += [entry.position] * len(take)
            if len(take) < len(remaining):
                partial += len(take)
                break
            consumed += 1
            end, partial = entry.position, 0
            if len(records) >= limit:
                break
        return _Batch(records, positions, consumed, (end, partial), published)
