"""Phone numbers and SMS: segmentation, E.164 numbers and an SMPP 3.4 carrier connection.

Sans-I/O cores: ``segments`` (GSM-7/UCS-2 encoding and concatenation), ``smpp.pdu`` (the codec),
``smpp.session`` (the ESME state machine); ``smpp.client`` is the asyncio shell that drains a
durable queue through an SMSC. See docs/sms.md.
"""

__all__: list[str] = []
