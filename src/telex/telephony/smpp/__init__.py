"""SMS over SMPP 3.4: the codec (``pdu``), the ESME session (``session``), the asyncio client
(``client``) that drains a durable queue (``queue``) through an SMSC. See docs/sms.md."""

from telex.telephony.smpp.client import DeliveryHandler, SmppClient
from telex.telephony.smpp.constants import CommandStatus, MessageState
from telex.telephony.smpp.events import (
    Bound,
    Closed,
    DeliveryReceipt,
    DeliveryToken,
    Event,
    MobileOriginated,
    SubmitAccepted,
    SubmitFailed,
)
from telex.telephony.smpp.message import ConcatMode, OutboundMessage
from telex.telephony.smpp.pdu import BindKind
from telex.telephony.smpp.queue import InMemorySmsQueue, SmsQueue
from telex.telephony.smpp.receipt import MessageIdFormat, Receipt, normalise_message_id
from telex.telephony.smpp.session import EsmeSession, SessionConfig

__all__ = [
    "BindKind",
    "Bound",
    "Closed",
    "CommandStatus",
    "ConcatMode",
    "DeliveryHandler",
    "DeliveryReceipt",
    "DeliveryToken",
    "EsmeSession",
    "Event",
    "InMemorySmsQueue",
    "MessageIdFormat",
    "MessageState",
    "MobileOriginated",
    "OutboundMessage",
    "Receipt",
    "SessionConfig",
    "SmppClient",
    "SmsQueue",
    "SubmitAccepted",
    "SubmitFailed",
    "normalise_message_id",
]
