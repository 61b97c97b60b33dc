"""Carriers: where SMS (and later voice) leave and enter Telex, one carrier per number range.

- ``simulated`` (the default): fictional numbers; SMS between numbers owned here are delivered
  to each other, others wait for the handset API; delivery delay, failure rate and receipts are
  configurable.
- ``smpp``: an SMSC over SMPP 3.4 (``telex.telephony.smpp``), draining the SMS outbox.

``Telephony`` wires them with the phone-number and SMS services for one node. What other
capabilities and the composition root may use is exported here; the routes (``numbers.api``,
``sms.api``, ``carriers.handsets_api``) import the web layer and are wired by the composition root.
"""

from telex.carriers.handsets import Handsets
from telex.carriers.node import Telephony
from telex.carriers.routing import CarrierRouter, expand_numbers
from telex.carriers.settings import CarriersSettings, ReceiptRule, SimulatedSettings, SmppCarrierSettings
from telex.carriers.simulated import SIMULATED, SimulatedCarrier
from telex.carriers.smpp import SmppCarrier, SqlSmsQueue

__all__ = [
    "SIMULATED",
    "CarrierRouter",
    "CarriersSettings",
    "Handsets",
    "ReceiptRule",
    "SimulatedCarrier",
    "SimulatedSettings",
    "SmppCarrier",
    "SmppCarrierSettings",
    "SqlSmsQueue",
    "Telephony",
    "expand_numbers",
]
