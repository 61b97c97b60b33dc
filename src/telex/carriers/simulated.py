"""The simulated carrier: SMS that never leave this server.

    queued ──step──► submitted (ids "SIM<n>") ──after delivery_delay──► delivered | failed
                                                      │ (receipt rules by recipient suffix, then
                                                      │  failure_rate, decided from the message id)
                                                      └─ recipient is a number owned here with
                                                         inbound SMS ─► SMSReceived on that number

Messages to any other number stay in the message log, where the handset API shows them to that
number. Every step is a write unit that re-checks the message's status, so several nodes may run
it at once and each message moves once; nothing waits in memory, so a restart loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging

from telex.carriers.settings import SimulatedSettings
from telex.core.clock import Clock
from telex.sms.service import Directory, OutboundSms, SmsService

__all__ = ["SIMULATED", "SimulatedCarrier"]

log = logging.getLogger(__name__)

SIMULATED = "simulated"
_BATCH = 200
_POLL = 1.0  # look for messages queued on other nodes at least this often
_LEASE = 60.0


class SimulatedCarrier:
    name = SIMULATED

    def __init__(
        self, sms: SmsService, directory: Directory, clock: Clock, settings: SimulatedSettings, node: str
    ) -> None:
        self._sms = sms
        self._directory = directory
        self._clock = clock
        self.settings = settings
        self._node = node
        self._wake = asyncio.Event()
        self._seq = 0

    def notify(self) -> None:
        self._wake.set()

    def _outcome(self, message: OutboundSms) -> tuple[bool, str]:
        for rule in self.settings.receipts:
            if message.recipient.endswith(rule.suffix):
                return rule.delivered, "No error." if rule.delivered else rule.details
        if self.settings.failure_rate > 0:
            draw = int.from_bytes(hashlib.sha256(message.id.encode()).digest()[:8], "big") / 2**64
            if draw < self.settings.failure_rate:
                return False, self.settings.failure_details
        return True, "No error."

    async def step(self) -> float | None:
        """Submit what is queued and deliver what is due; returns when the next delivery is due.
        Each of the two is one write unit for a whole batch."""
        claimed = await self._sms.claim(SIMULATED, self._node, _BATCH, _LEASE)
        if claimed:
            accepted = []
            for message in claimed:
                self._seq += 1
                accepted.append((message.id, [f"SIM{self._node}{self._seq}"]))
            await self._sms.submitted_many(SIMULATED, accepted)
        delay = self.settings.delivery_delay_seconds
        due = await self._sms.submitted_before(SIMULATED, self._clock.now() - delay, _BATCH)
        outcomes, loopback = [], []
        for message in due:
            delivered, details = self._outcome(message)
            if delivered:
                owned = await self._directory.lookup(message.recipient)
                if owned is not None and not owned.capabilities.sms.inbound:
                    delivered, details = False, "The recipient does not receive SMS."
                elif owned is not None:
                    loopback.append(message)
            outcomes.append((message.id, delivered, details))
        if outcomes:
            await self._sms.complete_many(outcomes)
        for message in loopback:
            await self._sms.inbound(SIMULATED, message.sender, message.recipient, message.text)
        oldest = await self._sms.oldest_submitted(SIMULATED)
        return None if oldest is None else oldest + delay

    async def run(self) -> None:
        """``step`` whenever messages are queued or due, until cancelled."""
        while True:
            self._wake.clear()
            try:
                due = await self.step()
            except Exception:  # the store may be briefly away
                log.exception("simulated carrier step failed")
                due = None
            wait = _POLL if due is None else min(_POLL, max(0.0, due - self._clock.now()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
