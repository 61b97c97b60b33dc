"""What an ESME session tells its owner (``EsmeSession.events()``); plain values, no behaviour::

Bound ─► SubmitAccepted | SubmitFailed (one per submitted message, whatever its part count)
     ─► DeliveryReceipt | MobileOriginated (each to be answered with EsmeSession.ack(token))
     ─► Closed (the connection is over; queued and unanswered messages wait for the next one)
"""

from __future__ import annotations

from dataclasses import dataclass

from telex.telephony.segments import Concat
from telex.telephony.smpp.constants import MessageState
from telex.telephony.smpp.receipt import Receipt

__all__ = [
    "Bound",
    "Closed",
    "DeliveryReceipt",
    "DeliveryToken",
    "Event",
    "MobileOriginated",
    "SubmitAccepted",
    "SubmitFailed",
]


@dataclass(frozen=True, slots=True)
class DeliveryToken:
    """Names one ``deliver_sm`` awaiting our answer on one connection (a reconnect voids it)."""

    connection: int
    sequence: int


@dataclass(frozen=True, slots=True)
class Bound:
    system_id: str  # the SMSC's, from bind_*_resp


@dataclass(frozen=True, slots=True)
class SubmitAccepted:
    """The SMSC accepted every part of the message ``ref``; one SMSC message id per part."""

    ref: str
    message_ids: tuple[str, ...]

    @property
    def message_id(self) -> str:
        return self.message_ids[0]


@dataclass(frozen=True, slots=True)
class SubmitFailed:
    """The message ``ref`` was not accepted. ``retryable``: it may pass if submitted again later
    (throttled or timed out too often, a transient SMSC error); otherwise the SMSC refused it for
    good. ``status`` is the SMPP command_status, when there was one. Parts of a multi-part message
    accepted before the failure may still be delivered."""

    ref: str
    reason: str
    retryable: bool
    status: int | None = None


@dataclass(frozen=True, slots=True)
class DeliveryReceipt:
    token: DeliveryToken
    receipt: Receipt
    source: str  # the handset the message went to
    destination: str  # our number that sent it

    @property
    def message_id(self) -> str:
        return self.receipt.message_id

    @property
    def state(self) -> MessageState:
        return self.receipt.state


@dataclass(frozen=True, slots=True)
class MobileOriginated:
    """An SMS from a handset; ``concat`` is set when it is one part of a longer message."""

    token: DeliveryToken
    source: str
    destination: str
    text: str
    data_coding: int
    concat: Concat | None = None


@dataclass(frozen=True, slots=True)
class Closed:
    """The session left the SMSC. ``retry`` is False when binding again cannot help (bad credentials)."""

    reason: str
    status: int | None = None
    retry: bool = True


Event = Bound | SubmitAccepted | SubmitFailed | DeliveryReceipt | MobileOriginated | Closed
