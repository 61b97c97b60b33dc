"""A table-driven SMPP 3.4 PDU codec, sans-I/O: frames in, typed PDUs out, and back.

Every PDU is a 16-octet header, a body of mandatory fields, then optional TLVs (§3.2, §5.3)::

    command_length(4) | command_id(4) | command_status(4) | sequence_number(4) | fields... | TLVs...
                                                                          TLV: tag(2) length(2) value

Each body shape is a row of field specs (``_BIND``, ``_SM``, ...): a C-octet string with its
maximum size *including* the NUL (§3.1), an unsigned octet, or ``sm_length`` + ``short_message``.
The same table drives encoding and decoding, so the two cannot disagree.

Two kinds of error, as in h11: the peer's bytes are malformed → ``ProtocolError`` (and nothing
else: decoding is fuzzed), carrying the ``command_status`` a ``generic_nack`` should answer with
and whether the stream can still be read (a broken length cannot be resynchronised); a caller
builds a PDU SMPP cannot carry (a field too long, a value out of range) → ``ValueError``.

    bytes ─► Framer.feed() ─► frames ─► decode() ─► Bind | SubmitSm | DeliverSm | ... ─► encode() ─► bytes
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import ClassVar

from telex.telephony.smpp.constants import RESPONSE_BIT, CommandId, CommandStatus, Tag

__all__ = [
    "HEADER",
    "MAX_PDU_LENGTH",
    "Bind",
    "BindKind",
    "BindResp",
    "DeliverSm",
    "DeliverSmResp",
    "EnquireLink",
    "EnquireLinkResp",
    "Framer",
    "GenericNack",
    "Pdu",
    "ProtocolError",
    "SubmitSm",
    "SubmitSmResp",
    "Tlv",
    "Unbind",
    "UnbindResp",
    "decode",
    "encode",
    "with_sequence",
]

HEADER = struct.Struct("!IIII")
# message_payload may hold 64 KiB (§5.3.2.32); with the mandatory fields a real PDU stays below
# this, and anything longer is a peer we will not buffer for.
MAX_PDU_LENGTH = 70_000
_TLV_HEADER = struct.Struct("!HH")
_MAX_SEQUENCE = 0xFFFFFFFF


class ProtocolError(Exception):
    """The peer sent bytes that are not SMPP 3.4.

    ``status`` is what a ``generic_nack`` answers with; ``sequence`` is the offending PDU's, when
    the header was readable; ``fatal`` means the byte stream cannot be trusted any more (a broken
    ``command_length``) and the connection must close.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = CommandStatus.ESME_RSYSERR,
        sequence: int | None = None,
        command_id: int | None = None,
        fatal: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.sequence = sequence
        self.command_id = command_id
        self.fatal = fatal


# -- field specs -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _CStr:
    size: int  # maximum octets including the terminating NUL


@dataclass(frozen=True, slots=True)
class _U8:
    pass


@dataclass(frozen=True, slots=True)
class _ShortMessage:
    pass


_Spec = _CStr | _U8 | _ShortMessage
_BYTE = _U8()

_BIND: tuple[tuple[str, _Spec], ...] = (
    ("system_id", _CStr(16)),
    ("password", _CStr(9)),
    ("system_type", _CStr(13)),
    ("interface_version", _BYTE),
    ("addr_ton", _BYTE),
    ("addr_npi", _BYTE),
    ("address_range", _CStr(41)),
)
_SM: tuple[tuple[str, _Spec], ...] = (
    ("service_type", _CStr(6)),
    ("source_addr_ton", _BYTE),
    ("source_addr_npi", _BYTE),
    ("source_addr", _CStr(21)),
    ("dest_addr_ton", _BYTE),
    ("dest_addr_npi", _BYTE),
    ("destination_addr", _CStr(21)),
    ("esm_class", _BYTE),
    ("protocol_id", _BYTE),
    ("priority_flag", _BYTE),
    ("schedule_delivery_time", _CStr(17)),
    ("validity_period", _CStr(17)),
    ("registered_delivery", _BYTE),
    ("replace_if_present_flag", _BYTE),
    ("data_coding", _BYTE),
    ("sm_default_msg_id", _BYTE),
    ("short_message", _ShortMessage()),
)
_SYSTEM_ID = (("system_id", _CStr(16)),)
_MESSAGE_ID = (("message_id", _CStr(65)),)
_EMPTY: tuple[tuple[str, _Spec], ...] = ()

# TLVs whose value has a fixed size (§5.3.2); a peer sending another size broke the protocol.
_TLV_SIZES: dict[int, int] = {
    Tag.SAR_MSG_REF_NUM: 2,
    Tag.SAR_TOTAL_SEGMENTS: 1,
    Tag.SAR_SEGMENT_SEQNUM: 1,
    Tag.SC_INTERFACE_VERSION: 1,
    Tag.MESSAGE_STATE: 1,
    Tag.NETWORK_ERROR_CODE: 3,
    Tag.USER_MESSAGE_REFERENCE: 2,
    Tag.SOURCE_PORT: 2,
    Tag.DESTINATION_PORT: 2,
}
_MAX_SHORT_MESSAGE = 254  # §5.2.21: short_message is 0..254 octets


@dataclass(frozen=True, slots=True)
class Tlv:
    """One optional parameter, kept as raw bytes; the helpers build and read the common ones."""

    tag: int
    value: bytes

    @classmethod
    def uint(cls, tag: int, value: int, size: int) -> Tlv:
        return cls(tag, value.to_bytes(size, "big"))

    @classmethod
    def cstring(cls, tag: int, value: str) -> Tlv:
        return cls(tag, value.encode("ascii") + b"\0")

    def as_uint(self) -> int:
        return int.from_bytes(self.value, "big")

    def as_cstring(self) -> str:
        """The value without its NUL; some SMSCs leave the NUL out, which is accepted."""
        return self.value.split(b"\0", 1)[0].decode("latin-1")


# -- PDUs ------------------------------------------------------------------------------------------


class BindKind(Enum):
    """The three binds (§4.1): which way messages may flow on the session."""

    TRANSMITTER = (CommandId.BIND_TRANSMITTER, CommandId.BIND_TRANSMITTER_RESP)
    RECEIVER = (CommandId.BIND_RECEIVER, CommandId.BIND_RECEIVER_RESP)
    TRANSCEIVER = (CommandId.BIND_TRANSCEIVER, CommandId.BIND_TRANSCEIVER_RESP)

    def __init__(self, request: CommandId, response: CommandId) -> None:
        self.request = request
        self.response = response


@dataclass(frozen=True, slots=True, kw_only=True)
class _Pdu:
    LAYOUT: ClassVar[tuple[tuple[str, _Spec], ...]] = _EMPTY
    TLVS: ClassVar[bool] = False  # whether optional parameters may follow the body
    COMMAND: ClassVar[CommandId]

    sequence: int
    # Always 0 on a request (§3.2: "NULL"); a request that arrives with another value keeps it.
    status: int = 0

    @property
    def command_id(self) -> int:
        return self.COMMAND

    @property
    def is_response(self) -> bool:
        return bool(self.command_id & RESPONSE_BIT)


@dataclass(frozen=True, slots=True, kw_only=True)
class Bind(_Pdu):
    COMMAND = CommandId.BIND_TRANSCEIVER  # the default kind's; ``command_id`` follows ``kind``
    LAYOUT = _BIND
    kind: BindKind = BindKind.TRANSCEIVER
    system_id: str
    password: str = ""
    system_type: str = ""
    interface_version: int = 0x34
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""

    @property
    def command_id(self) -> int:
        return self.kind.request


@dataclass(frozen=True, slots=True, kw_only=True)
class BindResp(_Pdu):
    COMMAND = CommandId.BIND_TRANSCEIVER_RESP  # the default kind's; ``command_id`` follows ``kind``
    LAYOUT = _SYSTEM_ID
    TLVS = True
    kind: BindKind = BindKind.TRANSCEIVER
    system_id: str = ""
    tlvs: tuple[Tlv, ...] = ()

    @property
    def command_id(self) -> int:
        return self.kind.response


@dataclass(frozen=True, slots=True, kw_only=True)
class _Sm(_Pdu):
    """submit_sm and deliver_sm share one layout (§4.4.1, §4.6.1)."""

    LAYOUT = _SM
    TLVS = True
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""
    tlvs: tuple[Tlv, ...] = ()

    def tlv(self, tag: int) -> Tlv | None:
        """The first optional parameter with this tag."""
        return next((tlv for tlv in self.tlvs if tlv.tag == tag), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitSm(_Sm):
    COMMAND = CommandId.SUBMIT_SM


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverSm(_Sm):
    COMMAND = CommandId.DELIVER_SM


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitSmResp(_Pdu):
    COMMAND = CommandId.SUBMIT_SM_RESP
    LAYOUT = _MESSAGE_ID
    TLVS = True  # SMPP 5.0 SMSCs add some; a 3.4 reader skips them
    message_id: str = ""
    tlvs: tuple[Tlv, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverSmResp(_Pdu):
    COMMAND = CommandId.DELIVER_SM_RESP
    LAYOUT = _MESSAGE_ID  # §4.6.2: unused, set to NULL
    TLVS = True
    message_id: str = ""
    tlvs: tuple[Tlv, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Unbind(_Pdu):
    COMMAND = CommandId.UNBIND


@dataclass(frozen=True, slots=True, kw_only=True)
class UnbindResp(_Pdu):
    COMMAND = CommandId.UNBIND_RESP


@dataclass(frozen=True, slots=True, kw_only=True)
class EnquireLink(_Pdu):
    COMMAND = CommandId.ENQUIRE_LINK


@dataclass(frozen=True, slots=True, kw_only=True)
class EnquireLinkResp(_Pdu):
    COMMAND = CommandId.ENQUIRE_LINK_RESP


@dataclass(frozen=True, slots=True, kw_only=True)
class GenericNack(_Pdu):
    COMMAND = CommandId.GENERIC_NACK


Pdu = (
    Bind
    | BindResp
    | SubmitSm
    | SubmitSmResp
    | DeliverSm
    | DeliverSmResp
    | Unbind
    | UnbindResp
    | EnquireLink
    | EnquireLinkResp
    | GenericNack
)

# command_id → (class, fixed constructor arguments)
_BY_ID: dict[int, tuple[type[_Pdu], dict[str, object]]] = {
    **{kind.request: (Bind, {"kind": kind}) for kind in BindKind},
    **{kind.response: (BindResp, {"kind": kind}) for kind in BindKind},
    **{cls.COMMAND: (cls, {}) for cls in (SubmitSm, SubmitSmResp, DeliverSm, DeliverSmResp)},
    **{cls.COMMAND: (cls, {}) for cls in (Unbind, UnbindResp, EnquireLink, EnquireLinkResp, GenericNack)},
}


# -- encoding --------------------------------------------------------------------------------------


def encode(pdu: Pdu) -> bytes:
    """The PDU's bytes. Raises ``ValueError`` for a field SMPP cannot carry."""
    if not 0 <= pdu.sequence <= _MAX_SEQUENCE:
        raise ValueError("sequence_number is a 32-bit unsigned integer")
    if not 0 <= pdu.status <= _MAX_SEQUENCE:
        raise ValueError("command_status is a 32-bit unsigned integer")
    body = bytearray()
    for name, spec in pdu.LAYOUT:
        value = getattr(pdu, name)
        if isinstance(spec, _CStr):
            raw = value.encode("ascii") if value.isascii() else None
            if raw is None or b"\0" in raw:
                raise ValueError(f"{name} must be ASCII without NUL")
            if len(raw) + 1 > spec.size:
                raise ValueError(f"{name} is longer than {spec.size - 1} octets")
            body += raw + b"\0"
        elif isinstance(spec, _U8):
            if not 0 <= value <= 0xFF:
                raise ValueError(f"{name} is one octet")
            body.append(value)
        else:
            if len(value) > _MAX_SHORT_MESSAGE:
                raise ValueError("short_message is at most 254 octets; use message_payload")
            body.append(len(value))
            body += value
    for tlv in getattr(pdu, "tlvs", ()):
        if not 0 <= tlv.tag <= 0xFFFF or len(tlv.value) > 0xFFFF:
            raise ValueError("a TLV has a 16-bit tag and at most 65535 octets")
        body += _TLV_HEADER.pack(tlv.tag, len(tlv.value)) + tlv.value
    length = HEADER.size + len(body)
    if length > MAX_PDU_LENGTH:
        raise ValueError(f"a PDU of {length} octets is more than a peer will read")
    return HEADER.pack(length, pdu.command_id, pdu.status, pdu.sequence) + body


def with_sequence(wire: bytes, sequence: int) -> bytes:
    """An encoded PDU with another ``sequence_number``: a part resent after a timeout or a
    reconnect is encoded once, at submit, and only renumbered here."""
    if not 0 <= sequence <= _MAX_SEQUENCE:
        raise ValueError("sequence_number is a 32-bit unsigned integer")
    return wire[:12] + sequence.to_bytes(4, "big") + wire[16:]


# -- decoding --------------------------------------------------------------------------------------


def read_length(prefix: bytes, max_length: int = MAX_PDU_LENGTH) -> int:
    """The ``command_length`` of a PDU from its first four octets, checked against the bounds."""
    (length,) = struct.unpack("!I", prefix[:4])
    if length < HEADER.size or length > max_length:
        raise ProtocolError(
            f"command_length {length} out of bounds", status=CommandStatus.ESME_RINVCMDLEN, fatal=True
        )
    return int(length)


def decode(frame: bytes) -> Pdu:
    """One whole PDU (``command_length`` octets) to its typed form; raises only ``ProtocolError``."""
    if len(frame) < HEADER.size:
        raise ProtocolError("shorter than a PDU header", status=CommandStatus.ESME_RINVCMDLEN, fatal=True)
    length, command_id, status, sequence = HEADER.unpack_from(frame)
    if length != len(frame):
        raise ProtocolError(
            "command_length does not match the frame", status=CommandStatus.ESME_RINVCMDLEN, fatal=True
        )
    entry = _BY_ID.get(command_id)
    if entry is None:
        raise ProtocolError(
            f"unknown command_id 0x{command_id:08X}",
            status=CommandStatus.ESME_RINVCMDID,
            sequence=sequence,
            command_id=command_id,
        )
    cls, fixed = entry
    reader = _Reader(frame, HEADER.size, sequence, command_id)
    values: dict[str, object] = dict(fixed)
    # A failed response may carry no body at all (§4.4.2: "message_id ... not returned if the
    # command_status is non-zero"); many SMSCs also drop it on success paths that need none.
    lenient = bool(command_id & RESPONSE_BIT) and reader.at_end()
    if not lenient:
        for name, spec in cls.LAYOUT:
            values[name] = reader.field(name, spec)
    if cls.TLVS:
        values["tlvs"] = tuple(reader.tlvs())
    elif not reader.at_end():
        raise reader.error("octets after the last field", CommandStatus.ESME_RINVCMDLEN)
    pdu = cls(sequence=sequence, status=status, **values)
    return pdu  # type: ignore[return-value]  # every class in _BY_ID is a member of Pdu


class _Reader:
    def __init__(self, frame: bytes, offset: int, sequence: int, command_id: int) -> None:
        self.frame = frame
        self.offset = offset
        self.sequence = sequence
        self.command_id = command_id

    def error(self, message: str, status: int) -> ProtocolError:
        return ProtocolError(message, status=status, sequence=self.sequence, command_id=self.command_id)

    def at_end(self) -> bool:
        return self.offset >= len(self.frame)

    def field(self, name: str, spec: _Spec) -> object:
        frame, offset = self.frame, self.offset
        if isinstance(spec, _CStr):
            end = frame.find(b"\0", offset, offset + spec.size)
            if end < 0:
                raise self.error(f"{name} is not a C-octet string of at most {spec.size} octets",
                                 CommandStatus.ESME_RINVCMDLEN)  # fmt: skip
            self.offset = end + 1
            # §3.1 says ASCII; Latin-1 reads any octet, so a sloppy SMSC's id is kept, not refused.
            return frame[offset:end].decode("latin-1")
        if isinstance(spec, _U8):
            if offset >= len(frame):
                raise self.error(f"{name} missing", CommandStatus.ESME_RINVCMDLEN)
            self.offset = offset + 1
            return frame[offset]
        if offset >= len(frame):
            raise self.error("sm_length missing", CommandStatus.ESME_RINVCMDLEN)
        sm_length = frame[offset]
        end = offset + 1 + sm_length
        if end > len(frame):
            raise self.error("short_message runs past the PDU", CommandStatus.ESME_RINVMSGLEN)
        self.offset = end
        return frame[offset + 1 : end]

    def tlvs(self) -> Iterator[Tlv]:
        frame = self.frame
        while self.offset < len(frame):
            if self.offset + _TLV_HEADER.size > len(frame):
                raise self.error("truncated TLV header", CommandStatus.ESME_RINVOPTPARSTREAM)
            tag, length = _TLV_HEADER.unpack_from(frame, self.offset)
            start = self.offset + _TLV_HEADER.size
            if start + length > len(frame):
                raise self.error(f"TLV 0x{tag:04X} runs past the PDU", CommandStatus.ESME_RINVOPTPARSTREAM)
            size = _TLV_SIZES.get(tag)
            if size is not None and size != length:
                raise self.error(f"TLV 0x{tag:04X} must be {size} octets", CommandStatus.ESME_RINVPARLEN)
            self.offset = start + length
            yield Tlv(tag, frame[start : start + length])


# -- framing ---------------------------------------------------------------------------------------


class Framer:
    """Cuts a byte stream into whole PDU frames by ``command_length``, refusing absurd lengths.

    ``feed`` returns the frames completed so far; a ``command_length`` below 16 or above
    ``max_length`` raises a fatal ``ProtocolError`` (the stream cannot be resynchronised), so a
    peer can never make us buffer more than ``max_length`` octets for one PDU.
    """

    def __init__(self, max_length: int = MAX_PDU_LENGTH) -> None:
        self._buffer = bytearray()
        self._max_length = max_length

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        frames: list[bytes] = []
        buffer = self._buffer
        start = 0
        while len(buffer) - start >= 4:
            length = read_length(bytes(buffer[start : start + 4]), self._max_length)
            if len(buffer) - start < length:
                break
            frames.append(bytes(buffer[start : start + length]))
            start += length
        del buffer[:start]
        return frames

    @property
    def buffered(self) -> int:
        return len(self._buffer)
