"""Receipts, addresses, and how a message becomes submit_sm PDUs (and a deliver_sm text)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telex.telephony.segments import Concat, concat_udh, decode_gsm7, encode_gsm7, parse_udh
from telex.telephony.smpp.constants import CommandStatus, MessageState, Tag
from telex.telephony.smpp.message import (
    ConcatMode,
    OutboundMessage,
    build_submits,
    decode_mo,
    decode_text,
    from_smpp_address,
    to_smpp_address,
)
from telex.telephony.smpp.pdu import DeliverSm, ProtocolError, Tlv
from telex.telephony.smpp.receipt import MessageIdFormat, is_receipt, normalise_message_id, parse_receipt

# -- receipts --------------------------------------------------------------------------------------


def receipt(text: str, *tlvs: Tlv, esm_class: int = 0x04) -> DeliverSm:
    return DeliverSm(sequence=1, esm_class=esm_class, short_message=text.encode("latin-1"), tlvs=tlvs)


def test_appendix_b_receipt() -> None:
    pdu = receipt(
        "id:0123456789 sub:001 dlvrd:001 submit date:2612041405 done date:2612041406 "
        "stat:DELIVRD err:000 text:Your code is 123456"
    )
    assert is_receipt(pdu)
    parsed = parse_receipt(pdu)
    assert parsed.message_id == "0123456789"
    assert parsed.state is MessageState.DELIVERED
    assert (parsed.submitted, parsed.delivered, parsed.error) == (1, 1, "000")
    assert parsed.submit_date == datetime(2026, 12, 4, 14, 5, tzinfo=UTC)
    assert parsed.done_date == datetime(2026, 12, 4, 14, 6, tzinfo=UTC)
    assert parsed.text == "Your code is 123456"


@pytest.mark.parametrize(
    ("text", "state"),
    [
        ("id:7 sub:001 dlr:000 submit date:2612041405 done date:2612041405 stat:UNDELIV err:001 text:x", 5),
        ("ID:7 SUB:001 DLVRD:000 SUBMIT DATE:261204140501 DONE DATE:261204140502 STAT:EXPIRED ERR:0", 3),
        ("stat:REJECTD id:7 err:069", 8),  # any order
        ("id:7 stat:ENROUTE", 1),
        ("id:7 stat:ACCEPTD", 6),
        ("id:7 stat:DELETED", 4),
        ("id:7 stat:SOMETHING", 7),  # an unknown word: UNKNOWN
        ("id:7 text:id:99 stat:DELIVRD", 7),  # the quoted text may look like fields
    ],
)
def test_receipt_variants(text: str, state: int) -> None:
    parsed = parse_receipt(receipt(text))
    assert parsed.message_id == "7"
    assert parsed.state == state


def test_tlvs_win_over_text() -> None:
    pdu = receipt(
        "id:1A stat:DELIVRD",
        Tlv.cstring(Tag.RECEIPTED_MESSAGE_ID, "26"),
        Tlv.uint(Tag.MESSAGE_STATE, 5, 1),
        Tlv(Tag.NETWORK_ERROR_CODE, b"\x03\x00\x01"),
    )
    parsed = parse_receipt(pdu)
    assert (parsed.message_id, parsed.state, parsed.network_error_code) == (
        "26",
        MessageState.UNDELIVERABLE,
        b"\3\0\1",
    )
    # a message_state out of range is ignored in favour of the text
    assert (
        parse_receipt(receipt("id:1 stat:DELIVRD", Tlv.uint(Tag.MESSAGE_STATE, 99, 1))).state
        is MessageState.DELIVERED
    )


def test_receipt_without_id_is_refused() -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_receipt(receipt("sub:001 stat:DELIVRD"))
    assert caught.value.status == CommandStatus.ESME_RX_P_APPN


def test_bad_dates_are_none() -> None:
    parsed = parse_receipt(receipt("id:1 submit date:2613991405 done date:12 stat:DELIVRD"))
    assert parsed.submit_date is None and parsed.done_date is None


def test_message_types() -> None:
    assert is_receipt(receipt("", esm_class=0x04))
    assert is_receipt(receipt("", esm_class=0x20))  # intermediate notification
    assert not is_receipt(receipt("", esm_class=0x00))
    assert not is_receipt(receipt("", esm_class=0x40))  # a UDH, not a receipt
    assert MessageState.DELIVERED.final and not MessageState.ENROUTE.final


def test_normalise_message_id() -> None:
    assert normalise_message_id("0000001A", MessageIdFormat.HEX) == "26"
    assert normalise_message_id("026", MessageIdFormat.DECIMAL) == "26"
    assert normalise_message_id("abc-1", MessageIdFormat.DECIMAL) == "abc-1"
    assert normalise_message_id("0001", MessageIdFormat.AS_IS) == "0001"


@given(
    st.binary(max_size=200),
    st.lists(st.builds(Tlv, st.sampled_from([0x1E, 0x427, 0x423]), st.binary(max_size=4))),
)
def test_parse_receipt_raises_only_protocol_error(text: bytes, tlvs: list[Tlv]) -> None:
    with contextlib.suppress(ProtocolError):
        parse_receipt(DeliverSm(sequence=1, esm_class=4, short_message=text, tlvs=tuple(tlvs)))


# -- addresses -------------------------------------------------------------------------------------


def test_addresses() -> None:
    assert to_smpp_address("+14255550100") == (a := to_smpp_address("+14255550100"))
    assert (a.ton, a.npi, a.value) == (1, 1, "14255550100")
    short = to_smpp_address("12345")
    assert (short.ton, short.npi) == (3, 0)
    alpha = to_smpp_address("Contoso")
    assert (alpha.ton, alpha.npi, alpha.value) == (5, 0, "Contoso")
    assert from_smpp_address(1, 1, "14255550100") == "+14255550100"
    assert from_smpp_address(0, 1, "14255550100") == "14255550100"
    assert from_smpp_address(5, 0, "Contoso") == "Contoso"


# -- submit_sm building ----------------------------------------------------------------------------

LONG_GSM = ("Price: 10€ [promo] {code} ~50% off | see \\terms^ " * 7)[:300]


def message(text: str, **kwargs: object) -> OutboundMessage:
    return OutboundMessage("m1", "+14255550100", "+14255550123", text, **kwargs)  # type: ignore[arg-type]


def test_single_part() -> None:
    (pdu,) = build_submits(message("Hello"), service_type="CMT")
    assert (pdu.short_message, pdu.data_coding, pdu.esm_class, pdu.registered_delivery) == (b"Hello", 0, 0, 1)
    assert (pdu.source_addr, pdu.source_addr_ton, pdu.destination_addr, pdu.service_type) == (
        "14255550100",
        1,
        "14255550123",
        "CMT",
    )
    (quiet,) = build_submits(message("Hello", delivery_report=False))
    assert quiet.registered_delivery == 0
    (ucs2,) = build_submits(message("Hola 👋"))
    assert (ucs2.data_coding, ucs2.short_message) == (8, "Hola 👋".encode("utf-16-be"))


def test_udh_concatenation_keeps_escape_pairs_whole() -> None:
    pdus = build_submits(message(LONG_GSM), ref=0x1A2)
    assert len(pdus) == 3
    texts = []
    for seq, pdu in enumerate(pdus, start=1):
        assert pdu.esm_class == 0x40 and pdu.data_coding == 0
        concat, body = parse_udh(pdu.short_message)
        assert concat == Concat(0xA2, 3, seq)  # the low 8 bits of the reference
        assert len(body) <= 153 and not body.endswith(b"\x1b")
        texts.append(decode_gsm7(body))
    assert "".join(texts) == LONG_GSM
    assert sum(len(encode_gsm7(t)) for t in texts) == len(encode_gsm7(LONG_GSM))


def test_sar_concatenation() -> None:
    pdus = build_submits(message("Ж" * 100), concat=ConcatMode.SAR, ref=0x1234)
    assert len(pdus) == 2
    for seq, pdu in enumerate(pdus, start=1):
        assert pdu.esm_class == 0 and pdu.data_coding == 8
        assert [t.as_uint() for t in pdu.tlvs] == [0x1234, 2, seq]
        assert [t.tag for t in pdu.tlvs] == [
            Tag.SAR_MSG_REF_NUM,
            Tag.SAR_TOTAL_SEGMENTS,
            Tag.SAR_SEGMENT_SEQNUM,
        ]
    assert b"".join(p.short_message for p in pdus).decode("utf-16-be") == "Ж" * 100


def test_payload_mode() -> None:
    (pdu,) = build_submits(message("x" * 500), concat=ConcatMode.PAYLOAD)
    assert pdu.short_message == b""
    assert pdu.tlv(Tag.MESSAGE_PAYLOAD) == Tlv(Tag.MESSAGE_PAYLOAD, b"x" * 500)


def test_limits() -> None:
    with pytest.raises(ValueError, match="255"):
        build_submits(message("x" * 153 * 256))
    with pytest.raises(ValueError, match="source_addr"):
        build_submits(OutboundMessage("m", "A" * 21, "+14255550123", "hi"))
    with pytest.raises(ValueError, match="65535"):
        build_submits(message("Ж" * 40000), concat=ConcatMode.PAYLOAD)


# -- deliver_sm to text ----------------------------------------------------------------------------


def test_decode_mo() -> None:
    plain = DeliverSm(sequence=1, short_message=b"STOP")
    assert decode_mo(plain) == ("STOP", None)
    udh = DeliverSm(sequence=1, esm_class=0x40, short_message=concat_udh(7, 2, 2) + b"tail")
    assert decode_mo(udh) == ("tail", Concat(7, 2, 2))
    sar = DeliverSm(
        sequence=1,
        data_coding=8,
        short_message="Ж".encode("utf-16-be"),
        tlvs=(
            Tlv.uint(Tag.SAR_MSG_REF_NUM, 9, 2),
            Tlv.uint(Tag.SAR_TOTAL_SEGMENTS, 3, 1),
            Tlv.uint(Tag.SAR_SEGMENT_SEQNUM, 1, 1),
        ),
    )
    assert decode_mo(sar) == ("Ж", Concat(9, 3, 1))
    payload = DeliverSm(sequence=1, tlvs=(Tlv(Tag.MESSAGE_PAYLOAD, b"long"),))
    assert decode_mo(payload) == ("long", None)
    broken_udh = DeliverSm(sequence=1, esm_class=0x40, short_message=b"\x09AB")
    assert decode_mo(broken_udh) == ("\x09AB".replace("\x09", "Ç"), None)  # kept as text


@pytest.mark.parametrize(
    ("data", "coding", "text"),
    [
        (b"\x00\x01", 0, "@£"),
        (b"caf\xe9", 3, "café"),
        (b"abc", 1, "abc"),
        ("ü".encode("utf-16-be"), 8, "ü"),
        (b"\x00", 0xF0, "@"),  # message class group, GSM-7
        (b"\xe9", 0xF4, "é"),  # message class group, 8-bit
        (b"\xe9", 4, "é"),  # binary: kept as Latin-1
    ],
)
def test_decode_text(data: bytes, coding: int, text: str) -> None:
    assert decode_text(data, coding) == text


@given(st.binary(max_size=160), st.integers(0, 255), st.integers(0, 255))
def test_decode_mo_never_raises(data: bytes, coding: int, esm_class: int) -> None:
    decode_mo(DeliverSm(sequence=1, esm_class=esm_class, data_coding=coding, short_message=data))
