"""A carrier reached over SMPP 3.4: the merged ``SmppClient`` draining the SMS outbox.

    SmsService outbox (queued rows of this carrier) ◄── SqlSmsQueue.pending: claim for this node
        SmppClient ──submit_sm──► SMSC ──submit_sm_resp──► mark_submitted (carrier ids recorded)
                                       ──deliver_sm receipt──► SmsService.receipt (per part)
                                       ──deliver_sm MO──► SmsService.inbound (parts joined in the store)

Nothing accepted is lost: a message is a row before the API answers 202, and leaves ``queued``
only when the SMSC acknowledged or refused it; receipts and inbound messages are acknowledged to
the SMSC only after they are stored (``SmppClient``). A receipt may overtake the answer to its
submission: the SMS service keeps it until the part is recorded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from telex.carriers.settings import SmppCarrierSettings
from telex.core.clock import Clock
from telex.sms.service import SmsService
from telex.telephony.numbers import is_e164
from telex.telephony.smpp import (
    BindKind,
    ConcatMode,
    DeliveryReceipt,
    MessageIdFormat,
    MessageState,
    MobileOriginated,
    OutboundMessage,
    SessionConfig,
    SmppClient,
    normalise_message_id,
)
from telex.telephony.smpp.client import DeliveryHandler

__all__ = ["SmppCarrier", "SqlSmsQueue"]

log = logging.getLogger(__name__)


def _address(value: str) -> str:
    """An address from a deliver_sm as E.164 when it is one (some SMSCs drop TON 1)."""
    if value.isdigit() and is_e164("+" + value):
        return "+" + value
    return value


class SqlSmsQueue:
    """``SmsQueue`` over the SMS service's outbox, for one carrier on one node."""

    def __init__(self, sms: SmsService, carrier: str, node: str, lease: float, ids: MessageIdFormat) -> None:
        self._sms, self._carrier, self._node, self._lease, self._ids = sms, carrier, node, lease, ids

    def normalise(self, message_id: str) -> str:
        return normalise_message_id(message_id, self._ids)

    async def pending(self, limit: int) -> Sequence[OutboundMessage]:
        claimed = await self._sms.claim(self._carrier, self._node, limit, self._lease)
        return [OutboundMessage(m.id, m.sender, m.recipient, m.text, m.delivery_report) for m in claimed]

    async def mark_submitted(self, id: str, smsc_message_ids: Sequence[str]) -> None:
        await self._sms.submitted(self._carrier, id, [self.normalise(i) for i in smsc_message_ids])

    async def mark_failed(self, id: str, reason: str) -> None:
        await self._sms.refused(self._carrier, id, reason)


class SmppCarrier:
    def __init__(self, settings: SmppCarrierSettings, sms: SmsService, clock: Clock, node: str) -> None:
        self.name = settings.name
        self.settings = settings
        self._sms = sms
        self._stopping = False
        self.queue = SqlSmsQueue(
            sms, settings.name, node, settings.claim_seconds, MessageIdFormat(settings.message_id_format)
        )
        config = SessionConfig(
            system_id=settings.system_id,
            password=settings.secret(),
            system_type=settings.system_type,
            bind=BindKind.TRANSCEIVER if settings.bind == "transceiver" else BindKind.TRANSMITTER,
            window=settings.window,
            response_timeout=settings.response_timeout,
            enquire_link_interval=settings.enquire_link_interval,
            throttle_backoff=settings.throttle_backoff,
            throttle_backoff_max=max(settings.throttle_backoff_max, settings.throttle_backoff),
            concat=ConcatMode(settings.concat),
        )
        handler: DeliveryHandler = self._on_delivery
        self.client = SmppClient(
            settings.host, settings.port, config, self.queue, handler, clock=clock,
            poll_interval=settings.poll_seconds, reconnect_delay=settings.reconnect_delay,
            reconnect_max=max(settings.reconnect_max, settings.reconnect_delay),
            max_attempts=settings.max_attempts,
        )  # fmt: skip

    def notify(self) -> None:
        self.client.notify()

    async def run(self) -> None:
        """Keep the client running: a store that fails under it (the outbox unreadable for a
        moment) ends one run, not SMS on this node; the client reconnects and resends."""
        while not self._stopping:
            try:
                await self.client.run()
            except Exception:
                log.exception("SMPP carrier %s failed; restarting", self.name)
                await asyncio.sleep(self.settings.reconnect_delay)

    async def stop(self) -> None:
        self._stopping = True
        await self.client.stop()

    async def _on_delivery(self, event: DeliveryReceipt | MobileOriginated) -> None:
        if isinstance(event, DeliveryReceipt):
            state = event.state
            if not state.final:
                return  # enroute / accepted: an intermediate notification
            delivered = state is MessageState.DELIVERED
            details = (
                "No error." if delivered else f"{state.name.title()} (err {event.receipt.error or '000'})."
            )
            await self._sms.receipt(self.name, self.queue.normalise(event.message_id), delivered, details)
            return
        part = None
        if event.concat is not None:
            part = (event.concat.ref, event.concat.total, event.concat.seq)
        source, destination = _address(event.source), _address(event.destination)
        await self._sms.inbound(self.name, source, destination, event.text, part)
