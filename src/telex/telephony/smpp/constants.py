"""SMPP 3.4 numbers: command ids (§5.1.2.1), command status codes (§5.1.3), optional parameter tags
(§5.3.2) and message states (§5.2.28). Plain tables, no behaviour."""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "PERMANENT_BIND_FAILURES",
    "RESPONSE_BIT",
    "THROTTLING",
    "TRANSIENT",
    "CommandId",
    "CommandStatus",
    "EsmClass",
    "MessageState",
    "Tag",
    "status_name",
]

RESPONSE_BIT = 0x80000000


class CommandId(IntEnum):
    GENERIC_NACK = 0x80000000
    BIND_RECEIVER = 0x00000001
    BIND_RECEIVER_RESP = 0x80000001
    BIND_TRANSMITTER = 0x00000002
    BIND_TRANSMITTER_RESP = 0x80000002
    SUBMIT_SM = 0x00000004
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM = 0x00000005
    DELIVER_SM_RESP = 0x80000005
    UNBIND = 0x00000006
    UNBIND_RESP = 0x80000006
    BIND_TRANSCEIVER = 0x00000009
    BIND_TRANSCEIVER_RESP = 0x80000009
    ENQUIRE_LINK = 0x00000015
    ENQUIRE_LINK_RESP = 0x80000015


class CommandStatus(IntEnum):
    ESME_ROK = 0x00
    ESME_RINVMSGLEN = 0x01
    ESME_RINVCMDLEN = 0x02
    ESME_RINVCMDID = 0x03
    ESME_RINVBNDSTS = 0x04
    ESME_RALYBND = 0x05
    ESME_RINVPRTFLG = 0x06
    ESME_RINVREGDLVFLG = 0x07
    ESME_RSYSERR = 0x08
    ESME_RINVSRCADR = 0x0A
    ESME_RINVDSTADR = 0x0B
    ESME_RINVMSGID = 0x0C
    ESME_RBINDFAIL = 0x0D
    ESME_RINVPASWD = 0x0E
    ESME_RINVSYSID = 0x0F
    ESME_RCANCELFAIL = 0x11
    ESME_RREPLACEFAIL = 0x13
    ESME_RMSGQFUL = 0x14
    ESME_RINVSERTYP = 0x15
    ESME_RINVESMCLASS = 0x43
    ESME_RSUBMITFAIL = 0x45
    ESME_RINVSRCTON = 0x48
    ESME_RINVSRCNPI = 0x49
    ESME_RINVDSTTON = 0x50
    ESME_RINVDSTNPI = 0x51
    ESME_RINVSYSTYP = 0x53
    ESME_RTHROTTLED = 0x58
    ESME_RINVSCHED = 0x61
    ESME_RINVEXPIRY = 0x62
    ESME_RX_T_APPN = 0x64
    ESME_RX_P_APPN = 0x65
    ESME_RX_R_APPN = 0x66
    ESME_RINVOPTPARSTREAM = 0xC0
    ESME_ROPTPARNOTALLWD = 0xC1
    ESME_RINVPARLEN = 0xC2
    ESME_RMISSINGOPTPARAM = 0xC3
    ESME_RINVOPTPARAMVAL = 0xC4
    ESME_RDELIVERYFAILURE = 0xFE
    ESME_RUNKNOWNERR = 0xFF


# The SMSC asks us to slow down; the PDU itself was fine and is sent again later.
THROTTLING = frozenset({CommandStatus.ESME_RTHROTTLED, CommandStatus.ESME_RMSGQFUL})
# Failures that may pass: a system error, a temporary application error, "not bound" (the SMSC
# lost our bind; the session rebinds), a delivery failure the SMSC itself may retry.
TRANSIENT = frozenset(
    {
        CommandStatus.ESME_RSYSERR,
        CommandStatus.ESME_RX_T_APPN,
        CommandStatus.ESME_RINVBNDSTS,
        CommandStatus.ESME_RDELIVERYFAILURE,
        CommandStatus.ESME_RUNKNOWNERR,
    }
)
# A bind refused for these will be refused again until someone changes the configuration.
PERMANENT_BIND_FAILURES = frozenset(
    {CommandStatus.ESME_RINVPASWD, CommandStatus.ESME_RINVSYSID, CommandStatus.ESME_RINVSYSTYP}
)


def status_name(status: int) -> str:
    """``ESME_RTHROTTLED (0x58)``, or the hex value for a vendor-specific code."""
    try:
        return f"{CommandStatus(status).name} (0x{status:02X})"
    except ValueError:
        return f"0x{status:08X}"


class Tag(IntEnum):
    """Optional parameter (TLV) tags this codec knows by name; others pass through as raw bytes."""

    RECEIPTED_MESSAGE_ID = 0x001E
    USER_MESSAGE_REFERENCE = 0x0204
    SOURCE_PORT = 0x020A
    DESTINATION_PORT = 0x020B
    SAR_MSG_REF_NUM = 0x020C
    SAR_TOTAL_SEGMENTS = 0x020E
    SAR_SEGMENT_SEQNUM = 0x020F
    SC_INTERFACE_VERSION = 0x0210
    NETWORK_ERROR_CODE = 0x0423
    MESSAGE_PAYLOAD = 0x0424
    MESSAGE_STATE = 0x0427


class MessageState(IntEnum):
    """``message_state`` (§5.2.28); receipts carry it as a TLV or as the ``stat:`` word."""

    ENROUTE = 1
    DELIVERED = 2
    EXPIRED = 3
    DELETED = 4
    UNDELIVERABLE = 5
    ACCEPTED = 6
    UNKNOWN = 7
    REJECTED = 8

    @property
    def final(self) -> bool:
        return self not in (MessageState.ENROUTE, MessageState.ACCEPTED)


class EsmClass(IntEnum):
    """``esm_class`` bits (§5.2.12) this code reads or sets."""

    TYPE_MASK = 0x3C  # bits 2-5: the message type
    DELIVERY_RECEIPT = 0x04  # SMSC delivery receipt
    INTERMEDIATE_NOTIFICATION = 0x20
    UDHI = 0x40  # short_message starts with a user data header
