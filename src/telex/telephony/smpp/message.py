"""From an SMS to ``submit_sm`` PDUs and from a ``deliver_sm`` back to text, sans-I/O.

    OutboundMessage ─► segment() ─► one part ─────────────► submit_sm(short_message)
                                └► several parts, by ConcatMode:
                                     UDH      submit_sm(esm_class UDHI, 05 00 03 ref n i + part) × n
                                     SAR      submit_sm(part, TLVs sar_msg_ref_num/total/seqnum) × n
                                     PAYLOAD  submit_sm(sm_length 0, TLV message_payload = whole text)
    deliver_sm ─► decode_mo() ─► text + Concat (from the UDH or the SAR TLVs) when it is one part of many

Addresses: an E.164 number goes out as TON 1 (international) / NPI 1 (ISDN) without its ``+``
(SMPP 3.4 §5.2.5-6), a short code as TON 3 (network specific), an alphanumeric sender as TON 5.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from telex.telephony.segments import (
    Concat,
    concat_udh,
    decode_gsm7,
    decode_ucs2,
    parse_udh,
    segment,
)
from telex.telephony.smpp.constants import EsmClass, Tag
from telex.telephony.smpp.pdu import DeliverSm, SubmitSm, Tlv

__all__ = [
    "MAX_PARTS",
    "Address",
    "ConcatMode",
    "OutboundMessage",
    "build_submits",
    "decode_mo",
    "decode_text",
    "from_smpp_address",
    "to_smpp_address",
]

MAX_PARTS = 255  # the concatenation header counts parts in one octet
_MAX_PAYLOAD = 0xFFFF
_MAX_ADDRESS = 20  # source_addr and destination_addr are C-octet strings of 21 octets (§5.2.8-9)


class ConcatMode(StrEnum):
    """How a message longer than one SMS reaches the SMSC; carriers support different ones."""

    UDH = "udh"  # we cut it; each part carries a concatenation header (the most widely accepted)
    SAR = "sar"  # we cut it; each part carries the SAR TLVs and the SMSC builds the header
    PAYLOAD = "payload"  # one submit_sm with the whole text in message_payload; the SMSC cuts it


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One SMS to send. ``ref`` is the caller's id for it, echoed in the session's events."""

    ref: str
    source: str  # "+14255550100", a short code "12345", or an alphanumeric sender "Contoso"
    destination: str
    text: str
    delivery_report: bool = True


@dataclass(frozen=True, slots=True)
class Address:
    ton: int
    npi: int
    value: str


def to_smpp_address(address: str) -> Address:
    """The SMPP form of an E.164 number, a short code or an alphanumeric sender id."""
    if address.startswith("+") and address[1:].isdigit():
        return Address(1, 1, address[1:])
    if address.isdigit():
        return Address(3 if len(address) <= 8 else 0, 1 if len(address) > 8 else 0, address)
    return Address(5, 0, address)


def from_smpp_address(ton: int, npi: int, value: str) -> str:
    """An address from a ``deliver_sm``: international numbers get their ``+`` back."""
    if ton == 1 and value.isdigit():
        return "+" + value
    return value


def build_submits(
    message: OutboundMessage,
    *,
    concat: ConcatMode = ConcatMode.UDH,
    ref: int = 0,
    service_type: str = "",
) -> list[SubmitSm]:
    """The ``submit_sm`` PDUs (``sequence`` 0, set when sent) that carry ``message``.

    ``ref`` is the concatenation reference (the low 8 bits in a UDH, 16 bits in SAR). Raises
    ``ValueError`` for a message SMPP cannot carry (more than 255 parts, or addresses too long).
    """
    segments = segment(message.text)
    payloads = segments.payloads()
    source, destination = to_smpp_address(message.source), to_smpp_address(message.destination)
    template = SubmitSm(
        sequence=0,
        service_type=service_type,
        source_addr_ton=source.ton,
        source_addr_npi=source.npi,
        source_addr=source.value,
        dest_addr_ton=destination.ton,
        dest_addr_npi=destination.npi,
        destination_addr=destination.value,
        registered_delivery=1 if message.delivery_report else 0,
        data_coding=segments.data_coding,
    )
    for name, address in (("source_addr", source), ("destination_addr", destination)):
        if len(address.value) > _MAX_ADDRESS or not address.value.isascii():
            raise ValueError(f"{name} is at most {_MAX_ADDRESS} ASCII characters")
    total = len(payloads)
    if total == 1:
        return [replace(template, short_message=payloads[0])]
    if concat is ConcatMode.PAYLOAD:
        whole = b"".join(payloads)
        if len(whole) > _MAX_PAYLOAD:
            raise ValueError("message_payload holds at most 65535 octets")
        return [replace(template, tlvs=(Tlv(Tag.MESSAGE_PAYLOAD, whole),))]
    if total > MAX_PARTS:
        raise ValueError(f"a message of {total} parts is longer than concatenation allows ({MAX_PARTS})")
    if concat is ConcatMode.UDH:
        return [
            replace(
                template, esm_class=EsmClass.UDHI, short_message=concat_udh(ref & 0xFF, total, seq) + payload
            )
            for seq, payload in enumerate(payloads, start=1)
        ]
    return [
        replace(
            template,
            short_message=payload,
            tlvs=(
                Tlv.uint(Tag.SAR_MSG_REF_NUM, ref & 0xFFFF, 2),
                Tlv.uint(Tag.SAR_TOTAL_SEGMENTS, total, 1),
                Tlv.uint(Tag.SAR_SEGMENT_SEQNUM, seq, 1),
            ),
        )
        for seq, payload in enumerate(payloads, start=1)
    ]


def decode_text(data: bytes, data_coding: int) -> str:
    """Text from user data in the given ``data_coding`` (SMPP 3.4 §5.2.19); never raises.

    0 is the SMSC default alphabet, read as unpacked GSM-7; 1 IA5 (ASCII); 3 Latin-1; 8 UCS-2;
    0xF0-0xFF the message-class group (bit 2 set: 8-bit data). Binary and unknown codings are read
    as Latin-1 so that no octet is lost.
    """
    if data_coding == 0 or (data_coding & 0xF0 == 0xF0 and not data_coding & 0x04):
        return decode_gsm7(data)
    if data_coding == 8:
        return decode_ucs2(data)
    if data_coding == 1:
        return data.decode("ascii", "replace")
    return data.decode("latin-1")


def decode_mo(pdu: DeliverSm) -> tuple[str, Concat | None]:
    """The text of a mobile-originated ``deliver_sm`` and, if it is one part of several, where it sits.

    The text comes from ``short_message``, or from ``message_payload`` when the SMSC used that;
    a user data header that does not parse is kept as part of the text rather than refused.
    """
    data = pdu.short_message
    payload = pdu.tlv(Tag.MESSAGE_PAYLOAD)
    if not data and payload is not None:
        data = payload.value
    concat: Concat | None = None
    if pdu.esm_class & EsmClass.UDHI and data:
        try:
            concat, data = parse_udh(data)
        except ValueError:
            concat = None
    ref, total, seq = (
        pdu.tlv(tag) for tag in (Tag.SAR_MSG_REF_NUM, Tag.SAR_TOTAL_SEGMENTS, Tag.SAR_SEGMENT_SEQNUM)
    )
    if (
        concat is None
        and ref is not None
        and total is not None
        and seq is not None
        and 1 <= seq.as_uint() <= total.as_uint()
    ):
        concat = Concat(ref.as_uint(), total.as_uint(), seq.as_uint())
    return decode_text(data, pdu.data_coding), concat
