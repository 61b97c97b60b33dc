"""The asyncio shell around ``EsmeSession``: one TCP connection at a time to one SMSC.

    SmsQueue.pending() ──submit──► EsmeSession ◄──bytes──► TCP (reconnects with backoff)
          ▲                            │ events
          └── mark_submitted / mark_failed ◄─┤
                 on_delivery(receipt | MO) ◄─┘ ──► ack (ESME_ROK, or ESME_RX_T_APPN if it raised)

Nothing accepted is lost across an SMSC restart: messages leave the durable queue only when the
SMSC acknowledged them (``mark_submitted``) or refused them for good (``mark_failed``); on a
dropped connection the session keeps every unanswered part and sends it again after the next
bind, and after a process restart ``pending()`` still lists whatever was not acknowledged.
A receipt or MO is acknowledged to the SMSC only after ``on_delivery`` returned, so the SMSC
delivers it again if we die first. Framing, timers and retries live in the session; this file
moves bytes and waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from telex.core.clock import Clock, SystemClock
from telex.telephony.smpp.constants import CommandStatus
from telex.telephony.smpp.events import (
    Bound,
    Closed,
    DeliveryReceipt,
    Event,
    MobileOriginated,
    SubmitAccepted,
    SubmitFailed,
)
from telex.telephony.smpp.queue import SmsQueue
from telex.telephony.smpp.session import EsmeSession, SessionConfig, State

__all__ = ["DeliveryHandler", "SmppClient"]

log = logging.getLogger(__name__)
DeliveryHandler = Callable[[DeliveryReceipt | MobileOriginated], Awaitable[None]]
_READ_SIZE = 65536


class SmppClient:
    """Drains ``queue`` through an SMSC at ``host:port`` until ``stop()``.

    ``backlog`` bounds how many messages sit in the session at once (default twice the window);
    a message failing retryably is tried again ``max_attempts`` times in all, then marked failed.
    ``on_event`` sees every session event (metrics, tests). Call ``notify()`` when a message was
    queued, so it goes out without waiting for the next ``poll_interval``.
    """

    def __init__(
        self,
        host: str,
        port: int,
        config: SessionConfig,
        queue: SmsQueue,
        on_delivery: DeliveryHandler,
        *,
        clock: Clock | None = None,
        backlog: int | None = None,
        poll_interval: float = 1.0,
        reconnect_delay: float = 0.5,
        reconnect_max: float = 30.0,
        max_attempts: int = 5,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.session = EsmeSession(config)
        self._queue, self._on_delivery, self._on_event = queue, on_delivery, on_event
        self._clock = clock or SystemClock()
        self._backlog = backlog or 2 * config.window
        self._poll_interval = poll_interval
        self._reconnect_delay, self._reconnect_max = reconnect_delay, reconnect_max
        self._max_attempts = max_attempts
        self._attempts: dict[str, int] = {}
        self._retry_at: dict[str, float] = {}
        self._wake = asyncio.Event()
        self._next_poll = 0.0
        self._stopping = False

    def notify(self) -> None:
        self._next_poll = 0.0
        self._wake.set()

    async def stop(self) -> None:
        """Ask ``run`` to unbind and return (it does within ``response_timeout``)."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        delay = self._reconnect_delay
        while not self._stopping:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port), self.session.config.response_timeout
                )
            except OSError as error:  # TimeoutError included: an address that drops SYNs
                log.warning("SMSC %s:%d unreachable: %s", self.host, self.port, error)
            else:
                closed = await self._serve(reader, writer)
                if closed is not None:
                    log.info("SMSC session closed: %s", closed.reason)
                if self._was_bound:
                    delay = self._reconnect_delay
                if closed is not None and not closed.retry:
                    delay = self._reconnect_max  # bad credentials stay bad until someone fixes them
            if self._stopping:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wait_stop(), delay)
            delay = min(2 * delay, self._reconnect_max)

    async def _wait_stop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            await self._wake.wait()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Closed | None:
        session, clock = self.session, self._clock
        self._was_bound, self._closed = False, None
        session.connection_made(clock.monotonic())
        read: asyncio.Future[bytes] = asyncio.ensure_future(reader.read(_READ_SIZE))
        wake: asyncio.Future[object] = asyncio.ensure_future(self._wake.wait())
        try:
            while True:
                now = clock.monotonic()
                if self._stopping and session.state in (State.BINDING, State.BOUND):
                    session.unbind(now)
                # Outcomes first: a message the session settled is still pending in the queue
                # until mark_submitted ran, and a refill before it would submit it again.
                await self._dispatch_events()
                await self._refill(now)
                writer.write(session.data_to_send())
                await writer.drain()
                if session.should_close:
                    return self._closed
                deadline = session.next_timer()
                if self._wants_refill():
                    deadline = min(deadline or self._next_poll, self._next_poll)
                timeout = None if deadline is None else max(0.0, deadline - clock.monotonic())
                waiting: set[asyncio.Future[object]] = {read, wake}  # type: ignore[arg-type]
                done, _ = await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                if wake in done:
                    self._wake.clear()
                    wake = asyncio.ensure_future(self._wake.wait())
                now = clock.monotonic()
                if read in done:
                    data = read.result() if read.exception() is None else b""
                    if not data:
                        session.connection_lost(now)
                        await self._dispatch_events()
                        return self._closed
                    session.receive_data(data, now)
                    read = asyncio.ensure_future(reader.read(_READ_SIZE))
                session.handle_timer(now)
                # Parts the answers made room for go out before the outcomes are recorded, so the
                # SMSC is not left idle while the queue is written to.
                writer.write(session.data_to_send())
        except (OSError, asyncio.IncompleteReadError) as error:
            log.warning("SMSC connection failed: %s", error)
            return self._closed
        finally:
            read.cancel()
            wake.cancel()
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            if session.state is not State.DISCONNECTED:
                session.connection_lost(clock.monotonic())
                await self._dispatch_events()

    def _wants_refill(self) -> bool:
        return not self._stopping and self.session.backlog() < self._backlog

    async def _refill(self, now: float) -> None:
        """Move pending messages from the durable queue into the session, up to the backlog."""
        session = self.session
        if now < self._next_poll or not self._wants_refill():
            return
        self._next_poll = now + self._poll_interval
        waiting = sum(1 for at in self._retry_at.values() if at > now)
        for message in await self._queue.pending(self._backlog + waiting):
            if session.backlog() >= self._backlog:
                break
            if message.ref in session or self._retry_at.get(message.ref, 0.0) > now:
                continue
            self._retry_at.pop(message.ref, None)
            try:
                session.submit(message, now)
            except ValueError as error:
                await self._queue.mark_failed(message.ref, str(error))

    async def _dispatch_events(self) -> None:
        session = self.session
        # Outcomes of consecutive submissions are recorded together: each is a durable write, and
        # awaited one by one they would pace the link at one commit per message. A receipt or MO
        # waits for the outcomes before it, so it never overtakes their records.
        outcomes: list[Awaitable[None]] = []
        for event in session.events():
            if self._on_event is not None:
                self._on_event(event)
            match event:
                case SubmitAccepted(ref=ref, message_ids=ids):
                    self._attempts.pop(ref, None)
                    outcomes.append(self._queue.mark_submitted(ref, ids))
                    self._next_poll = 0.0
                case SubmitFailed(ref=ref, reason=reason, retryable=retryable):
                    attempts = self._attempts[ref] = self._attempts.get(ref, 0) + 1
                    if retryable and attempts < self._max_attempts:
                        self._retry_at[ref] = self._clock.monotonic() + self._reconnect_delay * 2**attempts
                    else:
                        self._attempts.pop(ref, None)
                        outcomes.append(self._queue.mark_failed(ref, reason))
                    self._next_poll = 0.0
                case DeliveryReceipt() | MobileOriginated():
                    await self._record(outcomes)
                    status = CommandStatus.ESME_ROK
                    try:
                        await self._on_delivery(event)
                    except Exception:
                        log.exception("delivery handler failed; the SMSC will deliver again")
                        status = CommandStatus.ESME_RX_T_APPN
                    session.ack(event.token, status)
                case Bound():
                    self._was_bound = True
                case Closed():
                    self._closed = event
        await self._record(outcomes)

    @staticmethod
    async def _record(outcomes: list[Awaitable[None]]) -> None:
        if outcomes:
            batch = outcomes[:]
            outcomes.clear()
            await asyncio.gather(*batch)

    _was_bound = False
    _closed: Closed | None = None
