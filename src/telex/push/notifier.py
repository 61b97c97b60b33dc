"""The push consumer: rings the phones of users with no live connection, from the event log.

    lease on the "push" cursor (one node at a time) ─► read_after ─► for each event:
      incomingCall (a callee's leg topic)  recipients ─► with registrations ─► offline (presence)
                                           ─► RING to each of their devices; remember the ring
      callParticipantUpdated/Removed,      a remembered ring whose participant stopped ringing
      callEnded                            ─► CANCEL (answered elsewhere, declined, missed, cancelled)
      chatMessageReceived                  the thread's members but the sender, offline, with
                                           registrations ─► CHAT to each device
    each push is a task (at most ``concurrency`` at once): provider answer ─► DELIVERED
      · GONE: delete the registration · RETRY: backoff with jitter (or Retry-After), while the
      notification is still worth sending · MISCONFIGURED / DROPPED: logged and counted

Pushes are sent at most once: the cursor moves once a push is handed to its task, not when the
provider has answered, because a call that rings late is worse than one that does not ring at
all (a crash can lose the pushes in flight, never repeat them). Remembered rings live in memory;
a node that takes over the lease does not know the rings of the previous one, whose cancels
are then not sent (the provider's TTL and collapse key still retire the ring).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from telex.calling import CallEvent
from telex.chat import EventType as ChatEvent
from telex.core.clock import Clock
from telex.events.consumer import AudienceCache, CursorStore, Doorbell
from telex.events.log import EventLog
from telex.events.model import DomainEvent
from telex.presence import Presence
from telex.push.providers import Notification, NotificationKind, Providers
from telex.push.registry import Registration
from telex.push.result import Outcome, PushResult, backoff
from telex.push.settings import PushSettings
from telex.push.store import RegistrationStore
from telex.webhooks.catalogue import raw_id

__all__ = ["CURSOR", "PushNotifier"]

log = logging.getLogger(__name__)

CURSOR = "push"
_READ_BATCH = 500
_MAX_RINGS = 100_000
_SAVE_EVERY = 0.25  # seconds between cursor saves while busy
_SWEEP_EVERY = 3600.0  # seconds between deletions of expired registrations


@dataclass(slots=True)
class _Ring:
    user: str
    until: float


def _parse_time(text: Any, default: float) -> float:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return default


class PushNotifier:
    def __init__(
        self,
        log_: EventLog,
        cursors: CursorStore,
        doorbell: Doorbell,
        store: RegistrationStore,
        presence: Presence,
        providers: Providers,
        clock: Clock,
        settings: PushSettings,
        registry: CollectorRegistry,
        node: str | None = None,
    ) -> None:
        self._log = log_
        self._cursors = cursors
        self._store = store
        self._presence = presence
        self._providers = providers
        self._clock = clock
        self._settings = settings
        self.node = node or uuid.uuid4().hex[:16]
        self._wake = asyncio.Event()
        self._audiences = AudienceCache(log_)
        self._rings: dict[tuple[str, str], _Ring] = {}
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._rng = random.Random()
        self._last_sweep = 0.0
        self.working = False
        self._sent = Counter(
            "telex_push_sent", "Pushes by platform and provider outcome", ["platform", "kind", "outcome"],
            registry=registry,
        )  # fmt: skip
        doorbell.listen(self._wake.set)

    # the loop -------------------------------------------------------------------------------------
    async def run(self) -> None:
        """Push until cancelled (``Node.start_background`` runs it)."""
        try:
            while True:
                try:
                    await self._cursors.ensure(CURSOR, await self._log.head(), self._clock.now())
                    state = await self._cursors.acquire(
                        CURSOR, self.node, self._clock.now(), self._settings.lease_seconds
                    )
                    if state is not None:
                        self.working = True
                        await self._work(state.position, state.generation)
                except Exception:
                    log.exception("push: consumer failed; retrying")
                finally:
                    self.working = False
                await self._idle()
        finally:
            for task in list(self._tasks):
                task.cancel()
            with contextlib.suppress(Exception):
                await self._cursors.release(CURSOR, self.node)

    async def _idle(self) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._settings.poll_seconds):
                await self._wake.wait()
        self._wake.clear()

    async def _work(self, position: int, generation: int) -> None:
        """Follow the log while this node holds the lease."""
        saved, last_save = position, self._clock.monotonic()
        renewed = self._clock.monotonic()
        while True:
            events = await self._log.read_after(position, _READ_BATCH)
            for event in events:
                await self._handle(event)
                position = event.position
            mono = self._clock.monotonic()
            if position != saved and (not events or mono - last_save >= _SAVE_EVERY):
                if not await self._cursors.save(
                    CURSOR, self.node, generation, position=position, now=self._clock.now()
                ):
                    return
                saved, last_save, renewed = position, mono, mono
            if mono - renewed >= self._settings.lease_seconds / 3:
                if not await self._cursors.renew(
                    CURSOR, self.node, self._clock.now(), self._settings.lease_seconds
                ):
                    return
                renewed = mono
            if not events:
                self._expire_rings()
                if mono - self._last_sweep >= _SWEEP_EVERY:
                    self._last_sweep = mono
                    swept = await self._store.sweep(self._clock.now())
                    if swept:
                        log.info("push: deleted %d expired registration(s)", swept)
                await self._idle()

    # events -------------------------------------------------------------------------------------
    async def _handle(self, event: DomainEvent) -> None:
        self._audiences.observe(event)
        if event.type == CallEvent.INCOMING_CALL:
            await self._ring(event)
        elif event.type in (CallEvent.PARTICIPANT_UPDATED, CallEvent.PARTICIPANT_REMOVED):
            p = event.data.get("participant") or {}
            if p.get("state") != "ringing":
                reason = (
                    "answered" if p.get("state") == "connected" else str(p.get("callEndReason") or "ended")
                )
                await self._cancel(str(event.data.get("callId")), [str(p.get("participantId"))], reason)
        elif event.type == CallEvent.CALL_ENDED:
            call_id = str(event.data.get("callId"))
            legs = [leg for (call, leg) in self._rings if call == call_id]
            await self._cancel(call_id, legs, str(event.data.get("callEndReason") or "ended"))
        elif event.type == ChatEvent.MESSAGE_RECEIVED:
            await self._chat(event)

    async def _offline_devices(self, event: DomainEvent) -> dict[str, list[Registration]]:
        """The event's recipients that have devices and no live connection, with their devices."""
        recipients = await self._audiences.recipients(event)
        if not recipients:
            return {}
        now = self._clock.now()
        devices: dict[str, list[Registration]] = {}
        for reg in await self._store.for_users(recipients, now):
            devices.setdefault(reg.user, []).append(reg)
        if not devices:
            return {}
        online = await self._presence.online(list(devices))
        return {user: regs for user, regs in devices.items() if user not in online}

    async def _ring(self, event: DomainEvent) -> None:
        d = event.data
        now = self._clock.now()
        until = _parse_time(d.get("ringingUntil"), now + 60)
        if until <= now:
            return
        call_id, leg = str(d["callId"]), str(d.get("participantId"))
        data = {
            "type": "incomingCall", "callId": call_id, "participantId": leg,
            "callerId": raw_id(d.get("caller")), "callerDisplayName": str(d.get("callerDisplayName") or ""),
            "videoOffered": "true" if d.get("videoOffered") else "false",
            "ringingUntil": str(d.get("ringingUntil")),
        }  # fmt: skip
        name = data["callerDisplayName"] or "Someone"
        notification = Notification(
            NotificationKind.RING, call_id, data, name, "Incoming call", max(1, int(until - now)), until
        )
        for user, regs in (await self._offline_devices(event)).items():
            if len(self._rings) < _MAX_RINGS:
                self._rings[(call_id, leg)] = _Ring(user, until)
            await self._dispatch(regs, notification)

    async def _cancel(self, call_id: str, legs: Iterable[str], reason: str) -> None:
        now = self._clock.now()
        for leg in legs:
            ring = self._rings.pop((call_id, leg), None)
            if ring is None or ring.until <= now:
                continue
            data = {"type": "incomingCallEnded", "callId": call_id, "participantId": leg, "reason": reason}
            notification = Notification(
                NotificationKind.CANCEL, call_id, data, "", "", max(1, int(ring.until - now)), ring.until
            )
            await self._dispatch(await self._store.for_users([ring.user], now), notification)

    async def _chat(self, event: DomainEvent) -> None:
        d = event.data
        offline = await self._offline_devices(event)
        if not offline:
            return
        sender = str(d.get("senderDisplayName") or "")
        data = {
            "type": "chatMessageReceived", "threadId": str(d.get("threadId")), "messageId": str(d.get("id")),
            "senderId": raw_id(d.get("sender")), "senderDisplayName": sender,
        }  # fmt: skip
        body = "New message"
        if self._settings.include_message_text:
            text = str(d.get("message") or "")
            data["messageBody"] = text[:1000]
            body = text[:200] or body
        ttl = self._settings.chat_ttl_seconds
        notification = Notification(
            NotificationKind.CHAT,
            data["threadId"],
            data,
            sender or "New message",
            body,
            ttl,
            self._clock.now() + ttl,
        )
        for regs in offline.values():
            await self._dispatch(regs, notification)

    def _expire_rings(self) -> None:
        now = self._clock.now()
        for key in [k for k, ring in self._rings.items() if ring.until <= now]:
            del self._rings[key]

    # sending ------------------------------------------------------------------------------------
    async def _dispatch(self, regs: list[Registration], notification: Notification) -> None:
        for reg in regs:
            await self._slots.acquire()  # bounded: a slow provider back-pressures this consumer only
            task = asyncio.create_task(self._send(reg, notification))
            self._tasks.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slots.release()

    async def _send(self, reg: Registration, notification: Notification) -> None:
        s = self._settings
        kind = notification.kind.value
        try:
            for attempt in range(1, s.max_attempts + 1):
                result: PushResult | None = await self._providers.send(reg, notification)
                if result is None:
                    return
                self._sent.labels(reg.platform.value, kind, result.outcome.value).inc()
                if result.outcome is Outcome.GONE:
                    log.info(
                        "push: %s registration %s is gone (%s); deleting it",
                        reg.platform,
                        reg.id,
                        result.reason,
                    )
                    await self._store.delete(reg.id)
                    return
                if result.outcome is Outcome.MISCONFIGURED:
                    log.warning("push: %s refused our credentials: %s", reg.platform, result.reason)
                    return
                if result.outcome is not Outcome.RETRY:
                    if result.outcome is Outcome.DROPPED:
                        log.info("push: %s dropped a %s push: %s", reg.platform, kind, result.reason)
                    return
                delay = result.retry_after
                if delay is None:
                    delay = backoff(attempt, base=s.retry_base_seconds, cap=s.retry_cap_seconds,
                                    jitter_sample=self._rng.random())  # fmt: skip
                delay = min(delay, s.retry_cap_seconds)
                if attempt == s.max_attempts or self._clock.now() + delay >= notification.expires_at:
                    return
                await asyncio.sleep(delay)
        except Exception:
            log.exception("push: sending to %s failed", reg.platform)
