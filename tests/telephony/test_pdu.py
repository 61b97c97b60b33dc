"""The SMPP 3.4 codec: byte vectors written from the spec's layouts, round trips, and fuzzing."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telex.telephony.smpp.constants import CommandStatus, Tag, status_name
from telex.telephony.smpp.pdu import (
    HEADER,
    MAX_PDU_LENGTH,
    Bind,
    BindKind,
    BindResp,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    Framer,
    GenericNack,
    Pdu,
    ProtocolError,
    SubmitSm,
    SubmitSmResp,
    Tlv,
    Unbind,
    UnbindResp,
    decode,
    encode,
)


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


# (PDU, its bytes): header = command_length command_id command_status sequence_number (§3.2)
VECTORS: list[tuple[Pdu, bytes]] = [
    (
        Bind(kind=BindKind.TRANSCEIVER, sequence=1, system_id="acs", password="secret"),
        h("00000020 00000009 00000000 00000001" + "61637300 73656372657400 00 34 00 00 00"),
    ),
    (
        Bind(kind=BindKind.RECEIVER, sequence=2, system_id="a", system_type="VMS", addr_ton=1, addr_npi=1),
        h("0000001b 00000001 00000000 00000002" + "6100 00 564d5300 34 01 01 00"),
    ),
    (
        Bind(kind=BindKind.TRANSMITTER, sequence=3, system_id="a", address_range="^1"),
        h("0000001a 00000002 00000000 00000003" + "6100 00 00 34 00 00 5e3100"),
    ),
    (
        BindResp(
            kind=BindKind.TRANSCEIVER,
            sequence=1,
            system_id="SMSC",
            tlvs=(Tlv(Tag.SC_INTERFACE_VERSION, b"\x34"),),
        ),
        h("0000001a 80000009 00000000 00000001" + "534d534300" + "0210 0001 34"),
    ),
    (BindResp(kind=BindKind.RECEIVER, sequence=9, status=0x0E), h("00000011 80000001 0000000e 00000009 00")),
    (EnquireLink(sequence=7), h("00000010 00000015 00000000 00000007")),
    (EnquireLinkResp(sequence=7), h("00000010 80000015 00000000 00000007")),
    (Unbind(sequence=8), h("00000010 00000006 00000000 00000008")),
    (UnbindResp(sequence=8), h("00000010 80000006 00000000 00000008")),
    (GenericNack(sequence=3, status=3), h("00000010 80000000 00000003 00000003")),
    (SubmitSmResp(sequence=2, message_id="A1"), h("00000013 80000004 00000000 00000002 413100")),
    (DeliverSmResp(sequence=5), h("00000011 80000005 00000000 00000005 00")),
    (
        SubmitSm(
            sequence=4,
            source_addr_ton=1,
            source_addr_npi=1,
            source_addr="1425",
            dest_addr_ton=1,
            dest_addr_npi=1,
            destination_addr="1555",
            esm_class=0x40,
            registered_delivery=1,
            data_coding=8,
            short_message=h("0500032a0201") + "Hi".encode("utf-16-be"),
            tlvs=(Tlv.uint(Tag.SAR_MSG_REF_NUM, 0x2A, 2), Tlv.uint(Tag.SAR_TOTAL_SEGMENTS, 2, 1)),
        ),
        h(
            "0000003e 00000004 00000000 00000004"
            "00"  # service_type
            "01 01 3134323500"  # source
            "01 01 3135353500"  # destination
            "40 00 00"  # esm_class protocol_id priority_flag
            "00 00"  # schedule_delivery_time validity_period
            "01 00 08 00"  # registered_delivery replace_if_present data_coding sm_default_msg_id
            "0a 0500032a0201 00480069"  # sm_length short_message
            "020c 0002 002a"
            "020e 0001 02"
        ),
    ),
]


@pytest.mark.parametrize(
    ("pdu", "wire"), VECTORS, ids=lambda v: type(v).__name__ if not isinstance(v, bytes) else ""
)
def test_vectors(pdu: Pdu, wire: bytes) -> None:
    assert encode(pdu) == wire
    assert decode(wire) == pdu
    (length,) = struct.unpack("!I", wire[:4])
    assert length == len(wire)


def test_deliver_sm_receipt_tlvs() -> None:
    pdu = DeliverSm(
        sequence=1,
        esm_class=0x04,
        short_message=b"id:1 stat:DELIVRD",
        tlvs=(Tlv.cstring(Tag.RECEIPTED_MESSAGE_ID, "1"), Tlv.uint(Tag.MESSAGE_STATE, 2, 1)),
    )
    back = decode(encode(pdu))
    assert isinstance(back, DeliverSm)
    assert back.tlv(Tag.RECEIPTED_MESSAGE_ID) == Tlv(Tag.RECEIPTED_MESSAGE_ID, b"1\0")
    assert back.tlv(Tag.RECEIPTED_MESSAGE_ID).as_cstring() == "1"  # type: ignore[union-attr]
    assert back.tlv(Tag.MESSAGE_STATE).as_uint() == 2  # type: ignore[union-attr]
    assert back.tlv(Tag.MESSAGE_PAYLOAD) is None
    assert Tlv(Tag.RECEIPTED_MESSAGE_ID, b"77").as_cstring() == "77"  # an SMSC that leaves out the NUL


def test_failed_responses_may_have_no_body() -> None:
    # §4.4.2: no message_id when command_status is non-zero; many SMSCs send only the header
    assert decode(HEADER.pack(16, 0x80000004, 0x58, 3)) == SubmitSmResp(sequence=3, status=0x58)
    assert decode(HEADER.pack(16, 0x80000009, 0x0E, 1)) == BindResp(sequence=1, status=0x0E)


def test_message_payload_up_to_64k() -> None:
    pdu = SubmitSm(sequence=1, tlvs=(Tlv(Tag.MESSAGE_PAYLOAD, b"x" * 65535),))
    assert decode(encode(pdu)) == pdu


@pytest.mark.parametrize(
    "pdu",
    [
        Bind(sequence=1, system_id="x" * 16),  # 15 octets + NUL at most
        Bind(sequence=1, system_id="acs", password="123456789"),  # 8 + NUL
        SubmitSm(sequence=1, destination_addr="1" * 21),
        SubmitSm(sequence=1, source_addr="é"),  # C-octet strings are ASCII
        SubmitSm(sequence=1, source_addr="a\0b"),
        SubmitSm(sequence=1, short_message=b"x" * 255),
        SubmitSm(sequence=1, esm_class=256),
        SubmitSmResp(sequence=1, message_id="x" * 65),
        EnquireLink(sequence=-1),
        EnquireLink(sequence=2**32),
        GenericNack(sequence=1, status=2**32),
        SubmitSm(sequence=1, tlvs=(Tlv(0x10000, b""),)),
        SubmitSm(sequence=1, tlvs=(Tlv(Tag.MESSAGE_PAYLOAD, b"x" * 65536),)),
        SubmitSm(
            sequence=1, tlvs=(Tlv(Tag.MESSAGE_PAYLOAD, b"x" * 60000), Tlv(Tag.MESSAGE_PAYLOAD, b"x" * 20000))
        ),
    ],
)
def test_encode_refuses_what_smpp_cannot_carry(pdu: Pdu) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        encode(pdu)


@pytest.mark.parametrize(
    ("wire", "status", "fatal"),
    [
        (h("0000000f 00000015 00000000 00000001"), CommandStatus.ESME_RINVCMDLEN, True),  # length < 16
        (h("00000011 00000015 00000000 00000001"), CommandStatus.ESME_RINVCMDLEN, True),  # length > frame
        (
            h("00000011 00000015 00000000 00000001 00"),
            CommandStatus.ESME_RINVCMDLEN,
            False,
        ),  # body on enquire_link
        (h("00000010 00000103 00000000 00000001"), CommandStatus.ESME_RINVCMDID, False),  # data_sm: not ours
        (h("00000014 00000009 00000000 00000001 61636373"), CommandStatus.ESME_RINVCMDLEN, False),  # no NUL
        (
            h("00000020 00000009 00000000 00000001" + "78" * 16),
            CommandStatus.ESME_RINVCMDLEN,
            False,
        ),  # too long
        (h("00000013 80000004 00000000 00000002 413100") + b"", None, None),  # valid: control
        (h("00000016 80000004 00000000 00000002 413100 0210 00"), CommandStatus.ESME_RINVOPTPARSTREAM, False),
        (
            h("00000018 80000004 00000000 00000002 413100 0210 0002 34"),
            CommandStatus.ESME_RINVOPTPARSTREAM,
            False,
        ),
        (
            h("00000019 80000004 00000000 00000002 413100 0210 0002 3434"),
            CommandStatus.ESME_RINVPARLEN,
            False,
        ),
    ],
)
def test_decode_errors(wire: bytes, status: int | None, fatal: bool | None) -> None:
    if status is None:
        decode(wire)
        return
    with pytest.raises(ProtocolError) as caught:
        decode(wire)
    assert caught.value.status == status
    assert caught.value.fatal is fatal
    if not fatal:
        assert caught.value.sequence is not None


def test_short_message_running_past_the_pdu() -> None:
    good = encode(SubmitSm(sequence=1, short_message=b"abc"))
    broken = bytearray(good)
    broken[-4] = 200  # sm_length
    with pytest.raises(ProtocolError) as caught:
        decode(bytes(broken))
    assert caught.value.status == CommandStatus.ESME_RINVMSGLEN


def test_framer_reassembles_any_split_and_bounds_length() -> None:
    wire = b"".join(encode(p) for p, _ in VECTORS)
    for cut in range(len(wire) + 1):
        framer = Framer()
        frames = framer.feed(wire[:cut]) + framer.feed(wire[cut:])
        assert [decode(f) for f in frames] == [p for p, _ in VECTORS]
        assert framer.buffered == 0
    framer = Framer(max_length=100)
    assert framer.feed(h("000000")) == []
    with pytest.raises(ProtocolError) as caught:
        framer.feed(h("65"))  # command_length 101 > 100: refused before buffering its body
    assert caught.value.fatal
    with pytest.raises(ProtocolError):
        Framer().feed(struct.pack("!I", MAX_PDU_LENGTH + 1))
    with pytest.raises(ProtocolError):
        Framer().feed(struct.pack("!I", 15))


def test_status_names() -> None:
    assert status_name(0x58) == "ESME_RTHROTTLED (0x58)"
    assert status_name(0x400) == "0x00000400"


# -- properties and fuzzing ------------------------------------------------------------------------

ascii_text = st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=127), max_size=20)
octet = st.integers(0, 255)
tlvs = st.lists(
    st.one_of(
        st.builds(Tlv, st.integers(0x1400, 0x3FFF), st.binary(max_size=40)),  # vendor tags: any size
        st.builds(lambda v: Tlv.uint(Tag.SAR_MSG_REF_NUM, v, 2), st.integers(0, 0xFFFF)),
        st.builds(lambda v: Tlv.uint(Tag.MESSAGE_STATE, v, 1), octet),
        st.builds(lambda v: Tlv(Tag.MESSAGE_PAYLOAD, v), st.binary(max_size=300)),
    ),
    max_size=4,
).map(tuple)


def short_messages(cls: type[SubmitSm] | type[DeliverSm]) -> st.SearchStrategy[SubmitSm | DeliverSm]:
    return st.builds(
        cls,
        sequence=st.integers(0, 2**32 - 1),
        service_type=st.text(alphabet="ABCXYZ", max_size=5),
        source_addr_ton=octet,
        source_addr=st.text(alphabet="0123456789", max_size=20),
        destination_addr=st.text(alphabet="0123456789", max_size=20),
        esm_class=octet,
        data_coding=octet,
        registered_delivery=octet,
        schedule_delivery_time=st.sampled_from(["", "000001000000000R"]),
        short_message=st.binary(max_size=254),
        tlvs=tlvs,
    )


pdus = st.one_of(
    short_messages(SubmitSm),
    short_messages(DeliverSm),
    st.builds(
        Bind,
        kind=st.sampled_from(BindKind),
        sequence=st.integers(1, 0x7FFFFFFF),
        system_id=ascii_text.filter(lambda s: len(s) <= 15),
        password=st.text(alphabet="abc123", max_size=8),
        interface_version=octet,
    ),
    st.builds(
        BindResp,
        kind=st.sampled_from(BindKind),
        sequence=st.integers(1, 99),
        system_id=ascii_text.filter(lambda s: len(s) <= 15),
    ),
    st.builds(
        SubmitSmResp, sequence=st.integers(1, 99), status=st.integers(0, 0xFFFF), message_id=ascii_text
    ),
    st.builds(GenericNack, sequence=st.integers(0, 99), status=st.integers(0, 0xFF)),
    st.builds(EnquireLink, sequence=st.integers(1, 99)),
)


@settings(max_examples=300)
@given(pdus)
def test_round_trip(pdu: Pdu) -> None:
    wire = encode(pdu)
    assert decode(wire) == pdu


@settings(max_examples=500)
@given(st.binary(min_size=16, max_size=300))
def test_fuzz_decode_raises_only_protocol_error(data: bytes) -> None:
    frame = struct.pack("!I", len(data) + 4) + data  # a frame of the right length, any content
    with contextlib.suppress(ProtocolError):
        decode(frame)


@settings(max_examples=500)
@given(pdus, st.data())
def test_fuzz_mutated_pdus(pdu: Pdu, data: st.DataObject) -> None:
    wire = bytearray(encode(pdu))
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(4, len(wire) - 1))  # keep the length, break the rest
        wire[index] = data.draw(octet)
    cut = data.draw(st.integers(16, len(wire)))
    frame = struct.pack("!I", cut) + bytes(wire[4:cut])
    with contextlib.suppress(ProtocolError):
        decode(frame)


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=64), max_size=10))
def test_fuzz_framer(chunks: list[bytes]) -> None:
    framer = Framer(max_length=1000)
    fatal: ProtocolError | None = None
    try:
        for chunk in chunks:
            for frame in framer.feed(chunk):
                assert 16 <= len(frame) <= 1000
                with contextlib.suppress(ProtocolError):
                    decode(frame)
    except ProtocolError as error:
        fatal = error
    assert fatal is None or fatal.fatal
    assert framer.buffered < 1000
