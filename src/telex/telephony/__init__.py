"""Phone numbers and SMS: what the SMS and phone-number services build on.

- ``segments``: GSM-7 / UCS-2 encoding, segment counting and splitting (sans-I/O).
- ``numbers``: strict E.164 validation and description (country, type, area code).
- ``reassembly``: joining the parts of a concatenated inbound SMS (sans-I/O).
- ``smpp``: an SMPP 3.4 carrier connection: codec and ESME session (sans-I/O) and an asyncio
  client that drains a durable queue through an SMSC.

See docs/sms.md.
"""

from telex.telephony.numbers import (
    E164,
    AcsNumberType,
    NumberInfo,
    NumberKind,
    describe,
    format_number,
    is_e164,
    normalise,
    parse_e164,
)
from telex.telephony.reassembly import Assembled, Reassembler
from telex.telephony.segments import Concat, Encoding, Segments, segment, segment_count

__all__ = [
    "E164",
    "AcsNumberType",
    "Assembled",
    "Concat",
    "Encoding",
    "NumberInfo",
    "NumberKind",
    "Reassembler",
    "Segments",
    "describe",
    "format_number",
    "is_e164",
    "normalise",
    "parse_e164",
    "segment",
    "segment_count",
]
