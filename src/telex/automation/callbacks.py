"""Callbacks to applications: durable, in order per call connection, signed, retried.

    unit appends "callAutomation.X" on topic automation:<conn> ─► commit ─► committed(events)
        ─► wake the connection's drain (another node's commits: advanced() ─► scan every cursor)
    drain(conn): lease the cursor ─► events of the topic after the cursor (indexed: topic, position)
        ─► for each, in order: POST [CloudEvent] to its URI (callbackUri or operationCallbackUri)
             Authorization: Bearer <JWT, ES256, iss = public URL, aud = resource id, 5 min>
             webhook-id / webhook-timestamp / webhook-signature (Standard Webhooks)
           2xx ─► cursor = its position          400/401/403/413 ─► dropped, cursor moves on
           anything else ─► wait (Event Grid's schedule, webhooks.retry) and send it again:
                            later callbacks of the same connection wait behind it
        ─► nothing left and the connection disconnected a while ago ─► done

One POST carries one event (a JSON array of one CloudEvent, as ACS sends them), so a retry
resends exactly the same body under the same ``webhook-id``; receivers dedupe on it or on the
event's ``id``. Deliveries run in their own tasks, bounded in number: a slow or dead callback
server delays only its own connection's callbacks, never a call or another connection. The
cursor is in the database and a lease says which node drains it, so a restart (or another node,
once the lease expires) resumes where delivery stopped: nothing committed is lost.

The Standard Webhooks secret is derived from the access keys (``callback_secret``), so an
application that holds its connection string can check the signature without another secret;
both keys sign, so a key rotation never breaks verification.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
import uuid
from collections.abc import Callable

from sqlalchemy import bindparam, or_, select, update

from telex.automation.events import CALLBACK_PREFIX, TOPIC_PREFIX, connection_topic
from telex.automation.keys import CallbackSigner
from telex.automation.schema import call_connections as CC
from telex.automation.schema import callback_cursors as CUR
from telex.automation.translate import ConnectionState
from telex.core.clock import Clock
from telex.events.log import event_from_row
from telex.events.model import DomainEvent
from telex.events.schema import events as E
from telex.store.database import Database
from telex.webhooks.envelope import EventRecord, cloud_event
from telex.webhooks.outbound import OutboundSender
from telex.webhooks.retry import Action, RetryPolicy, decide
from telex.webhooks.signing import WebhookSecret, signature_headers

__all__ = ["CallbackDispatcher", "callback_secret"]

log = logging.getLogger(__name__)

_LEASE = 30.0
_DONE_AFTER = 60.0  # a disconnected connection's cursor stays open this long for late callbacks
_BATCH = 50
_ACS = "Microsoft.Communication."
_TOPIC_EVENTS = (
    select(E)
    .where(E.c.topic == bindparam("topic"), E.c.position > bindparam("after"))
    .order_by(E.c.position)
    .limit(bindparam("n"))
)


def callback_secret(access_key: bytes) -> WebhookSecret:
    """The Standard Webhooks secret of callbacks, derived from an access key."""
    return WebhookSecret(hmac.new(access_key, b"telex-call-automation-callbacks", hashlib.sha256).digest())


def body_of(event: DomainEvent) -> bytes:
    """The POST body of one callback: a JSON array holding its CloudEvent."""
    connection = event.topic[len(TOPIC_PREFIX) :]
    record = EventRecord(
        id=event.id,
        type=_ACS + event.type[len(CALLBACK_PREFIX) :],
        subject=event.subject,
        data=event.data["event"],
        time=event.time,
        topic=f"calling/callConnections/{connection}",
    )
    return json.dumps([cloud_event(record)], separators=(",", ":"), ensure_ascii=False).encode()


class CallbackDispatcher:
    """The backbone sink and the delivery loop (``run``) of one node."""

    def __init__(
        self,
        db: Database,
        sender: OutboundSender,
        signer: CallbackSigner,
        secrets: Callable[[], list[WebhookSecret]],
        clock: Clock,
        policy: RetryPolicy,
        *,
        concurrency: int,
        poll_seconds: float = 1.0,
    ) -> None:
        self._db = db
        self._sender = sender
        self._signer = signer
        self._secrets = secrets
        self._clock = clock
        self._policy = policy
        self._poll = poll_seconds
        self._slots = asyncio.Semaphore(concurrency)
        self._me = uuid.uuid4().hex
        self._dirty: set[str] = set()
        self._scan = True
        self._wake = asyncio.Event()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()
        self.delivered = 0
        self.attempts = 0
        self.dropped = 0

    # the backbone's sink -----------------------------------------------------------------------------
    def committed(self, events: list[DomainEvent]) -> None:
        for event in events:
            if event.type.startswith(CALLBACK_PREFIX):
                self._dirty.add(event.topic[len(TOPIC_PREFIX) :])
                self._wake.set()

    def advanced(self, position: int) -> None:
        self._scan = True
        self._wake.set()

    def ephemeral(self, event: DomainEvent) -> None:
        return None

    # the loop ------------------------------------------------------------------------------------------
    async def run(self) -> None:
        """Deliver until cancelled; leases are let go on the way out."""
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._poll):
                        await self._wake.wait()
                self._wake.clear()
                try:
                    await self._round()
                except Exception:  # the store may be briefly unavailable; the next round retries
                    log.exception("callback dispatcher round failed")
        finally:
            for task in list(self._running.values()):
                task.cancel()
            for task in list(self._running.values()):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            with contextlib.suppress(Exception):
                async with self._db.write() as conn:
                    await conn.execute(
                        update(CUR).where(CUR.c.owner == self._me).values(owner=None, lease_until=None)
                    )

    async def _round(self) -> None:
        now = self._clock.now()
        wanted = set(self._dirty)
        self._dirty.clear()
        if self._scan or not wanted:
            self._scan = False
            async with self._db.read() as conn:
                rows = await conn.execute(select(CUR.c.connection_id).where(CUR.c.done == 0))
                wanted |= {r.connection_id for r in rows}
        for connection_id in wanted:
            running = self._running.get(connection_id)
            if running is not None:
                self._again.add(connection_id)
            elif await self._claim(connection_id, now):
                task = asyncio.create_task(self._drain(connection_id))
                self._running[connection_id] = task
                task.add_done_callback(self._finished(connection_id))

    def _finished(self, connection_id: str) -> Callable[[asyncio.Task[None]], None]:
        def done(_: asyncio.Task[None]) -> None:
            self._running.pop(connection_id, None)

        return done

    async def _claim(self, connection_id: str, now: float) -> bool:
        async with self._db.write() as conn:
            result = await conn.execute(
                update(CUR)
                .where(
                    CUR.c.connection_id == connection_id,
                    CUR.c.done == 0,
                    or_(CUR.c.owner.is_(None), CUR.c.owner == self._me, CUR.c.lease_until < now),
                    or_(CUR.c.next_attempt_at.is_(None), CUR.c.next_attempt_at <= now),
                )
                .values(owner=self._me, lease_until=now + _LEASE)
                .returning(CUR.c.connection_id)
            )
            return result.first() is not None

    async def _drain(self, connection_id: str) -> None:
        async with self._slots:
            while True:
                try:
                    more = await self._deliver_some(connection_id)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("callbacks of %s could not be delivered", connection_id)
                    return
                if more:
                    continue
                if connection_id in self._again:
                    self._again.discard(connection_id)
                    continue
                return

    async def _deliver_some(self, connection_id: str) -> bool:
        """Deliver what is pending; True if there may be more right away."""
        async with self._db.read() as conn:
            cursor = (await conn.execute(select(CUR).where(CUR.c.connection_id == connection_id))).first()
            if cursor is None or cursor.done:
                return False
            rows = await conn.execute(
                _TOPIC_EVENTS,
                {"topic": connection_topic(connection_id), "after": cursor.position, "n": _BATCH},
            )
            events = [event_from_row(r) for r in rows]
            state = (
                await conn.execute(select(CC.c.state, CC.c.ended_at).where(CC.c.id == connection_id))
            ).first()
        position, attempts = cursor.position, cursor.attempts
        for event in events:
            if not event.type.startswith(CALLBACK_PREFIX):
                position = event.position
                continue
            attempts = await self._deliver(connection_id, event, attempts)
            position = event.position
            await self._advance(connection_id, position)
            attempts = 0
        if events:
            return len(events) == _BATCH
        ended = state is None or (
            state.state == ConnectionState.DISCONNECTED
            and state.ended_at is not None
            and state.ended_at < self._clock.now() - _DONE_AFTER
        )
        if ended:
            async with self._db.write() as conn:
                await conn.execute(
                    update(CUR).where(CUR.c.connection_id == connection_id).values(done=1, owner=None)
                )
        return False

    async def _advance(self, connection_id: str, position: int) -> None:
        now = self._clock.now()
        async with self._db.write() as conn:
            await conn.execute(
                update(CUR)
                .where(CUR.c.connection_id == connection_id)
                .values(position=position, attempts=0, next_attempt_at=None, lease_until=now + _LEASE)
            )

    async def _deliver(self, connection_id: str, event: DomainEvent, attempts: int) -> int:
        """POST ``event`` until it is delivered or given up (then returns); the attempts made."""
        body = body_of(event)
        uri = str(event.data.get("uri", ""))
        while True:
            now = self._clock.now()
            headers = {
                "Content-Type": "application/json",
                "Authorization": f"Bearer {self._signer.token(now, event.id)}",
            }
            headers.update(signature_headers(self._secrets(), event.id.replace(".", "-"), now, body))
            self.attempts += 1
            result, _ = await self._sender.attempt(uri, headers=headers, content=body)
            attempts += 1
            decision = decide(
                self._policy,
                result,
                attempts=attempts,
                published_at=event.time,
                now=self._clock.now(),
                jitter_sample=random.random(),
            )
            if decision.action is Action.DELIVERED:
                self.delivered += 1
                return attempts
            if decision.action is Action.DEAD_LETTER:
                self.dropped += 1
                log.warning(
                    "callback %s of %s to %s dropped after %d attempts: %s (%s)",
                    event.type,
                    connection_id,
                    uri[:200],
                    attempts,
                    decision.outcome,
                    decision.reason.value if decision.reason else "",
                )
                return attempts
            assert decision.retry_at is not None
            wait = max(0.0, decision.retry_at - self._clock.now())
            async with self._db.write() as conn:
                await conn.execute(
                    update(CUR)
                    .where(CUR.c.connection_id == connection_id)
                    .values(
                        attempts=attempts,
                        next_attempt_at=decision.retry_at,
                        lease_until=decision.retry_at + _LEASE,
                    )
                )
            await self._clock.sleep(wait)
