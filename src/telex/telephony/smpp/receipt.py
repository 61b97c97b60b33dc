"""Delivery receipts: the ``deliver_sm`` an SMSC sends when a message reached its end state.

The body is a de-facto format (SMPP 3.4 Appendix B), with the TLVs of §5.3.2.12 and §5.3.2.35
preferred when present because they are typed::

    id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text:...
    TLV receipted_message_id (C-string)   TLV message_state (1 octet)   TLV network_error_code (3 octets)

SMSCs vary: some write ``dlr:`` for ``dlvrd:``, dates with seconds (12 digits), upper-case keys, or
no ``text:``. The parser accepts those and reads keys in any order; it refuses (``ProtocolError``)
only a receipt with no message id, which could never be matched to a submission.

Receipts may arrive before the ``submit_sm_resp`` of the message they report on has been read, and
some SMSCs answer ``submit_sm`` with a hex id but report a decimal one (Kannel's ``msg-id-type``):
``normalise_message_id`` gives both a comparable form when the carrier is configured so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from telex.telephony.smpp.constants import CommandStatus, EsmClass, MessageState, Tag
from telex.telephony.smpp.pdu import DeliverSm, ProtocolError

__all__ = ["MessageIdFormat", "Receipt", "is_receipt", "normalise_message_id", "parse_receipt"]

_KEY = re.compile(r"(?i)(?:^|\s)(id|sub|dlvrd|dlr|submit date|done date|stat|err|text):")
# The words of ``stat:`` (Appendix B) and their message_state values.
_STATES = {
    "DELIVRD": MessageState.DELIVERED,
    "EXPIRED": MessageState.EXPIRED,
    "DELETED": MessageState.DELETED,
    "UNDELIV": MessageState.UNDELIVERABLE,
    "ACCEPTD": MessageState.ACCEPTED,
    "UNKNOWN": MessageState.UNKNOWN,
    "REJECTD": MessageState.REJECTED,
    "ENROUTE": MessageState.ENROUTE,
}


@dataclass(frozen=True, slots=True)
class Receipt:
    message_id: str
    state: MessageState
    error: str = ""  # the ``err:`` field: a network or SMSC specific code, "000" when none
    network_error_code: bytes | None = None  # the TLV: network type (1 octet) + code (2 octets)
    submitted: int | None = None  # ``sub:``
    delivered: int | None = None  # ``dlvrd:``
    submit_date: datetime | None = None
    done_date: datetime | None = None
    text: str = ""  # the first characters of the message, as the SMSC quotes them


def is_receipt(pdu: DeliverSm) -> bool:
    """A delivery receipt or an intermediate notification, as opposed to a mobile-originated SMS."""
    kind = pdu.esm_class & EsmClass.TYPE_MASK
    return kind in (EsmClass.DELIVERY_RECEIPT, EsmClass.INTERMEDIATE_NOTIFICATION)


def _fields(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    matches = list(_KEY.finditer(text))
    for index, match in enumerate(matches):
        key = match.group(1).lower()
        if key == "text":  # the quoted text runs to the end and may contain "id:" itself
            values[key] = text[match.end() :]
            break
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        values.setdefault("dlvrd" if key == "dlr" else key, text[match.end() : end].strip())
    return values


def _date(value: str | None) -> datetime | None:
    """``YYMMDDhhmm`` or ``YYMMDDhhmmss``, read as UTC (the SMSC's zone is not on the wire)."""
    if not value or not value.isdigit() or len(value) not in (10, 12):
        return None
    try:
        return datetime.strptime(value, "%y%m%d%H%M%S" if len(value) == 12 else "%y%m%d%H%M").replace(
            tzinfo=UTC
        )
    except ValueError:
        return None


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def parse_receipt(pdu: DeliverSm) -> Receipt:
    """The receipt a ``deliver_sm`` carries; raises ``ProtocolError`` if it names no message."""
    values = _fields(pdu.short_message.decode("latin-1"))
    message_id = values.get("id", "")
    receipted = pdu.tlv(Tag.RECEIPTED_MESSAGE_ID)
    if receipted is not None and receipted.as_cstring():
        message_id = receipted.as_cstring()
    if not message_id:
        raise ProtocolError(
            "delivery receipt without a message id",
            status=CommandStatus.ESME_RX_P_APPN,
            sequence=pdu.sequence,
            command_id=pdu.command_id,
        )
    state = _STATES.get(values.get("stat", "").upper(), MessageState.UNKNOWN)
    state_tlv = pdu.tlv(Tag.MESSAGE_STATE)
    if state_tlv is not None and state_tlv.as_uint() in MessageState._value2member_map_:
        state = MessageState(state_tlv.as_uint())
    network_error = pdu.tlv(Tag.NETWORK_ERROR_CODE)
    return Receipt(
        message_id=message_id,
        state=state,
        error=values.get("err", ""),
        network_error_code=network_error.value if network_error is not None else None,
        submitted=_int(values.get("sub")),
        delivered=_int(values.get("dlvrd")),
        submit_date=_date(values.get("submit date")),
        done_date=_date(values.get("done date")),
        text=values.get("text", ""),
    )


class MessageIdFormat(StrEnum):
    """How a carrier writes message ids, when its receipts and responses disagree."""

    AS_IS = "as-is"
    HEX = "hex"  # the id is a hexadecimal number
    DECIMAL = "decimal"


def normalise_message_id(message_id: str, written_as: MessageIdFormat) -> str:
    """A canonical (decimal, no leading zeros) form of a numeric id, to match receipts to submits.

    ``AS_IS``, or an id that is not a number in the stated base, comes back unchanged.
    """
    if written_as is MessageIdFormat.AS_IS:
        return message_id
    try:
        return str(int(message_id, 16 if written_as is MessageIdFormat.HEX else 10))
    except ValueError:
        return message_id
